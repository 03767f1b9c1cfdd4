"""Alert rows handed from their commit to a delivery loop: no read back, order, at-least-once,
and the drain's read-ahead position honoured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from gateway.delivery import Delivery
from gateway.domain import Lane, Point
from gateway.handoff import AlertHandoff
from gateway.outbox import AsyncOutbox, Outbox, Stored
from gateway.sinks.sink import Send, Sink

SINK = "webhook-dispatch"


def alert(n: int) -> Point:
    return Point(
        "alert", {"officer": "o1"}, {"alert_id": f"a-{n}", "state": "active"}, n, Lane.ALERT
    )


def telemetry(n: int) -> Point:
    return Point("heart_rate", {"officer": "o1"}, {"bpm": 60 + n}, n)


class CountingOutbox(AsyncOutbox):
    """The real AsyncOutbox, counting the reads that go to its worker thread and recording each
    cursor move (the ids acknowledged)."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox)
        self.reads = 0
        self.moves: list[list[int]] = []

    async def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = tuple(Lane),
        after: Mapping[Lane, int] | None = None,
        lines: bool = False,
    ) -> list[Stored]:
        self.reads += 1
        return await super().pending(sink, limit, lanes, after, lines)

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        # Recorded once the cursor has moved: a test that stops the delivery after the last
        # move it counts must find that move in the outbox.
        await super().acknowledge(sink, delivered)
        self.moves.append(ids(delivered))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingOutbox]:
    outbox = CountingOutbox(Outbox(tmp_path / "outbox.sqlite3"))
    yield outbox
    await outbox.close()


async def handoff_for(store: AsyncOutbox, lanes: Sequence[Lane] = (Lane.ALERT,)) -> AlertHandoff:
    handoff = AlertHandoff(store)
    store.alert_listeners.append(handoff.committed)
    await handoff.register_sink(SINK, lanes)
    return handoff


def ids(rows: Sequence[Stored]) -> list[int]:
    return [row.id for row in rows]


def flat(batches: Sequence[list[int]]) -> list[int]:
    return [i for batch in batches for i in batch]


async def test_committed_alerts_are_taken_without_reading_the_outbox(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store)
    committed = await store.append([alert(1), telemetry(2), alert(3)])
    rows = await handoff.pending(SINK, 10)
    assert ids(rows) == [committed[0], committed[2]]
    assert [row.point for row in rows] == [alert(1), alert(3)]
    assert store.reads == 0
    await handoff.acknowledge(SINK, rows)
    assert await store.pending(SINK, 10) == []  # the outbox's cursor moved, as after a read


async def test_rows_are_handed_again_until_acknowledged(store: CountingOutbox) -> None:
    handoff = await handoff_for(store)
    await store.append([alert(1)])
    first = await handoff.pending(SINK, 10)
    assert await handoff.pending(SINK, 10) == first  # a failed delivery is retried
    await handoff.acknowledge(SINK, first)
    assert await handoff.pending(SINK, 10) == []
    assert store.reads == 0  # no alert committed past the cursor: nothing to read


async def test_a_sink_of_alerts_alone_reads_only_when_an_alert_was_committed(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store)
    await store.append([telemetry(1)])
    assert await handoff.pending(SINK, 10) == []
    assert store.reads == 0
    [row] = store.outbox.append([alert(2)])  # straight to SQLite: nothing handed over
    assert ids(await handoff.pending(SINK, 10)) == [row]
    assert store.reads == 1


async def test_an_alert_committed_past_the_handoff_is_delivered_first(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store)
    [earlier] = store.outbox.append([alert(1)])  # straight to SQLite: nothing handed over
    [later] = await store.append([alert(2)])
    first = await handoff.pending(SINK, 10)
    assert ids(first) == [earlier, later]  # read from the outbox, in order
    assert store.reads == 1
    await handoff.acknowledge(SINK, first[:1])
    assert ids(await handoff.pending(SINK, 10)) == [later]  # now it follows: from the hand-off
    assert store.reads == 1


async def test_a_commit_split_by_a_batch_limit_is_read_from_the_outbox(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store)
    backlog = await store.append([alert(1), alert(2)])
    first = await handoff.pending(SINK, 1)  # a batch limit splits the commit
    await handoff.acknowledge(SINK, first)
    [latest] = await store.append([alert(3)])
    assert ids(await handoff.pending(SINK, 10)) == [backlog[1], latest]
    assert store.reads == 2  # the split commit does not follow the cursor: the outbox answers


async def test_a_read_ahead_is_not_handed_the_rows_of_the_batch_in_flight(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store)
    in_flight = await handoff.pending(SINK, 10, after=None)
    assert in_flight == []
    first = await store.append([alert(1), alert(2)])
    in_flight = await handoff.pending(SINK, 10)
    assert ids(in_flight) == first  # not acknowledged yet: a drain reads the next batch ahead
    [later] = await store.append([alert(3)])
    ahead = await handoff.pending(SINK, 10, after={Lane.ALERT: first[-1]})
    assert ids(ahead) == [later]  # past the batch in flight, not from the cursor
    assert await handoff.pending(SINK, 10, after={Lane.ALERT: later}) == []
    assert store.reads == 0
    # The batch in flight failed: a read from the cursor has both again, in order.
    assert ids(await handoff.pending(SINK, 10)) == [*first, later]


async def test_a_read_ahead_from_inside_a_commit_goes_to_the_outbox(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store)
    committed = await store.append([alert(1), alert(2), alert(3)])
    ahead = await handoff.pending(SINK, 10, after={Lane.ALERT: committed[0]})
    assert ids(ahead) == committed[1:]
    assert store.reads == 1


async def test_what_was_not_acknowledged_is_replayed_once_by_the_outbox_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    store = AsyncOutbox(Outbox(path))
    handoff = await handoff_for(store)
    committed = await store.append([alert(1), alert(2)])
    await handoff.acknowledge(SINK, (await handoff.pending(SINK, 1)))
    await store.close()

    reopened = CountingOutbox(Outbox(path))
    try:
        assert reopened.outbox.last_alert_id == committed[1]
        restarted = await handoff_for(reopened)
        replayed = await restarted.pending(SINK, 10)
        assert ids(replayed) == [committed[1]]  # not the acknowledged one again
        assert reopened.reads == 1
        await restarted.acknowledge(SINK, replayed)
        [later] = await reopened.append([alert(3)])
        assert ids(await restarted.pending(SINK, 10)) == [later]  # handed over, no duplicate
        assert reopened.reads == 1
    finally:
        await reopened.close()


async def test_a_sink_that_does_not_take_them_makes_the_handoff_let_go(
    store: CountingOutbox,
) -> None:
    handoff = AlertHandoff(store, limit=3)
    store.alert_listeners.append(handoff.committed)
    await handoff.register_sink(SINK, (Lane.ALERT,))
    committed = [row for n in range(4) for row in await store.append([alert(n)])]
    assert ids(await handoff.pending(SINK, 10)) == committed  # all of them, from the outbox
    assert store.reads == 1


async def test_a_sink_without_the_alert_lane_is_never_handed_alerts(
    store: CountingOutbox,
) -> None:
    handoff = await handoff_for(store, lanes=(Lane.TELEMETRY,))
    await store.append([alert(1), telemetry(2)])
    assert [row.point for row in await handoff.pending(SINK, 10)] == [telemetry(2)]
    assert store.reads == 1


class HeldSink(Sink):
    """Records what it sends; sends wait while `open` is clear (a batch held in flight)."""

    name = SINK

    def __init__(self, batch_max: int, lanes: tuple[Lane, ...]) -> None:
        self.batch_max = batch_max
        self.lanes = lanes
        self.sent: list[list[int]] = []
        self.prepared: list[list[int]] = []
        self.open = asyncio.Event()
        self.open.set()

    async def prepare(self, batch: Sequence[Stored]) -> Send:
        self.prepared.append(ids(batch))

        async def send() -> None:
            await self.open.wait()
            self.sent.append(ids(batch))

        return send

    async def deliver(self, batch: Sequence[Stored]) -> None:
        await (await self.prepare(batch))()


async def deliver_until(delivery: Delivery, condition: Callable[[], bool]) -> None:
    task = asyncio.create_task(delivery.run())
    try:
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def delivery_for(store: AsyncOutbox, sink: HeldSink, wakeup: asyncio.Event) -> Delivery:
    handoff = AlertHandoff(store)
    store.alert_listeners.append(handoff.committed)
    loop = asyncio.get_running_loop()
    return Delivery(handoff, sink, wakeup=wakeup, monotonic=loop.time)


async def test_the_delivery_loop_delivers_handed_alerts_in_order_and_moves_the_cursor_once(
    store: CountingOutbox,
) -> None:
    await store.register_sink(SINK, (Lane.ALERT,))  # before any point: it sees them all
    wakeup = asyncio.Event()
    sink = HeldSink(10, (Lane.ALERT,))
    delivery = delivery_for(store, sink, wakeup)

    async def commit() -> list[int]:
        committed = []
        for n in range(5):
            committed.append((await store.append([telemetry(n), alert(n)]))[1])
            wakeup.set()
            await asyncio.sleep(0.002)
        return committed

    committing = asyncio.create_task(commit())
    await deliver_until(
        delivery, lambda: committing.done() and flat(store.moves) == [*committing.result()]
    )
    committed = committing.result()
    assert flat(sink.sent) == committed
    assert flat(store.moves) == committed  # each alert moved the cursor once, in order
    assert await store.pending(SINK, 10) == []


async def test_a_drain_with_handed_alerts_delivers_each_row_once_in_order(
    store: CountingOutbox,
) -> None:
    """The batch in flight is handed-over alerts; the batch read ahead of its acknowledgement
    must start past them, and an alert committed meanwhile goes right after it."""
    await store.register_sink(SINK)
    wakeup = asyncio.Event()
    sink = HeldSink(3, tuple(Lane))
    delivery = delivery_for(store, sink, wakeup)
    backlog = await store.append([alert(1), alert(2), alert(3)] + [telemetry(n) for n in range(7)])
    alerts, rest = backlog[:3], backlog[3:]
    sink.open.clear()
    task = asyncio.create_task(delivery.run())
    try:
        async with asyncio.timeout(10):
            while len(sink.prepared) < 2:  # the first batch in flight, the next read ahead
                await asyncio.sleep(0.005)
            assert sink.prepared[:2] == [alerts, rest[:3]]  # not the alerts in flight again
            [late] = await store.append([alert(4)])
            sink.open.set()
            while len(flat(store.moves)) < len(backlog) + 1:
                await asyncio.sleep(0.005)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    expected = [*alerts, late, *rest]
    assert flat(sink.sent) == expected  # no row twice, none skipped, the alert first
    assert flat(store.moves) == expected  # each cursor move once, in order
    assert sink.sent[:2] == [alerts, [late]]
    assert store.reads > 0  # the telemetry came from the outbox
    assert await store.pending(SINK, 100) == []
