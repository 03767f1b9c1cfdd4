"""The rules against the simulated officers: officer down alarms at 30 +/- 1 s, a normal shift
raises no critical alert, panic and holster events alarm at once."""

from __future__ import annotations

import pytest

from firmware_mocks.scenario import load_scenario
from gateway.alerts.model import AlertKind, AlertState, Severity
from tests.gateway.alerts.scenario_driver import NS, drive


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_officer_down_alarms_30_seconds_after_the_fall(seed: int) -> None:
    run = drive(load_scenario("officer-down"), officers=1, seconds=400, seed=seed)
    down = [a for a in run.alerts if a.kind is AlertKind.OFFICER_DOWN]
    states = [a.state for a in down]
    assert states[:2] == [AlertState.PRE_ALERT, AlertState.ACTIVE]
    pre, active = down[0], down[1]
    fall_s = active.started_ns / NS
    assert 300 <= fall_s <= 302  # the scripted fall begins at 300 s
    assert (pre.changed_ns - active.started_ns) / NS == pytest.approx(20, abs=1)
    assert (active.changed_ns - active.started_ns) / NS == pytest.approx(30, abs=1)
    assert active.severity is Severity.CRITICAL
    assert active.latitude_deg is not None
    assert "fall" in active.reason


# Hours of simulated shift through the rules: CPU-bound, and slower beside other test files.
@pytest.mark.timeout(400)
def test_an_eight_hour_normal_shift_raises_no_critical_alert() -> None:
    run = drive(load_scenario("patrol-shift"), officers=3, seconds=8 * 3600, seed=5)
    critical = [a for a in run.alerts if a.severity is Severity.CRITICAL]
    assert critical == []
    assert not any(a.kind is AlertKind.OFFICER_DOWN for a in run.alerts)
    # The shift was really exercised: activity and physiology rows for every hour.
    physiology = [p for p in run.points if p.measurement == "physiology"]
    assert len(physiology) >= 3 * 7 * 60


def test_fall_mimics_do_not_alarm() -> None:
    run = drive(load_scenario("fall-mimics"), officers=2, seconds=1200, seed=3)
    assert not any(
        a.kind is AlertKind.OFFICER_DOWN and a.state is AlertState.ACTIVE for a in run.alerts
    )


def test_panic_press_is_critical_at_once_and_holster_draw_is_high() -> None:
    panic = drive(load_scenario("panic-press"), officers=1, seconds=700, seed=2)
    kinds = {(a.kind, a.severity, a.state) for a in panic.alerts}
    assert (AlertKind.PANIC, Severity.CRITICAL, AlertState.ACTIVE) in kinds
    holster = drive(load_scenario("holster-draw"), officers=1, seconds=700, seed=2)
    drawn = [a for a in holster.alerts if a.kind is AlertKind.WEAPON_DRAWN]
    assert drawn
    assert drawn[0].severity is Severity.HIGH
    assert drawn[0].latitude_deg is not None


# Hours of simulated shift through the rules: CPU-bound, and slower beside other test files.
@pytest.mark.timeout(400)
def test_heat_stress_raises_heat_strain() -> None:
    scenario = load_scenario("heat-stress")
    run = drive(scenario, officers=2, seconds=int(scenario.duration_s), seed=4)
    heat = [a for a in run.alerts if a.kind is AlertKind.HEAT_STRAIN]
    assert {a.officer_id for a in heat} == {"officer-01", "officer-02"}
    assert heat, [p.fields for p in run.points if p.measurement == "physiology"][-3:]
    assert heat[0].severity in (Severity.WARNING, Severity.HIGH)
    assert "PSI" in heat[0].reason
    # The estimate is written every minute for the dashboards.
    rows = [p for p in run.points if p.measurement == "physiology"]
    assert len(rows) >= 2 * (scenario.duration_s // 60 - 1)
    assert rows[-1].fields["core_temp_c"] > rows[0].fields["core_temp_c"]  # type: ignore[operator]
