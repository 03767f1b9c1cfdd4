"""Heat strain takes a CORE's measured core temperature over the estimate from heart rate."""

from __future__ import annotations

from gateway.alerts.engine import AlertEngine
from gateway.alerts.model import Alert, AlertKind
from gateway.alerts.rules import AlertSettings, OfficerMonitor, officer_profile
from gateway.domain import NS_PER_S, DeviceRef, Point, UnitRef
from gateway.normalize import points_for
from sensors import CoreBodyTemperature, CoreDataQuality, DeviceModel, HeartRateMeasurement

UNIT = UnitRef("pd", "car-1")
STRAP = DeviceRef(UNIT, "o1", "o1-hrs", DeviceModel.GENERIC_HRS)
CORE = DeviceRef(UNIT, "o1", "o1-core", DeviceModel.CORE)
# One-second "minutes" so a few seconds exercise the per-minute filter, as the demo does.
SETTINGS = AlertSettings(physiology_step_s=1.0)


def run(
    core_c: float | None, quality: CoreDataQuality = CoreDataQuality.GOOD
) -> tuple[list[Point], list[Alert]]:
    now = [0]
    points: list[Point] = []
    alerts: list[Alert] = []
    engine = AlertEngine(
        UNIT, "h", clock_ns=lambda: now[0], emit=points.append, listeners=[alerts.append]
    )
    monitor = OfficerMonitor(
        officer_profile("o1", 60, 35, None),
        SETTINGS,
        engine,
        points.extend,
        UNIT.officer_tags("o1"),
    )
    for second in range(1, 8):
        now[0] = second * NS_PER_S
        if core_c is not None:
            core = CoreBodyTemperature(core_temperature_c=core_c, quality=quality)
            monitor.on_reading(CORE, core, now[0])
        monitor.on_reading(STRAP, HeartRateMeasurement(heart_rate_bpm=170), now[0])
    return points, alerts


def physiology(points: list[Point]) -> list[Point]:
    return [p for p in points if p.measurement == "physiology"]


def test_a_measured_core_temperature_drives_the_strain_index() -> None:
    points, alerts = run(39.4)
    rows = physiology(points)
    assert rows
    assert all(row.fields["psi_core"] == "measured" for row in rows)
    heat = [a for a in alerts if a.kind is AlertKind.HEAT_STRAIN]
    assert heat
    assert "measured core 39.40 C" in heat[0].reason
    # The estimate is still computed and stored apart, under its own name.
    estimated, _ = run(None)
    assert [r.fields["core_temp_c"] for r in rows] == [
        r.fields["core_temp_c"] for r in physiology(estimated)
    ]


def test_without_a_core_or_with_a_poor_reading_the_estimate_is_used() -> None:
    for points, _ in (run(None), run(39.4, CoreDataQuality.POOR)):
        rows = physiology(points)
        assert rows
        assert all(row.fields["psi_core"] == "estimate" for row in rows)


def test_a_core_reading_becomes_a_core_temperature_row() -> None:
    reading = CoreBodyTemperature(
        core_temperature_c=37.85, skin_temperature_c=34.2, quality=CoreDataQuality.GOOD
    )
    (point,) = points_for(reading, CORE, 5)
    assert point.measurement == "core_temperature"
    assert point.fields == {
        "measured_c": 37.85,
        "skin_c": 34.2,
        "quality": "good",
        "source": "core_body_temperature",
    }
    assert point.tags["model"] == "core"
