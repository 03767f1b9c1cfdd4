"""The fleet view's status per officer, and the alert rows' time to acknowledge."""

from __future__ import annotations

import itertools

import pytest

from gateway.alerts.coverage import gaps
from gateway.alerts.engine import AlertEngine, Rule
from gateway.alerts.model import Alert, AlertKind, AlertState, Severity
from gateway.alerts.record import AlertChange
from gateway.ble.link import LinkHealth, LinkState
from gateway.domain import DeviceRef, Point, UnitRef
from gateway.live import LiveState, render
from gateway.officer_status import STATUS_CODES, OfficerSnapshot, OfficerStatus, officer_status
from sensors import BatteryLevel, CoreBodyTemperature, DeviceModel

RULE = Rule("test-rule", "1")
T0 = 1_000 * 10**9


def alert(kind: AlertKind, severity: Severity, state: AlertState = AlertState.ACTIVE) -> Alert:
    return Alert("a-1", "o1", kind, severity, state, "why", "r", "1", "h", T0, T0)


@pytest.mark.parametrize(
    ("alerts", "links", "expected"),
    [
        ([], [LinkState.OK, LinkState.OK], OfficerStatus.OK),
        ([], [LinkState.CONNECTING], OfficerStatus.OK),
        ([], [LinkState.STALE, LinkState.OK], OfficerStatus.OK),
        ([alert(AlertKind.LOW_BATTERY, Severity.WARNING)], [LinkState.OK], OfficerStatus.WARNING),
        # A pre-alert is still the officer's to cancel: amber, not red.
        (
            [alert(AlertKind.OFFICER_DOWN, Severity.CRITICAL, AlertState.PRE_ALERT)],
            [LinkState.OK],
            OfficerStatus.WARNING,
        ),
        ([], [LinkState.OK, LinkState.LOST], OfficerStatus.DEVICE_LOST),
        (
            [alert(AlertKind.DEVICE_LOST, Severity.WARNING)],
            [LinkState.OK, LinkState.OK],
            OfficerStatus.DEVICE_LOST,
        ),
        (
            [alert(AlertKind.LOW_BATTERY, Severity.WARNING)],
            [LinkState.LOST],
            OfficerStatus.DEVICE_LOST,
        ),
        ([alert(AlertKind.PANIC, Severity.CRITICAL)], [LinkState.LOST], OfficerStatus.ALERT),
        (
            [alert(AlertKind.WEAPON_DRAWN, Severity.HIGH, AlertState.ACKNOWLEDGED)],
            [LinkState.OK],
            OfficerStatus.ALERT,
        ),
    ],
)
def test_status_follows_the_worst_of_alerts_and_links(
    alerts: list[Alert], links: list[LinkState], expected: OfficerStatus
) -> None:
    assert officer_status(alerts, links) is expected


def test_codes_sort_by_urgency() -> None:
    order = [OfficerStatus.OK, OfficerStatus.WARNING, OfficerStatus.DEVICE_LOST]
    order.append(OfficerStatus.ALERT)
    assert [STATUS_CODES[s] for s in order] == [0, 1, 2, 3]


def test_snapshot_fields() -> None:
    snapshot = OfficerSnapshot((alert(AlertKind.PANIC, Severity.CRITICAL),), (LinkState.OK,), 2.04)
    assert snapshot.fields() == {
        "status": "alert",
        "status_code": 3,
        "open_alerts": 1,
        "cannot_detect": "",
        "last_seen_s": 2.0,
    }
    never_heard = OfficerSnapshot(
        (), (LinkState.CONNECTING,), None, (AlertKind.OFFICER_DOWN, AlertKind.FALL)
    )
    assert never_heard.fields() == {
        "status": "ok",
        "status_code": 0,
        "open_alerts": 0,
        "cannot_detect": "officer_down,fall",
    }


class Clock:
    def __init__(self) -> None:
        self.now_ns = T0

    def __call__(self) -> int:
        return self.now_ns


def test_time_to_acknowledge_counts_from_activation_and_survives_a_restart() -> None:
    clock, emitted = Clock(), []
    ids = (f"a-{n}" for n in itertools.count(1))
    engine = AlertEngine(
        UnitRef("pd", "car-1"), "h", clock_ns=clock, emit=emitted.append, escalate_after_s=60,
        new_id=lambda: next(ids),
    )  # fmt: skip
    engine.raise_alert(
        "o1", AlertKind.OFFICER_DOWN, Severity.CRITICAL, "20 s", RULE, pre_alert=True
    )
    clock.now_ns += 10 * 10**9
    engine.raise_alert("o1", AlertKind.OFFICER_DOWN, Severity.CRITICAL, "30 s", RULE)
    clock.now_ns += 42_500_000_000
    open_alert = engine.open_alert("o1", AlertKind.OFFICER_DOWN)
    assert open_alert is not None
    engine.acknowledge(open_alert.alert_id, "dispatcher-7")
    rows: list[Point] = emitted
    assert [r.fields.get("time_to_ack_s") for r in rows] == [None, None, 42.5]
    assert rows[1].fields["activated_ns"] == T0 + 10 * 10**9
    # An alert raised active at once counts from its start; state rebuilt from rows keeps it.
    engine.raise_alert("o1", AlertKind.PANIC, Severity.CRITICAL, "pressed", RULE)
    clock.now_ns += 3 * 10**9
    panic = engine.open_alert("o1", AlertKind.PANIC)
    assert panic is not None
    engine.acknowledge(panic.alert_id, "dispatcher-7")
    assert rows[-1].fields["time_to_ack_s"] == 3.0
    restored = AlertChange.from_point(rows[1]).alert
    assert restored.activated_ns == T0 + 10 * 10**9
    assert restored.moved_to(AlertState.ACKNOWLEDGED, "ack", T0 + 20 * 10**9).time_to_ack_s == 10.0


def test_the_live_view_shows_devices_by_short_name_and_what_a_kit_cannot_detect() -> None:
    unit = UnitRef("pd", "car-1")
    strap = DeviceRef(unit, "officer-03", "officer-03-hrs", DeviceModel.GENERIC_HRS)
    health = LinkHealth(5.0, 20.0)
    health.on_notification(100.0)
    state = LiveState(["officer-03"], {"officer-03": gaps([strap])})
    state.observe(strap, BatteryLevel(battery_pct=64), 0)
    text = render(state, {strap.device_id: (strap, health)}, 101.0, "header")
    row = next(line for line in text.splitlines() if line.startswith("officer-03 "))
    assert "hrs ok 64%" in row
    assert row.split()[1:4] == ["-", "-", "-"]  # no heart rate, skin or core temperature yet
    assert "officer-03: no fall or man-down detection: no accelerometer worn on the trunk" in text


def test_the_live_view_shows_a_core_s_measured_temperature() -> None:
    unit = UnitRef("pd", "car-1")
    core = DeviceRef(unit, "officer-03", "officer-03-core", DeviceModel.CORE)
    state = LiveState(["officer-03"])
    reading = CoreBodyTemperature(core_temperature_c=38.12, skin_temperature_c=34.6)
    state.observe(core, reading, 0)
    text = render(state, {}, 101.0, "header")
    assert "core°C" in text.splitlines()[1]
    row = next(line for line in text.splitlines() if line.startswith("officer-03 "))
    assert row.split()[2:4] == ["34.6", "38.12"]
