"""The Polar H10 and Verity Sense as models: recognition, start specs, roster settings, coverage."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gateway.alerts.coverage import detectable, gaps
from gateway.alerts.model import AlertKind
from gateway.cli import run
from gateway.commands.scan import describe
from gateway.config import ConfigError, load_config
from gateway.domain import DeviceRef, UnitRef
from sensors import (
    GENERIC_HRS,
    POLAR_COMPANY_ID,
    POLAR_H10,
    POLAR_VERITY_SENSE,
    DeviceModel,
    Placement,
    profile_for_advertisement,
    profile_for_services,
)
from sensors.pmd import MeasurementType, SettingType

UNIT = UnitRef("pd", "car-1")
HRS = "0000180d-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    ("name", "companies", "expected"),
    [
        ("Polar H10 8C4A1B2D", [POLAR_COMPANY_ID], POLAR_H10),
        ("Polar Sense B5A2C3D4", [POLAR_COMPANY_ID], POLAR_VERITY_SENSE),
        # Without Polar's company id, or under another name, it is a plain HRS strap.
        ("Polar H10 8C4A1B2D", [], GENERIC_HRS),
        ("Polar H9 8C4A1B2D", [POLAR_COMPANY_ID], GENERIC_HRS),
        ("Polar H108C4A1B2D", [POLAR_COMPANY_ID], GENERIC_HRS),
        (None, [POLAR_COMPANY_ID], GENERIC_HRS),
    ],
)
def test_polar_models_are_recognised_by_company_and_name(
    name: str | None, companies: list[int], expected: object
) -> None:
    assert profile_for_advertisement([HRS], name, companies) is expected


def test_services_alone_never_name_a_polar_model() -> None:
    # A generic strap advertising 0x180D is still recognised as one.
    assert profile_for_services([HRS]) is GENERIC_HRS


def test_the_start_specs_are_the_documented_requests() -> None:
    h10_acc, h10_ecg = POLAR_H10.pmd_streams
    # 2021 spec p.9-10: `02 02 | 02 01 08 00 | 00 01 C8 00 | 01 01 10 00` at 200 Hz; the
    # gateway's default is 50 Hz at +-8 g.
    assert h10_acc.selection(POLAR_H10.accelerometer) == {
        SettingType.SAMPLE_RATE: 50,
        SettingType.RANGE: 8,
        SettingType.RESOLUTION: 16,
    }
    assert h10_ecg.measurement is MeasurementType.ECG
    assert not h10_ecg.default_on
    assert h10_ecg.selection(None) == {SettingType.SAMPLE_RATE: 130, SettingType.RESOLUTION: 14}
    verity_acc, verity_ppi = POLAR_VERITY_SENSE.pmd_streams
    assert verity_acc.selection(POLAR_VERITY_SENSE.accelerometer) == {
        SettingType.SAMPLE_RATE: 52,
        SettingType.RANGE: 8,
        SettingType.RESOLUTION: 16,
        SettingType.CHANNELS: 3,
    }
    assert verity_ppi.selection(None) == {}
    assert POLAR_H10.placement is Placement.TORSO
    assert POLAR_VERITY_SENSE.placement is Placement.ARM


def test_ecg_is_started_only_when_the_roster_asks() -> None:
    plain = DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10)
    with_ecg = DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10, ecg=True)
    assert [s.measurement for s in plain.pmd_streams] == [MeasurementType.ACC]
    assert [s.measurement for s in with_ecg.pmd_streams] == [
        MeasurementType.ACC,
        MeasurementType.ECG,
    ]


def test_an_h10_alone_detects_falls_and_a_verity_alone_does_not() -> None:
    h10 = [DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10)]
    verity = [DeviceRef(UNIT, "o1", "o1-verity", DeviceModel.POLAR_VERITY_SENSE)]
    assert {AlertKind.OFFICER_DOWN, AlertKind.FALL, AlertKind.TACHYCARDIA} <= detectable(h10)
    assert AlertKind.OFFICER_DOWN not in detectable(verity)
    assert AlertKind.TACHYCARDIA in detectable(verity)
    assert "no fall or man-down detection: no accelerometer worn on the trunk" in gaps(verity)


ROSTER = """
agency = "metro-pd"
unit = "car-12"
[[officers]]
id = "officer-01"
[[officers.devices]]
model = "polar-h10"
address = "A0:9E:1A:00:00:01"
{h10}
[[officers.devices]]
model = "polar-verity-sense"
name = "Polar Sense B5A2C3D4"
name_only = true
{verity}
"""


def load(tmp_path: Path, h10: str = "", verity: str = "") -> list[DeviceRef]:
    path = tmp_path / "gateway.toml"
    path.write_text(ROSTER.format(h10=h10, verity=verity))
    return load_config(path).device_refs()


def test_roster_entries_with_polar_models_load(tmp_path: Path) -> None:
    h10, verity = load(tmp_path, "acc_rate_hz = 100\nacc_range_g = 4\necg = true")
    assert (h10.device_id, verity.device_id) == ("officer-01-h10", "officer-01-verity")
    assert h10.accelerometer is not None
    assert (h10.accelerometer.rate_hz, h10.accelerometer.range_g, h10.ecg) == (100, 4.0, True)
    assert verity.accelerometer is not None
    assert verity.accelerometer.rate_hz == 52


@pytest.mark.parametrize(
    ("h10", "verity", "message"),
    [
        ("acc_rate_hz = 52", "", "acc_rate_hz = 52: a polar-h10 offers 25, 50, 100, 200"),
        ("acc_range_g = 16", "", "acc_range_g = 16: a polar-h10 offers 2, 4, 8"),
        ("", "acc_rate_hz = 200", "acc_rate_hz = 200: a polar-verity-sense offers 52"),
        ("", "ecg = true", "a polar-verity-sense has no ECG stream"),
    ],
)
def test_roster_settings_the_sensor_does_not_offer_are_refused(
    tmp_path: Path, h10: str, verity: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, h10, verity)


def test_check_config_knows_the_polar_models(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        ROSTER.format(h10="", verity="")
        + '\n[[officers]]\nid = "officer-02"\n[[officers.devices]]\n'
        'model = "polar-verity-sense"\naddress = "A0:9E:1A:00:00:02"\n'
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(["check-config", str(path)], io.StringIO(), out, err) == 0
    officers = {o["id"]: o for o in json.loads(out.getvalue())["officers"]}
    # An H10 on the chest gives man-down; a Verity alone on the arm does not.
    assert "officer_down" in officers["officer-01"]["detects"]
    assert "officer_down" in officers["officer-02"]["cannot_detect"]
    assert "tachycardia" in officers["officer-02"]["detects"]
    assert (
        "officer-02: no fall or man-down detection: no accelerometer worn on the trunk\n"
        in err.getvalue()
    )


def test_scan_names_the_polar_model_from_company_and_name() -> None:
    advertisement = AdvertisementData(
        local_name="Polar H10 8C4A1B2D",
        manufacturer_data={POLAR_COMPANY_ID: bytes.fromhex("33003c")},
        service_data={},
        service_uuids=[HRS],
        tx_power=None,
        rssi=-60,
        platform_data=(),
    )
    device = BLEDevice("A0:9E:1A:00:00:01", "Polar H10 8C4A1B2D", None)
    assert describe(device, advertisement, {"hci0": -60})["model"] == "polar-h10"
