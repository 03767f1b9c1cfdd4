"""Every alert rule fired by the simulated firmware: the "every-rule" scenario, one officer per
rule, through the rules without radio (tests/e2e/test_every_rule_e2e.py runs it over BLE)."""

from __future__ import annotations

from firmware_mocks.scenario import load_scenario
from gateway.alerts.model import AlertKind, AlertState, Severity
from gateway.alerts.rules import AlertSettings
from tests.gateway.alerts.scenario_driver import NS, drive

# Sustain times shortened for a one-minute check, as the e2e test's gateway configuration does.
SETTINGS = AlertSettings(
    heart_rate_sustain_s=10,
    contact_lost_after_s=10,
    bradycardia_bpm=45,
    tachycardia_fraction_of_max=0.8,
)
# officer index -> (kind, severity) its scripted condition must raise, and nothing critical else
EXPECTED = {
    "officer-01": (AlertKind.PANIC, Severity.CRITICAL),
    "officer-02": (AlertKind.WEAPON_DRAWN, Severity.HIGH),
    "officer-03": (AlertKind.HELMET_IMPACT, Severity.HIGH),
    "officer-04": (AlertKind.DEVICE_LOST, Severity.WARNING),
    "officer-05": (AlertKind.SENSOR_CONTACT_LOST, Severity.WARNING),
    "officer-06": (AlertKind.LOW_BATTERY, Severity.WARNING),
    "officer-07": (AlertKind.TACHYCARDIA, Severity.HIGH),
    "officer-08": (AlertKind.BRADYCARDIA, Severity.HIGH),
}


def test_each_scripted_condition_raises_its_rule_and_only_its_rule() -> None:
    run = drive(
        load_scenario("every-rule"),
        officers=8,
        seconds=90,
        settings=SETTINGS,
        max_hr_bpm={"officer-07": 120},
        lost_after_s=8,
    )
    # First rows only: unacknowledged high alerts escalate after 60 s, as they should.
    raised = {(a.officer_id, a.kind, a.severity) for a in run.alerts if a.sequence == 1}
    expected = {(officer, kind, severity) for officer, (kind, severity) in EXPECTED.items()}
    assert raised == expected
    first = {a.officer_id: a for a in reversed(run.alerts)}
    # Events alarm at once (scripted at 8 s); sustained conditions after their sustain time.
    for officer in ("officer-01", "officer-02", "officer-03"):
        assert first[officer].changed_ns / NS <= 9
    assert 7 + 8 <= first["officer-04"].changed_ns / NS <= 8 + 8 + 2  # 8 s after last heard
    assert 8 + 10 <= first["officer-05"].changed_ns / NS <= 8 + 10 + 2
    assert first["officer-06"].changed_ns / NS <= 61  # the first battery notification
    assert "at rest" in first["officer-07"].reason
    assert all(a.state is AlertState.ACTIVE for a in first.values())
    # The helmet's healthy battery does not clear the vest's low-battery alert.
    battery = [a for a in run.alerts if a.kind is AlertKind.LOW_BATTERY]
    assert [a.state for a in battery] == [AlertState.ACTIVE]


def test_a_device_coming_back_resolves_device_lost() -> None:
    run = drive(
        load_scenario("every-rule"), officers=4, seconds=200, settings=SETTINGS, lost_after_s=8
    )
    lost = [a for a in run.alerts if a.kind is AlertKind.DEVICE_LOST]
    assert [a.state for a in lost] == [AlertState.ACTIVE, AlertState.RESOLVED]
    assert 128 <= lost[1].changed_ns / NS <= 130  # the helmet is back after 120 s away


def test_a_high_heart_rate_in_a_foot_pursuit_is_not_tachycardia_at_rest() -> None:
    run = drive(load_scenario("foot-pursuit"), officers=2, seconds=900, seed=3)
    assert not [a for a in run.alerts if a.kind is AlertKind.TACHYCARDIA]
