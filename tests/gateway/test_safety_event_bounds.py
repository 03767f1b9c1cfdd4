"""Safety events keep their priority without letting one device flood it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path

from gateway.domain import DeviceRef, Point, UnitRef
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import URGENT_BATCH_MAX, Pipeline
from gateway.safety_events import SAFETY_EVENT_BURST, RateLimit, Repeats
from sensors import DeviceModel, HeartRateMeasurement, SafetyEvent, SafetyEventKind
from tests.support.metrics import metrics_text

UNIT = UnitRef("metro-pd", "car-12")


def vest(n: int) -> DeviceRef:
    return DeviceRef(
        UNIT, f"officer-{n:02}", f"officer-{n:02}-vest", DeviceModel.BLUEWATCH_VEST,
        address=f"C0:00:00:00:00:{n:02X}",
    )  # fmt: skip


def event(sequence: int, ticks_ms: int = 1000, kind: str = "im_ok_press") -> bytes:
    return SafetyEvent(
        event=SafetyEventKind(kind), sequence=sequence, device_ticks_ms=ticks_ms
    ).encode()


class CountingOutbox(AsyncOutbox):
    """The real outbox, with the size of every commit kept."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox)
        self.commits: list[int] = []

    async def append(self, points: Sequence[Point]) -> list[int]:
        self.commits.append(len(points))
        return await super().append(points)


async def run_until_idle(pipeline: Pipeline) -> None:
    task = asyncio.create_task(pipeline.run())
    async with asyncio.timeout(10):
        while pipeline.backlog:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_twenty_thousand_identical_events_are_one_row_and_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("check")
    seen: list[object] = []
    loop = asyncio.get_running_loop()
    frozen = [True]  # the gateway's clock stands still while the flood is submitted

    def monotonic() -> float:
        return 0.0 if frozen[0] else 1.0 + loop.time()

    pipeline = Pipeline(
        AsyncOutbox(outbox),
        monotonic=monotonic,
        observers=[lambda device, reading, t: seen.append(type(reading).__name__)],
    )
    stuck = event(7)
    for n in range(20_000):  # all within one instant of the gateway's clock
        pipeline.submit(vest(1), SafetyEvent.UUID, stuck, n)
    others = HeartRateMeasurement(heart_rate_bpm=70).encode()
    pipeline.submit(vest(2), HeartRateMeasurement.UUID, others, 20_000)
    assert pipeline.backlog == SAFETY_EVENT_BURST + 1  # the rest never queued
    frozen[0] = False
    await run_until_idle(pipeline)
    rows = [row.point for row in outbox.pending("check", 100_000)]
    assert [p.measurement for p in rows].count("safety_event") == 1
    assert "heart_rate" in [p.measurement for p in rows]
    assert seen.count("SafetyEvent") == 1  # the rules saw it once, not 20,000 times
    counters = pipeline.counters
    assert counters.safety_events_rate_limited == 20_000 - SAFETY_EVENT_BURST
    assert counters.safety_event_repeats == SAFETY_EVENT_BURST - 1


async def test_events_queued_together_commit_in_small_batches(tmp_path: Path) -> None:
    counting = CountingOutbox(Outbox(tmp_path / "o.sqlite3"))
    pipeline = Pipeline(counting, monotonic=asyncio.get_running_loop().time)
    devices, per_device = 20, 5  # each a distinct event, within every device's burst
    for sequence in range(per_device):
        for n in range(devices):
            pipeline.submit(vest(n), SafetyEvent.UUID, event(sequence, 1000 + sequence), 0)
    await run_until_idle(pipeline)
    assert sum(counting.commits) == devices * per_device
    assert max(counting.commits) <= URGENT_BATCH_MAX
    assert len(counting.commits) == math.ceil(devices * per_device / URGENT_BATCH_MAX)


def test_the_rate_limit_lets_a_burst_through_then_one_a_second() -> None:
    limit = RateLimit(burst=3, per_s=1.0)
    assert [limit.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b", 0.0)  # per device
    assert not limit.allow("a", 0.5)
    assert limit.allow("a", 1.0)
    assert not limit.allow("a", 1.0)
    assert [limit.allow("a", 100.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_a_repeat_is_its_sequence_again_until_the_device_restarts() -> None:
    repeats = Repeats()
    assert not repeats.seen("v", 1, 1000)
    assert not repeats.seen("v", 2, 2000)
    assert repeats.seen("v", 1, 1000)  # an exact copy, late
    assert repeats.seen("v", 2, 2500)  # the same sequence sent again
    assert not repeats.seen("w", 2, 2000)  # per device
    # Its clock went back: a restart, whose sequence starts over; its events are new.
    assert not repeats.seen("v", 1, 50)
    assert repeats.seen("v", 1, 50)


async def test_the_counters_are_on_metrics(tmp_path: Path) -> None:
    now = [0.0]
    pipeline = Pipeline(AsyncOutbox(Outbox(tmp_path / "o.sqlite3")), monotonic=lambda: now[0])
    for n in range(SAFETY_EVENT_BURST + 3):
        pipeline.submit(vest(1), SafetyEvent.UUID, event(1), n)
    now[0] = 1000.0  # long past any hold after the commit
    await run_until_idle(pipeline)
    text = metrics_text(pipeline, monotonic=lambda: now[0])
    assert "bluewatch_safety_events_rate_limited_total 3.0" in text
    assert f"bluewatch_safety_event_repeats_total {SAFETY_EVENT_BURST - 1}.0" in text
    assert "bluewatch_unknown_advertisers_evicted_total 0.0" in text
