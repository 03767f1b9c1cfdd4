"""The alert state machine and engine under an injectable clock."""

from __future__ import annotations

import itertools

import pytest

from gateway.alerts.engine import AlertEngine, Rule
from gateway.alerts.model import AlertKind, AlertState, Severity, TransitionError
from gateway.alerts.record import AlertChange
from gateway.domain import Lane, Point, UnitRef

RULE = Rule("test-rule", "1")


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_000 * 10**9

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emitted() -> list[Point]:
    return []


@pytest.fixture
def engine(clock: Clock, emitted: list[Point]) -> AlertEngine:
    ids = (f"a-{n}" for n in itertools.count(1))
    return AlertEngine(
        UnitRef("pd", "car-1"),
        "hash",
        clock_ns=clock,
        emit=emitted.append,
        escalate_after_s=60,
        new_id=lambda: next(ids),
    )


def states(points: list[Point]) -> list[tuple[str, int, str]]:
    return [
        (str(p.fields["alert_id"]), int(p.fields["sequence"]), str(p.fields["state"]))
        for p in points
    ]  # type: ignore[arg-type]


def test_pre_alert_then_active_then_acknowledged_then_resolved(
    engine: AlertEngine, emitted: list[Point], clock: Clock
) -> None:
    engine.raise_alert(
        "o1", AlertKind.OFFICER_DOWN, Severity.CRITICAL, "still 20 s", RULE, pre_alert=True
    )
    clock.advance(10)
    engine.raise_alert("o1", AlertKind.OFFICER_DOWN, Severity.CRITICAL, "still 30 s", RULE)
    alert = engine.open_alert("o1", AlertKind.OFFICER_DOWN)
    assert alert is not None
    engine.acknowledge(alert.alert_id, "dispatcher-7")
    engine.resolve(alert.alert_id, "officer safe", "dispatcher-7")
    assert states(emitted) == [
        ("a-1", 1, "pre_alert"),
        ("a-1", 2, "active"),
        ("a-1", 3, "acknowledged"),
        ("a-1", 4, "resolved"),
    ]
    assert all(p.lane is Lane.ALERT and p.measurement == "alert" for p in emitted)
    assert emitted[2].fields["acknowledged_by"] == "dispatcher-7"
    assert engine.open_alert("o1", AlertKind.OFFICER_DOWN) is None


def test_the_same_condition_does_not_flap_into_duplicates(
    engine: AlertEngine, emitted: list[Point]
) -> None:
    for _ in range(5):
        engine.raise_alert("o1", AlertKind.LOW_BATTERY, Severity.WARNING, "vest 12 %", RULE)
    assert len(emitted) == 1
    engine.raise_alert("o1", AlertKind.LOW_BATTERY, Severity.HIGH, "vest 5 %", RULE)
    assert states(emitted)[-1] == ("a-1", 2, "active")
    assert emitted[-1].fields["severity"] == "high"
    engine.raise_alert("o2", AlertKind.LOW_BATTERY, Severity.WARNING, "vest 12 %", RULE)
    assert len({p.fields["alert_id"] for p in emitted}) == 2


def test_cancel_only_applies_to_a_pre_alert(engine: AlertEngine, emitted: list[Point]) -> None:
    engine.raise_alert(
        "o1", AlertKind.OFFICER_DOWN, Severity.CRITICAL, "still", RULE, pre_alert=True
    )
    assert engine.cancel("o1", AlertKind.OFFICER_DOWN, "I'm OK") is not None
    engine.raise_alert("o1", AlertKind.PANIC, Severity.CRITICAL, "panic", RULE)
    assert engine.cancel("o1", AlertKind.PANIC, "I'm OK") is None  # dispatch closes an active alarm
    assert [s for _, _, s in states(emitted)] == ["pre_alert", "cancelled", "active"]


def test_unacknowledged_alerts_escalate_once(
    engine: AlertEngine, emitted: list[Point], clock: Clock
) -> None:
    engine.raise_alert("o1", AlertKind.WEAPON_DRAWN, Severity.HIGH, "drawn", RULE)
    clock.advance(59)
    engine.tick()
    assert len(emitted) == 1
    clock.advance(2)
    engine.tick()
    engine.tick()
    assert len(emitted) == 2
    assert emitted[1].fields["severity"] == "critical"
    assert emitted[1].fields["escalated"] is True
    assert "not acknowledged" in str(emitted[1].fields["reason"])


def test_invalid_transitions_are_refused(engine: AlertEngine) -> None:
    alert = engine.raise_alert("o1", AlertKind.PANIC, Severity.CRITICAL, "panic", RULE)
    engine.resolve(alert.alert_id, "false press", "dispatch")
    with pytest.raises(TransitionError, match="resolved to acknowledged"):
        engine.acknowledge(alert.alert_id, "dispatch")
    with pytest.raises(KeyError):
        engine.acknowledge("a-unknown", "dispatch")


def test_state_is_restored_from_alert_rows(
    engine: AlertEngine, emitted: list[Point], clock: Clock
) -> None:
    first = engine.raise_alert(
        "o1", AlertKind.PANIC, Severity.CRITICAL, "panic", RULE, location=(40.1, -75.2)
    )
    engine.acknowledge(first.alert_id, "dispatch")
    engine.raise_alert("o2", AlertKind.LOW_BATTERY, Severity.WARNING, "low", RULE)
    fresh = AlertEngine(UnitRef("pd", "car-1"), "hash", clock_ns=clock, emit=lambda p: None)
    assert fresh.restore(reversed(emitted)) == 2
    restored = fresh.open_alert("o1", AlertKind.PANIC)
    assert restored is not None
    assert (restored.state, restored.sequence, restored.latitude_deg) == (
        AlertState.ACKNOWLEDGED,
        2,
        40.1,
    )
    assert AlertChange.from_point(emitted[0]).alert == first
