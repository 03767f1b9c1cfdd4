"""Which raised alert changes may go to a sink before their commit (gateway/early_alerts.py)."""

from __future__ import annotations

from gateway.domain import FieldValue, Lane, Point
from gateway.early_alerts import EarlyAlerts


def change(alert: str, sequence: int = 1) -> Point:
    fields: dict[str, FieldValue] = {"alert_id": alert, "sequence": sequence, "state": "active"}
    return Point("alert", {"officer": "o1"}, fields, sequence, Lane.ALERT)


def telemetry() -> Point:
    return Point("heart_rate", {"officer": "o1"}, {"bpm": 61}, 1)


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def caught_up(limit: int = 100) -> tuple[EarlyAlerts, Wakes]:
    wakes = Wakes()
    early = EarlyAlerts(wakes, limit=limit)
    early.caught_up()
    return early, wakes


def test_nothing_goes_early_before_the_loop_has_found_nothing_pending() -> None:
    early = EarlyAlerts(Wakes())
    early.raised([change("a")])
    assert early.take() == []  # a backlog may be waiting: "a" goes with its committed row
    early.caught_up()
    early.raised([change("b")])
    assert early.take() == []  # "a" is not delivered yet: "b" may not overtake it
    early.delivered([change("a")])
    early.raised([change("c")])
    assert early.take() == []  # "b" is still to come from the outbox
    early.delivered([change("b"), change("c")])
    early.raised([change("d")])
    assert early.take() == [change("d")]


def test_changes_go_in_the_order_raised_and_only_alerts_wake_the_loop() -> None:
    early, wakes = caught_up()
    early.raised([telemetry()])
    assert wakes.count == 0
    early.raised([change("a"), telemetry(), change("b"), change("a", 2)])
    assert wakes.count == 1
    assert early.take() == [change("a"), change("b"), change("a", 2)]
    assert early.take() == []  # taken once


def test_a_failure_holds_back_every_later_change_until_its_row_is_delivered() -> None:
    early, _ = caught_up()
    early.raised([change("a")])
    [first] = early.take()
    early.raised([change("b")])
    early.failed([first])
    assert not early.ready
    assert early.take() == []
    early.raised([change("c")])
    assert early.take() == []
    early.delivered([change("a"), change("b")])
    assert early.take() == []  # "c" became late with "b": it waits for its own row
    early.delivered([change("c")])
    assert early.ready
    early.raised([change("d")])
    assert early.take() == [change("d")]


def test_changes_sent_early_do_not_hold_back_the_next() -> None:
    early, _ = caught_up()
    early.raised([change("a")])
    early.sent(early.take())
    assert early.outstanding == 1  # until its committed row is delivered
    early.raised([change("b")])
    assert early.take() == [change("b")]
    early.delivered([change("a")])
    assert early.outstanding == 1


def test_a_change_without_its_key_is_left_to_the_outbox() -> None:
    early, wakes = caught_up()
    bad = Point("alert", {"officer": "o1"}, {"alert_id": "a", "sequence": True}, 1, Lane.ALERT)
    early.raised([bad])
    assert wakes.count == 0
    assert early.take() == []


def test_too_many_outstanding_changes_stop_early_sending() -> None:
    early, _ = caught_up(limit=2)
    early.raised([change("a"), change("b")])
    early.failed(early.take())
    early.raised([change("c")])  # a third outstanding change: over the limit
    assert early.outstanding == 0
    assert not early.ready
    early.delivered([change("a"), change("b"), change("c")])
    early.raised([change("d")])
    assert early.take() == []  # everything goes in outbox order from now on
