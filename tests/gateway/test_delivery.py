"""The delivery loop on a real outbox with a scripted sink: order, lingering, bisection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from gateway.backoff import BackoffPolicy
from gateway.delivery import Delivery
from gateway.domain import Lane, Point
from gateway.outbox import AsyncOutbox, Outbox, Stored
from gateway.sinks.errors import RejectedDeliveryError, RetryableDeliveryError
from gateway.sinks.sink import Sink


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
