"""Polar's heart rate in advertisements: real captures, the SDK's test bytes, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors import DecodeError, DecodeErrorKind
from sensors.characteristics.polar_advertisement import GpbRecord, PolarHrAdvertisement


@pytest.mark.parametrize(
    ("wire", "bpm"),
    [
        # A real Verity Sense (Navideck/universal_ble #69): two gpb records, then 37 00 55.
        ("72 08 0000000000000000 7a 01 05 37 00 55", 85),
        # A real OH1 (polar-ble-sdk iOS BleAdvertisementContent.swift comment).
        ("72 06 7f4437000000 33 00 3c", 60),
        # BlePolarHrAdvertisementTest.kt: four bytes, the slow average shown.
        ("3e fe 00 ff", 255),
        ("3e ff ff 00", 0),
        # Three bytes (H6/H7): the fast average stands for the slow one.
        ("3f ff 48", 72),
    ],
)
def test_captures_decode_to_the_heart_rate_the_sdk_shows(wire: str, bpm: int) -> None:
    assert PolarHrAdvertisement.decode(bytes.fromhex(wire)).heart_rate_bpm == bpm


def test_flag_bits_as_the_sdk_reads_them() -> None:
    # BlePolarHrAdvertisementTest.kt: 0xFE battery ok, 0xFF not; counter from bits 2-4 (0xE3
    # -> 0, 0xE7 -> 1); status flag bit 7. Bit 6 is clear in an HR record, so 0xBF/0xBE here.
    ok = PolarHrAdvertisement.decode(bytes.fromhex("be fe fe fe"))
    low = PolarHrAdvertisement.decode(bytes.fromhex("bf fe fe fe"))
    assert (ok.battery_low, low.battery_low) == (False, True)
    assert PolarHrAdvertisement.decode(bytes.fromhex("a3 fe fe fe")).frame_counter == 0
    assert PolarHrAdvertisement.decode(bytes.fromhex("a7 fe fe fe")).frame_counter == 1
    assert ok.status_flag
    assert ok.sensor_contact


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("72 08 0000", DecodeErrorKind.TOO_SHORT, 2),
        ("72 00", DecodeErrorKind.TOO_SHORT, 2),
        ("33 00", DecodeErrorKind.TOO_SHORT, 2),
        ("33 00 3c 3c 00", DecodeErrorKind.TRAILING_BYTES, 4),
    ],
)
def test_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        PolarHrAdvertisement.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


def test_from_manufacturer_data() -> None:
    assert PolarHrAdvertisement.from_manufacturer_data({0x0BF6: b"\x00\x04u\x8e"}) is None
    found = PolarHrAdvertisement.from_manufacturer_data({0x006B: bytes.fromhex("33003c")})
    assert found is not None
    assert found.heart_rate_bpm == 60


advertisements = st.builds(
    PolarHrAdvertisement,
    gpb_records=st.lists(
        st.builds(
            GpbRecord,
            header=st.integers(0x40, 0xFF).filter(lambda b: b & 0x40),
            payload=st.binary(max_size=12),
        ),
        max_size=3,
    ).map(tuple),
    battery_low=st.booleans(),
    sensor_contact=st.booleans(),
    frame_counter=st.integers(0, 7),
    broadcast=st.booleans(),
    status_flag=st.booleans(),
    khz_code=st.integers(0, 0xFF),
    fast_hr_bpm=st.integers(0, 0xFF),
    slow_hr_bpm=st.none() | st.integers(0, 0xFF),
)


@given(advertisements)
def test_round_trip(advertisement: PolarHrAdvertisement) -> None:
    wire = advertisement.encode()
    assert PolarHrAdvertisement.decode(wire) == advertisement
    assert PolarHrAdvertisement.decode(wire).encode() == wire
