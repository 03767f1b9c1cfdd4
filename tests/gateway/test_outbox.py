"""The durable outbox: ordering, lanes, cursors, quarantine, retention, and kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain import Lane, Point
from gateway.outbox import ONE_STATEMENT_ROWS, AlertCommit, AsyncOutbox, Outbox, Stored


def telemetry(n: int, officer: str = "o1") -> Point:
    return Point("heart_rate", {"officer": officer}, {"bpm": 60 + n % 50, "rr_s": 0.8}, n)


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 1_000_000_000_000

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3", clock_ns=FakeClock())


def test_points_come_back_exactly_and_in_order(outbox: Outbox) -> None:
    outbox.register_sink("influx")
    points = [telemetry(n) for n in range(10)]
    points.append(Point("label", {"k": "v w"}, {"s": 'text "q"', "b": True, "f": 1.5, "i": 3}, 99))
    ids = outbox.append(points)
    assert ids == list(range(1, 12))
    pending = outbox.pending("influx", 100)
    assert [item.id for item in pending] == ids
    assert [item.point for item in pending] == points
    assert isinstance(pending[-1].point.fields["i"], int)
    assert isinstance(pending[-1].point.fields["f"], float)


def test_alerts_are_delivered_before_a_telemetry_backlog(outbox: Outbox) -> None:
    outbox.register_sink("webhook")
    outbox.append([telemetry(n) for n in range(100)])
    alert = Point("alert", {"officer": "o1"}, {"state": "active"}, 500, Lane.ALERT)
    event = Point("safety_event", {"officer": "o1"}, {"event": "panic_press"}, 400, Lane.EVENT)
    outbox.append([event, alert])
    first = outbox.pending("webhook", 3)
    assert [item.point.lane for item in first] == [Lane.ALERT, Lane.EVENT, Lane.TELEMETRY]


def test_each_sink_has_its_own_cursor(outbox: Outbox) -> None:
    outbox.register_sink("influx")
    outbox.register_sink("mqtt")
    outbox.append([telemetry(n) for n in range(5)])
    outbox.acknowledge("influx", outbox.pending("influx", 3))
    assert [item.id for item in outbox.pending("influx", 10)] == [4, 5]
    assert [item.id for item in outbox.pending("mqtt", 10)] == [1, 2, 3, 4, 5]
    assert outbox.stats().pending["influx"][Lane.TELEMETRY].pending == 2


def test_a_sink_reads_past_a_batch_it_has_not_acknowledged_yet(outbox: Outbox) -> None:
    outbox.register_sink("influx")
    outbox.append([telemetry(n) for n in range(6)])
    first = outbox.pending("influx", 3)
    ahead = outbox.pending("influx", 3, after={Lane.TELEMETRY: first[-1].id})
    assert [item.id for item in ahead] == [4, 5, 6]
    # A lane it does not name is read from the cursor: a new alert still comes first.
    [alert] = outbox.append([Point("alert", {"officer": "o1"}, {"s": "active"}, 9, Lane.ALERT)])
    again = outbox.pending("influx", 2, after={Lane.TELEMETRY: first[-1].id})
    assert [item.id for item in again] == [alert, 4]
    # Never before the cursor, whatever `after` says.
    outbox.acknowledge("influx", outbox.pending("influx", 6))  # the alert and 1..5
    assert [item.id for item in outbox.pending("influx", 9, after={Lane.TELEMETRY: 1})] == [6]


# Names and values with the outbox's JSON delimiters in them (`},{`, quotes, escapes), so that
# reading a backlog cannot mistake where a body's series ends.
tricky_text = st.lists(
    st.sampled_from(["a", "},{", '"},{"', "}", "{", ",", '"', "\\", ":", " ", "é", "\n"]),
    min_size=1,
    max_size=4,
).map("".join) | st.text(min_size=1, max_size=8)
field_values = (
    st.floats(allow_nan=False) | st.integers(-(2**63), 2**63 - 1) | st.booleans() | tricky_text
)
stored_points = st.builds(
    Point,
    measurement=tricky_text,
    tags=st.dictionaries(tricky_text, tricky_text, max_size=3),
    fields=st.dictionaries(tricky_text, field_values, min_size=1, max_size=3),
    time_ns=st.integers(0, 2**62),
    lane=st.sampled_from(Lane),
)


@given(st.lists(stored_points, min_size=1, max_size=30))
def test_any_points_come_back_exactly_and_in_lane_order(points: list[Point]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        outbox = Outbox(Path(folder) / "o.sqlite3")
        outbox.register_sink("check")
        ids = outbox.append(points)
        by_lane = sorted(zip(ids, points, strict=True), key=lambda pair: pair[1].lane)
        read = outbox.pending("check", len(points))
        assert [(item.id, item.point) for item in read] == by_lane
        outbox.close()


def test_a_new_sink_starts_at_the_end(outbox: Outbox) -> None:
    outbox.append([telemetry(1)])
    outbox.register_sink("late")
    assert outbox.pending("late", 10) == []
    outbox.append([telemetry(2)])
    assert [item.point.time_ns for item in outbox.pending("late", 10)] == [2]


def test_quarantine_keeps_rejected_points_and_moves_on(outbox: Outbox) -> None:
    outbox.register_sink("influx")
    outbox.append([telemetry(n) for n in range(4)])
    batch = outbox.pending("influx", 2)
    outbox.quarantine("influx", batch, "400: field type conflict")
    assert [item.id for item in outbox.pending("influx", 10)] == [3, 4]
    assert outbox.stats().quarantined == 2


def test_retention_deletes_only_what_every_sink_delivered_and_aged_out(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox(tmp_path / "o.sqlite3", max_age_s=60, clock_ns=clock)
    outbox.register_sink("a")
    outbox.register_sink("b")
    outbox.append([telemetry(n) for n in range(10)])
    outbox.acknowledge("a", outbox.pending("a", 10))
    outbox.acknowledge("b", outbox.pending("b", 4))
    clock.now_ns += 61 * 10**9
    assert outbox.enforce_retention() == 4  # b has not delivered 5..10: they stay
    assert outbox.stats().rows == 6


def test_size_cap_drops_telemetry_before_events_and_alerts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=1024 * 1024)
    outbox.register_sink("down")  # a sink that never delivers: nothing ages out by delivery
    alerts = [Point("alert", {"officer": "o1"}, {"id": f"a{n}"}, n, Lane.ALERT) for n in range(50)]
    events = [Point("safety_event", {"officer": "o1"}, {"n": n}, n, Lane.EVENT) for n in range(50)]
    outbox.append(alerts + events)
    filler = "x" * 500
    for chunk in range(40):
        outbox.append(
            [
                Point("activity", {"officer": "o1"}, {"pad": filler}, chunk * 1000 + n)
                for n in range(200)
            ]
        )
    outbox.enforce_retention()
    stats = outbox.stats()
    assert stats.bytes <= 1024 * 1024
    pending = stats.pending["down"]
    assert pending[Lane.ALERT].pending == 50
    assert pending[Lane.EVENT].pending == 50
    assert 0 < pending[Lane.TELEMETRY].pending < 40 * 200


def alert(n: int) -> Point:
    return Point("alert", {"officer": "o1"}, {"alert_id": f"a{n}", "pad": "x" * 500}, n, Lane.ALERT)


def quarantine_bytes(outbox: Outbox, sink: str, points: list[Point]) -> None:
    """Put `points` in the outbox and have `sink` refuse them all."""
    outbox.append(points)
    outbox.quarantine(sink, outbox.pending(sink, len(points)), "400: refused")


def test_a_quarantine_over_the_byte_cap_does_not_empty_the_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=1024 * 1024)
    outbox.register_sink("influx")
    refused = [Point("activity", {"officer": "o1"}, {"pad": "q" * 1000}, n) for n in range(2000)]
    quarantine_bytes(outbox, "influx", refused)  # about 2 MB of quarantine, twice max_bytes
    outbox.register_sink("down")  # never delivers: the points below stay undelivered
    outbox.append([alert(n) for n in range(10)] + [telemetry(n) for n in range(10)])
    outbox.enforce_retention()
    stats = outbox.stats()
    assert stats.quarantined == 2000  # within its own (default) cap
    assert stats.pending["down"][Lane.ALERT].pending == 10
    assert stats.pending["down"][Lane.TELEMETRY].pending == 10


def test_the_quarantine_is_trimmed_oldest_first_to_its_own_cap(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", quarantine_max_bytes=200 * 1024)
    outbox.register_sink("influx")
    refused = [Point("activity", {"officer": "o1"}, {"pad": "q" * 1000}, n) for n in range(500)]
    quarantine_bytes(outbox, "influx", refused)
    outbox.enforce_retention()
    kept = outbox._db.execute("SELECT point_id FROM quarantine ORDER BY id").fetchall()
    assert 150 < len(kept) < 200  # each row is a little over 1 KB
    assert kept[-1][0] == 500  # the newest stay
    assert [row_id for (row_id,) in kept] == list(range(501 - len(kept), 501))


def test_an_alert_a_sink_has_not_delivered_is_never_trimmed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", max_bytes=512 * 1024)
    outbox.register_sink("dispatch", lanes=(Lane.ALERT,))
    outbox.register_sink("influx")
    outbox.append([alert(n) for n in range(2000)])  # about 1.5 MB of alerts, over the cap
    outbox.acknowledge("dispatch", outbox.pending("dispatch", 500))
    outbox.acknowledge("influx", outbox.pending("influx", 1000))
    outbox.enforce_retention()
    left = [item.id for item in outbox.pending("dispatch", 5000)]
    assert left == list(range(501, 2001))  # every undelivered alert is still there
    assert outbox.stats().rows < 2000  # what both sinks delivered made room


def test_cursors_of_sinks_no_longer_configured_are_dropped(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "o.sqlite3"
    first = Outbox(path, max_age_s=60, clock_ns=clock)
    first.register_sink("influx")
    first.register_sink("old-webhook")  # later removed from the configuration
    first.append([telemetry(n) for n in range(10)])
    first.acknowledge("influx", first.pending("influx", 10))
    first.close()
    again = Outbox(path, max_age_s=60, clock_ns=clock)
    assert again.keep_sinks(["influx"]) == ["old-webhook"]
    clock.now_ns += 61 * 10**9
    assert again.enforce_retention() == 10
    assert set(again.stats().pending) == {"influx"}


def test_reopening_keeps_points_and_cursors(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    first = Outbox(path)
    first.register_sink("influx")
    first.append([telemetry(n) for n in range(3)])
    first.acknowledge("influx", first.pending("influx", 1))
    first.close()
    again = Outbox(path)
    assert [item.id for item in again.pending("influx", 10)] == [2, 3]


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gateway.outbox import Outbox, Point
    outbox = Outbox(Path(sys.argv[1]))
    n = 0
    while True:
        batch = [Point("hr", {"officer": "o1"}, {"n": n + i}, n + i) for i in range(50)]
        ids = outbox.append(batch)
        n += 50
        # Reported only after the commit returned: these ids are accepted.
        print(ids[-1], flush=True)
    """
)


def test_kill_9_loses_nothing_that_was_accepted(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert writer.stdout is not None
    accepted = 0
    for line in writer.stdout:
        accepted = int(line)
        if accepted >= 20_000:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    outbox = Outbox(path)
    outbox.register_sink("check", from_start=True)
    rows = outbox.pending("check", 10**7)
    assert len(rows) >= accepted
    assert [item.id for item in rows] == list(range(1, len(rows) + 1))  # no holes
    assert [item.point.fields["n"] for item in rows] == list(range(len(rows)))


def test_commits_with_alerts_of_any_size_keep_ids_and_order(outbox: Outbox) -> None:
    outbox.register_sink("all")

    def alert(n: int) -> Point:
        return Point("alert", {"officer": "o1"}, {"state": "active", "n": n}, n, Lane.ALERT)

    event = Point("safety_event", {"officer": "o1"}, {"event": "panic_press"}, 1, Lane.EVENT)
    small = [alert(0), event]  # one INSERT statement
    large = [alert(n) for n in range(1, ONE_STATEMENT_ROWS + 2)] + [telemetry(7)]  # a transaction
    ids = outbox.append([telemetry(0)]) + outbox.append(small) + outbox.append(large)
    assert ids == list(range(1, len(ids) + 1))
    assert outbox.last_alert_id == ids[-2]
    by_id = {item.id: item.point for item in outbox.pending("all", 1000)}
    assert [by_id[i] for i in ids] == [telemetry(0), *small, *large]


async def test_settled_waits_for_what_is_queued_on_the_worker_thread(tmp_path: Path) -> None:
    store = AsyncOutbox(Outbox(tmp_path / "o.sqlite3"))
    release = threading.Event()
    done: list[str] = []

    def slow_cursor(sink: str, lane: Lane) -> int | None:
        release.wait(10)
        done.append(sink)
        return None

    store.outbox.cursor = slow_cursor  # type: ignore[method-assign]
    try:
        await store.settled(10)  # nothing queued: at once
        reader = asyncio.create_task(store.cursor("influx", Lane.ALERT))
        await asyncio.sleep(0)  # the call is queued on the thread
        waiter = asyncio.create_task(store.settled(10))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        release.set()
        await waiter
        assert done == ["influx"]
        await reader
    finally:
        release.set()
        await store.close()


async def test_alert_listeners_get_each_commits_alert_rows_and_the_row_before(
    tmp_path: Path,
) -> None:
    store = AsyncOutbox(Outbox(tmp_path / "o.sqlite3"))
    commits: list[AlertCommit] = []
    store.alert_listeners.append(commits.append)
    alert = Point("alert", {"officer": "o1"}, {"state": "active"}, 1, Lane.ALERT)
    try:
        await store.append([telemetry(0)])
        first = await store.append([alert, telemetry(1), alert])
        second = await store.append([alert])
    finally:
        await store.close()
    assert commits == [
        AlertCommit((Stored(first[0], alert), Stored(first[2], alert)), 0),
        AlertCommit((Stored(second[0], alert),), first[2]),
    ]
