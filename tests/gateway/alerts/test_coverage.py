"""Which alerts a kit can raise: every model alone, the full Bluewatch kit, and the messages."""

from __future__ import annotations

import pytest

from gateway.alerts.coverage import NEEDS, detectable, gaps, undetectable
from gateway.alerts.model import AlertKind
from gateway.domain import DeviceRef, UnitRef
from sensors import DeviceModel

UNIT = UnitRef("pd", "car-1")


def kit(*models: DeviceModel) -> list[DeviceRef]:
    return [DeviceRef(UNIT, "o1", f"o1-{n}", model) for n, model in enumerate(models)]


def test_every_alert_kind_has_a_need() -> None:
    assert set(NEEDS) == set(AlertKind)


def test_the_full_bluewatch_kit_detects_everything() -> None:
    full = kit(DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET)
    assert detectable(full) == frozenset(AlertKind)
    assert gaps(full) == []


def test_a_vest_alone_misses_only_what_the_helmet_brings() -> None:
    # The helmet's impacts, and its GNSS: distance from the vehicle needs a position.
    assert undetectable(kit(DeviceModel.BLUEWATCH_VEST)) == (
        AlertKind.HELMET_IMPACT,
        AlertKind.OFFICER_LEFT_VEHICLE,
    )


def test_a_strap_alone_gets_heart_rate_and_heat_but_no_fall_or_panic() -> None:
    strap = kit(DeviceModel.GENERIC_HRS)
    can = detectable(strap)
    assert {AlertKind.TACHYCARDIA, AlertKind.BRADYCARDIA, AlertKind.HEAT_STRAIN} <= can
    assert AlertKind.OFFICER_DOWN not in can
    assert AlertKind.PANIC not in can
    assert gaps(strap) == [
        "no fall or man-down detection: no accelerometer worn on the trunk",
        "no panic alarms: no panic button worn",
        "no weapon-drawn alerts: no holster sensor worn",
        "no head-impact alerts: no helmet worn",
        "no left-vehicle events: no GNSS worn",
    ]


def test_a_helmet_accelerometer_is_not_on_the_trunk() -> None:
    helmet = kit(DeviceModel.BLUEWATCH_HELMET)
    assert AlertKind.OFFICER_DOWN not in detectable(helmet)
    assert AlertKind.HELMET_IMPACT in detectable(helmet)


@pytest.mark.parametrize("kind", [AlertKind.DEVICE_LOST, AlertKind.OFFICER_DOWN])
def test_nothing_worn_detects_nothing(kind: AlertKind) -> None:
    assert kind in undetectable([])


def test_a_core_alone_measures_temperature_but_gives_no_strain_index() -> None:
    core = kit(DeviceModel.CORE)
    assert AlertKind.HEAT_STRAIN not in detectable(core)
    assert "no heat strain: no heart rate worn" in gaps(core)
    assert AlertKind.HEAT_STRAIN in detectable(kit(DeviceModel.CORE, DeviceModel.GENERIC_HRS))
