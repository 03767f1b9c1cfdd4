"""The UUID table, UUID spellings, and the vest and helmet profiles."""

from __future__ import annotations

import pytest

from sensors import (
    CODECS,
    GENERIC_HRS,
    HELMET,
    OFFICER_SAFETY_SERVICE_UUID,
    PROFILES,
    VEST,
    Accelerometer,
    Capability,
    DecodeError,
    DecodeErrorKind,
    DeviceModel,
    HeartRateMeasurement,
    ImuBatch,
    LocationAndSpeed,
    Placement,
    TemperatureMeasurement,
    codec_for,
    normalize_uuid,
    profile_for_services,
)
from sensors.profiles import Property


@pytest.mark.parametrize(
    "spelling",
    ["2A37", "2a37", "0x2A37", "00002A37", "00002a37-0000-1000-8000-00805f9b34fb", " 2A37 "],
)
def test_uuid_spellings(spelling: str) -> None:
    assert normalize_uuid(spelling) == "00002a37-0000-1000-8000-00805f9b34fb"
    assert codec_for(spelling) is HeartRateMeasurement


def test_vendor_uuid_in_upper_case() -> None:
    assert codec_for(ImuBatch.UUID.upper()) is ImuBatch


@pytest.mark.parametrize("uuid", ["2A00", "zz", "", "1234-5678"])
def test_unknown_characteristic(uuid: str) -> None:
    with pytest.raises(DecodeError) as caught:
        codec_for(uuid)
    assert caught.value.kind is DecodeErrorKind.UNKNOWN_CHARACTERISTIC


def test_every_codec_has_a_distinct_uuid_and_name() -> None:
    assert len({codec.NAME for codec in CODECS.values()}) == len(CODECS)
    assert all(uuid == codec.UUID for uuid, codec in CODECS.items())


def test_profiles_use_only_known_codecs() -> None:
    for profile in PROFILES.values():
        for spec in profile.characteristics():
            assert CODECS[spec.uuid] is spec.codec


def test_vest_and_helmet_carry_what_the_design_says() -> None:
    vest = {spec.codec for spec in VEST.notified()}
    helmet = {spec.codec for spec in HELMET.notified()}
    assert HeartRateMeasurement in vest
    assert TemperatureMeasurement in vest
    assert LocationAndSpeed not in vest
    assert LocationAndSpeed in helmet
    assert HeartRateMeasurement not in helmet
    assert ImuBatch in vest & helmet
    assert OFFICER_SAFETY_SERVICE_UUID in VEST.advertised_services & HELMET.advertised_services


def test_every_characteristic_can_be_read_or_notified() -> None:
    for profile in PROFILES.values():
        for spec in profile.characteristics():
            assert spec.properties & {Property.READ, Property.NOTIFY}


@pytest.mark.parametrize(
    ("advertised", "model"),
    [
        ([OFFICER_SAFETY_SERVICE_UUID, "180D"], DeviceModel.BLUEWATCH_VEST),
        (
            [OFFICER_SAFETY_SERVICE_UUID.upper(), "0000180d-0000-1000-8000-00805f9b34fb", "180F"],
            DeviceModel.BLUEWATCH_VEST,
        ),
        ([OFFICER_SAFETY_SERVICE_UUID, "1819"], DeviceModel.BLUEWATCH_HELMET),
        (["180D"], DeviceModel.GENERIC_HRS),
        (["180D", "180F"], DeviceModel.GENERIC_HRS),
        ([OFFICER_SAFETY_SERVICE_UUID], None),
        ([OFFICER_SAFETY_SERVICE_UUID, "180D", "1819"], None),
    ],
)
def test_profile_for_advertised_services(advertised: list[str], model: DeviceModel | None) -> None:
    profile = profile_for_services(advertised)
    assert (profile.model if profile else None) == model


def test_models_are_rows_with_what_they_provide() -> None:
    assert set(PROFILES) == set(DeviceModel)
    assert len({p.short_name for p in PROFILES.values()}) == len(PROFILES)
    for profile in PROFILES.values():
        has_accelerometer = Capability.ACCELERATION in profile.capabilities
        assert has_accelerometer == (profile.accelerometer is not None), profile.model
        assert all(service.characteristics for service in profile.services)
    assert GENERIC_HRS.placement is Placement.TORSO
    assert Capability.ACCELERATION not in GENERIC_HRS.capabilities
    assert not GENERIC_HRS.services[1].required  # a strap's battery service is optional


def test_an_accelerometer_uses_a_rate_and_range_it_offers() -> None:
    with pytest.raises(ValueError, match="among those offered"):
        Accelerometer(rates_hz=(25, 50), ranges_g=(2.0,), rate_hz=100, range_g=2.0)
