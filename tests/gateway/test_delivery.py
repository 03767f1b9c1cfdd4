"""The delivery loop on a real outbox with scripted sinks: order, lingering, bisection, and the
batch read ahead while another is in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.backoff import BackoffPolicy
from gateway.delivery import Delivery
from gateway.domain import Lane, Point
from gateway.outbox import AsyncOutbox, Outbox, Stored
from gateway.sinks.errors import RejectedDeliveryError, RetryableDeliveryError
from gateway.sinks.sink import Send, Sink


class ScriptedSink(Sink):
    """Accepts batches, except points whose `bad` field is set (refused as bad data)."""

    name = "scripted"

    def __init__(self, batch_max: int = 100, linger_s: float = 0.0, down: int = 0) -> None:
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.down = down
        self.batches: list[list[int]] = []

    async def deliver(self, batch: Sequence[Stored]) -> None:
        if self.down:
            self.down -= 1
            raise RetryableDeliveryError("down", retry_after_s=0.01)
        if any(item.point.fields.get("bad") for item in batch):
            raise RejectedDeliveryError("bad value")
        self.batches.append([item.id for item in batch])


def points(n: int, bad: frozenset[int] = frozenset()) -> list[Point]:
    return [Point("m", {"o": "1"}, {"v": i, "bad": i in bad}, i) for i in range(n)]


async def run_until(delivery: Delivery, condition: object) -> None:
    task = asyncio.create_task(delivery.run())
    try:
        async with asyncio.timeout(10):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def make(tmp_path: Path, sink: ScriptedSink) -> tuple[Outbox, Delivery]:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink(sink.name)
    loop = asyncio.get_running_loop()
    fast = BackoffPolicy(0.01, 0.05)
    return outbox, Delivery(
        AsyncOutbox(outbox), sink, wakeup=asyncio.Event(), monotonic=loop.time, policy=fast
    )


async def test_bad_points_are_isolated_and_quarantined(tmp_path: Path) -> None:
    sink = ScriptedSink()
    outbox, delivery = make(tmp_path, sink)
    outbox.append(points(10, bad=frozenset({3, 7})))
    await run_until(delivery, lambda: delivery.counters.delivered == 8)
    delivered = [i for batch in sink.batches for i in batch]
    assert delivered == [1, 2, 3, 5, 6, 7, 9, 10]  # ids, in order, without the two bad ones
    assert outbox.stats().quarantined == 2
    assert delivery.counters.quarantined == 2


async def test_outages_are_retried_in_order_without_loss(tmp_path: Path) -> None:
    sink = ScriptedSink(batch_max=4, down=3)
    outbox, delivery = make(tmp_path, sink)
    outbox.append(points(10))
    await run_until(delivery, lambda: delivery.counters.delivered == 10)
    assert [i for batch in sink.batches for i in batch] == list(range(1, 11))
    assert delivery.counters.retries == 3


async def test_telemetry_lingers_to_fill_a_batch_but_alerts_do_not(tmp_path: Path) -> None:
    sink = ScriptedSink(batch_max=100, linger_s=0.5)
    outbox, delivery = make(tmp_path, sink)
    task = asyncio.create_task(delivery.run())
    try:
        outbox.append(points(3))
        await asyncio.sleep(0.2)
        assert sink.batches == []  # still lingering
        outbox.append([Point("alert", {"o": "1"}, {"state": "active"}, 99, Lane.ALERT)])
        async with asyncio.timeout(2):
            while not sink.batches:
                await asyncio.sleep(0.01)
        assert sink.batches[0][0] == 4  # the alert leads, the telemetry rides along
        assert sorted(sink.batches[0]) == [1, 2, 3, 4]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --- draining a backlog: the next batch is read and prepared while the current one is in flight


class RecordingOutbox(AsyncOutbox):
    """The real outbox, recording each cursor move (the ids acknowledged or quarantined)."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox)
        self.moves: list[list[int]] = []

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        self.moves.append([item.id for item in delivered])
        await super().acknowledge(sink, delivered)

    async def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None:
        self.moves.append([item.id for item in rejected])
        await super().quarantine(sink, rejected, reason)


class PreparingSink(Sink):
    """Encodes in `prepare` (refusing points whose `bad` field is set, as a sink that cannot
    encode them) and sends through the returned call, which a test can hold and fail.

    `log` has ("prepared", ids), ("sending", ids) and ("sent", ids) in the order they happened.
    """

    name = "preparing"

    def __init__(self, batch_max: int) -> None:
        self.batch_max = batch_max
        self.log: list[tuple[str, list[int]]] = []
        # Sends wait for this while it is clear; `fail` makes the next sends raise, once each.
        self.open = asyncio.Event()
        self.open.set()
        self.fail = 0

    async def prepare(self, batch: Sequence[Stored]) -> Send:
        if any(item.point.fields.get("bad") for item in batch):
            raise RejectedDeliveryError("cannot encode")
        ids = [item.id for item in batch]
        self.log.append(("prepared", ids))

        async def send() -> None:
            self.log.append(("sending", ids))
            await self.open.wait()
            if self.fail:
                self.fail -= 1
                raise RetryableDeliveryError("down", retry_after_s=0.01)
            self.log.append(("sent", ids))

        return send

    async def deliver(self, batch: Sequence[Stored]) -> None:
        await (await self.prepare(batch))()

    def entries(self, kind: str) -> list[list[int]]:
        return [ids for what, ids in self.log if what == kind]


def pipelined(tmp_path: Path, sink: PreparingSink) -> tuple[Outbox, RecordingOutbox, Delivery]:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink(sink.name)
    recording = RecordingOutbox(outbox)
    loop = asyncio.get_running_loop()
    fast = BackoffPolicy(0.01, 0.05)
    delivery = Delivery(recording, sink, wakeup=asyncio.Event(), monotonic=loop.time, policy=fast)
    return outbox, recording, delivery


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


def ids(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


async def test_a_backlog_goes_in_order_and_the_next_batch_is_prepared_while_one_is_in_flight(
    tmp_path: Path,
) -> None:
    sink = PreparingSink(batch_max=5)
    outbox, recording, delivery = pipelined(tmp_path, sink)
    outbox.append(points(23))
    sink.open.clear()
    task = asyncio.create_task(delivery.run())
    try:
        # The first batch is in flight, held; the second is read and prepared meanwhile.
        await until(lambda: sink.entries("prepared") == [ids(1, 5), ids(6, 10)])
        assert sink.entries("sending") == [ids(1, 5)]
        assert recording.moves == []  # nothing acknowledged while the batch is in flight
        sink.open.set()
        await until(lambda: delivery.counters.delivered == 23)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    expected = [ids(1, 5), ids(6, 10), ids(11, 15), ids(16, 20), ids(21, 23)]
    assert sink.entries("sent") == expected
    assert recording.moves == expected  # each batch acknowledged once, in order, after it went
    assert outbox.pending(sink.name, 100) == []
    # Each batch was sent as prepared: reading ahead encoded every batch exactly once.
    assert sink.entries("prepared") == expected


class HeldMoves(RecordingOutbox):
    """Cursor moves wait for `open` while it is clear; `started` has the ids of each move begun."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox)
        self.open = asyncio.Event()
        self.open.set()
        self.started: list[list[int]] = []

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        self.started.append([item.id for item in delivered])
        await self.open.wait()
        await super().acknowledge(sink, delivered)


def held_moves(tmp_path: Path, backlog: int) -> tuple[PreparingSink, Outbox, HeldMoves, Delivery]:
    """A backlog of `backlog` points for a sink of 5-point batches, whose cursor moves are held
    until `open` is set."""
    sink = PreparingSink(batch_max=5)
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink(sink.name)
    held = HeldMoves(outbox)
    loop = asyncio.get_running_loop()
    delivery = Delivery(held, sink, wakeup=asyncio.Event(), monotonic=loop.time)
    outbox.append(points(backlog))
    held.open.clear()
    return sink, outbox, held, delivery


async def test_a_batch_goes_while_the_cursor_moves_over_the_one_before_in_order(
    tmp_path: Path,
) -> None:
    sink, outbox, held, delivery = held_moves(tmp_path, 17)
    task = asyncio.create_task(delivery.run())
    try:
        # The first batch landed; its cursor move is held, and the second batch goes meanwhile.
        await until(lambda: sink.entries("sent") == [ids(1, 5), ids(6, 10)])
        assert held.started == [ids(1, 5)]  # the second's move waits for the first's
        assert outbox.cursor(sink.name, Lane.TELEMETRY) == 0
        assert delivery.counters.delivered == 0
        # One move at most is under way: the third batch waits for the first's to end.
        await asyncio.sleep(0.05)
        assert sink.entries("sending") == [ids(1, 5), ids(6, 10)]
        assert held.started == [ids(1, 5)]
        held.open.set()
        await until(lambda: delivery.counters.delivered == 17)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    expected = [ids(1, 5), ids(6, 10), ids(11, 15), ids(16, 17)]
    assert sink.entries("sent") == expected
    assert held.moves == expected  # each batch's cursor move once, in order
    assert outbox.cursor(sink.name, Lane.TELEMETRY) == 17


async def test_a_drain_stopped_while_a_cursor_move_is_under_way_completes_it(
    tmp_path: Path,
) -> None:
    sink, outbox, held, delivery = held_moves(tmp_path, 12)
    task = asyncio.create_task(delivery.run())
    await until(lambda: held.started == [ids(1, 5)] and len(sink.entries("sent")) == 2)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # the run waits for the move of the batch that landed
    held.open.set()
    await asyncio.gather(task, return_exceptions=True)
    assert outbox.cursor(sink.name, Lane.TELEMETRY) == 5
    await delivery.drain()  # what a shutdown does next: batch 6-10 again, at least once
    assert held.moves == [ids(1, 5), ids(6, 10), ids(11, 12)]
    assert sink.entries("sent") == [ids(1, 5), ids(6, 10), ids(6, 10), ids(11, 12)]


async def test_a_failed_batch_goes_again_before_the_batch_read_ahead_of_it(tmp_path: Path) -> None:
    sink = PreparingSink(batch_max=5)
    outbox, recording, delivery = pipelined(tmp_path, sink)
    outbox.append(points(12))
    sink.open.clear()
    sink.fail = 1
    task = asyncio.create_task(delivery.run())
    try:
        await until(lambda: ids(6, 10) in sink.entries("prepared"))
        sink.open.set()  # the batch in flight fails now, with the next one read ahead
        await until(lambda: delivery.counters.delivered == 12)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sink.entries("sending") == [ids(1, 5), ids(1, 5), ids(6, 10), ids(11, 12)]
    assert sink.entries("sent") == [ids(1, 5), ids(6, 10), ids(11, 12)]
    assert recording.moves == [ids(1, 5), ids(6, 10), ids(11, 12)]
    assert delivery.counters.retries == 1


async def test_points_a_sink_cannot_encode_are_isolated_with_a_batch_read_ahead(
    tmp_path: Path,
) -> None:
    sink = PreparingSink(batch_max=4)
    outbox, recording, delivery = pipelined(tmp_path, sink)
    outbox.append(points(12, bad=frozenset({2, 5, 9})))  # ids 3, 6 and 10
    await run_until(delivery, lambda: delivery.counters.delivered == 9)
    assert [i for batch in sink.entries("sent") for i in batch] == [
        1, 2, 4, 5, 7, 8, 9, 11, 12
    ]  # fmt: skip
    assert outbox.stats().quarantined == 3
    # Every id moved the cursor once, in order: sent or quarantined, never ahead of its turn.
    assert [i for move in recording.moves for i in move] == ids(1, 12)


async def test_an_alert_committed_during_a_drain_goes_right_after_the_batch_in_flight(
    tmp_path: Path,
) -> None:
    sink = PreparingSink(batch_max=5)
    outbox, recording, delivery = pipelined(tmp_path, sink)
    outbox.append(points(20))
    sink.open.clear()
    task = asyncio.create_task(delivery.run())
    try:
        await until(lambda: ids(6, 10) in sink.entries("prepared"))  # read ahead: telemetry
        [alert] = outbox.append([Point("alert", {"o": "1"}, {"state": "active"}, 99, Lane.ALERT)])
        sink.open.set()
        await until(lambda: delivery.counters.delivered == 21)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    sent = sink.entries("sent")
    assert sent[0] == ids(1, 5)
    assert sent[1] == [alert, 6, 7, 8, 9]  # not behind the telemetry that was read ahead
    assert [i for batch in sent for i in batch] == [*ids(1, 5), alert, *ids(6, 20)]
    assert [i for move in recording.moves for i in move] == [*ids(1, 5), alert, *ids(6, 20)]


async def test_a_shutdown_drain_reads_ahead_and_stops_at_the_first_failure(
    tmp_path: Path,
) -> None:
    sink = PreparingSink(batch_max=5)
    outbox, recording, delivery = pipelined(tmp_path, sink)
    outbox.append(points(12))
    await delivery.drain()
    assert recording.moves == [ids(1, 5), ids(6, 10), ids(11, 12)]
    outbox.append(points(12))  # ids 13..24
    sink.open.clear()
    sink.fail = 1
    drained = asyncio.create_task(delivery.drain())
    await until(lambda: ids(18, 22) in sink.entries("prepared"))
    sink.open.set()
    await drained
    assert recording.moves == [ids(1, 5), ids(6, 10), ids(11, 12)]  # nothing more moved
    assert [item.id for item in outbox.pending(sink.name, 100)] == ids(13, 24)


async def test_a_refused_point_that_cannot_be_set_aside_on_a_full_disk_waits_for_room(
    tmp_path: Path,
) -> None:
    sink = ScriptedSink()
    outbox, delivery = make(tmp_path, sink)
    large = Point("m", {"o": "1"}, {"v": 1, "bad": True, "pad": "x" * 10_000}, 1)
    outbox.append([*points(1), large, *points(1)])
    # A real SQLITE_FULL: the database may grow no further (as in tests/gateway/test_full_disk.py)
    # and the refused point's copy for the quarantine needs new pages.
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    outbox._db.execute(f"PRAGMA max_page_count = {pages}")
    task = asyncio.create_task(delivery.run())
    try:
        async with asyncio.timeout(10):
            while delivery.counters.outbox_full < 2:
                await asyncio.sleep(0.01)
        assert not task.done()  # waiting for room, not failed
        assert outbox.stats().quarantined == 0
        assert outbox.cursor(sink.name, Lane.TELEMETRY) == 1  # the point before it delivered
        outbox._db.execute(f"PRAGMA max_page_count = {pages + 100}")
        async with asyncio.timeout(10):
            while outbox.cursor(sink.name, Lane.TELEMETRY) != 3:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert outbox.stats().quarantined == 1
    assert [i for batch in sink.batches for i in batch] == [1, 3]
