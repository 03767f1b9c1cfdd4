"""Normalization, the activity summary and the pipeline into a real (temporary) outbox."""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path

import pytest

from gateway.activity import ActivityTracker, Intensity, Posture, SampleClock
from gateway.analytics.rr_filter import MAX_RR_BACKDATE_S, MAX_RR_PER_NOTIFICATION
from gateway.domain import NS_PER_S, DeviceRef, Lane, UnitRef
from gateway.normalize import points_for
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import Pipeline
from sensors import (
    DeviceModel,
    HeartRateMeasurement,
    ImuBatch,
    SafetyEvent,
    SafetyEventKind,
    TemperatureMeasurement,
)

UNIT = UnitRef("metro-pd", "car-12")
VEST = DeviceRef(
    UNIT, "officer-01", "officer-01-vest", DeviceModel.BLUEWATCH_VEST, address="C0:00:00:00:00:01"
)


def test_heart_rate_becomes_a_row_and_one_row_per_beat() -> None:
    reading = HeartRateMeasurement(
        heart_rate_bpm=72, sensor_contact="detected", rr_intervals_s=(0.8, 0.85)
    )
    points = points_for(reading, VEST, 10_000_000_000)
    assert points[0].measurement == "heart_rate"
    assert points[0].fields == {"bpm": 72, "sensor_contact": "detected", "rr_count": 2}
    assert points[0].tags == {
        "agency": "metro-pd", "unit": "car-12", "officer": "officer-01",
        "device": "officer-01-vest", "model": "bluewatch-vest", "placement": "torso",
    }  # fmt: skip
    beats = points[1:]
    assert [p.fields["rr_s"] for p in beats] == [870 / 1024, 819 / 1024]  # latest beat first
    assert beats[0].time_ns == 10_000_000_000
    assert beats[1].time_ns == 10_000_000_000 - int(reading.rr_intervals_s[1] * 1e9)


def test_special_temperature_keeps_the_special_value() -> None:
    (point,) = points_for(TemperatureMeasurement(special_value="nan"), VEST, 1)
    assert point.fields == {"special": "nan"}


def test_safety_events_take_the_event_lane_with_the_event_as_a_tag() -> None:
    event = SafetyEvent(event=SafetyEventKind.PANIC_PRESS, sequence=3, device_ticks_ms=99)
    (point,) = points_for(event, VEST, 1)
    assert point.lane is Lane.EVENT
    assert point.tags["event"] == "panic_press"


def rotate(sample: tuple[float, float, float], degrees: float) -> tuple[float, float, float]:
    a = math.radians(degrees)
    x, y, z = sample
    return (x, y * math.cos(a) - z * math.sin(a), y * math.sin(a) + z * math.cos(a))


def test_activity_summary_learns_upright_while_walking_then_sees_lying() -> None:
    tracker = ActivityTracker(50)
    mount = 37.0  # an arbitrary mounting angle: no axis is assumed vertical
    walking = [
        rotate((0.0, 0.0, 1.0 + 0.25 * math.sin(2 * math.pi * 1.9 * n / 50)), mount)
        for n in range(500)
    ]
    clock = SampleClock(50)
    summaries = []
    for start in range(0, 500, 10):
        times = clock.place(start, 10, (start + 10) * 20_000_000)
        summaries += tracker.add_batch(tuple(walking[start : start + 10]), 50, times)
    assert len(summaries) == 10
    assert summaries[-1].intensity is Intensity.MODERATE
    assert summaries[-1].posture is Posture.UPRIGHT
    lying = [rotate((0.0, 1.0, 0.0), mount)] * 50
    (still,) = tracker.add_batch(tuple(lying), 50, clock.place(500, 50, 11 * 10**9))
    assert still.intensity is Intensity.STILL
    assert still.posture is Posture.LYING
    assert still.tilt_deg == pytest.approx(90, abs=1)
    assert len(tracker.window(0)) == 550


async def test_pipeline_commits_decodes_and_counts_errors(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("check")
    loop = asyncio.get_running_loop()
    seen: list[object] = []
    pipeline = Pipeline(
        AsyncOutbox(outbox),
        monotonic=loop.time,
        observers=[lambda device, reading, t: seen.append(reading)],
    )
    task = asyncio.create_task(pipeline.run())
    pipeline.submit(
        VEST, HeartRateMeasurement.UUID, HeartRateMeasurement(heart_rate_bpm=70).encode(), 5
    )
    pipeline.submit(VEST, HeartRateMeasurement.UUID, b"\xe0\x48", 6)  # reserved flags: refused
    for n in range(5):
        batch = ImuBatch(
            sample_rate_hz=50, first_sample_index=n * 10, samples_g=((0.0, 0.0, 1.0),) * 10
        )
        pipeline.submit(VEST, ImuBatch.UUID, batch.encode(), (n + 1) * 200_000_000)
    pipeline.submit(
        VEST,
        SafetyEvent.UUID,
        SafetyEvent(event="panic_press", sequence=1, device_ticks_ms=1).encode(),
        7,
    )
    async with asyncio.timeout(5):
        while pipeline.counters.points_committed < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = outbox.pending("check", 100)
    assert [row.point.measurement for row in rows] == ["safety_event", "heart_rate", "activity"]
    assert pipeline.counters.decode_errors == 1
    assert pipeline.counters.decode_errors_by_kind == {"reserved_flags": 1}
    assert len(seen) == 7


async def test_full_queue_drops_telemetry_but_never_safety_events(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    loop = asyncio.get_running_loop()
    pipeline = Pipeline(AsyncOutbox(outbox), monotonic=loop.time, queue_limit=3)
    payload = HeartRateMeasurement(heart_rate_bpm=70).encode()
    for n in range(5):
        pipeline.submit(VEST, HeartRateMeasurement.UUID, payload, n)
    event = SafetyEvent(event="panic_press", sequence=1, device_ticks_ms=1).encode()
    for n in range(5):
        pipeline.submit(VEST, SafetyEvent.UUID, event, 100 + n)
    assert pipeline.counters.dropped == 2
    assert pipeline.backlog == 8


async def test_a_telemetry_backlog_is_processed_in_slices_that_yield_to_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.pipeline.SLICE_S", 0.0)  # one notification per slice
    loop = asyncio.get_running_loop()
    order: list[str] = []
    pipeline = Pipeline(
        AsyncOutbox(Outbox(tmp_path / "o.sqlite3")),
        monotonic=loop.time,
        observers=[lambda device, reading, t: order.append("reading")],
    )
    payload = HeartRateMeasurement(heart_rate_bpm=70).encode()
    for n in range(3):
        pipeline.submit(VEST, HeartRateMeasurement.UUID, payload, n)

    async def other_work() -> None:
        for _ in range(3):
            order.append("other")
            await asyncio.sleep(0)

    task = asyncio.create_task(pipeline.run())
    await other_work()
    async with asyncio.timeout(5):
        while order.count("reading") < 3:
            await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert order[:6] == ["other", "reading", "other", "reading", "other", "reading"]


async def test_after_a_safety_event_telemetry_waits_but_safety_events_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.pipeline.HOLD_AFTER_URGENT_S", 60.0)
    outbox = Outbox(tmp_path / "o.sqlite3")
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    pipeline = Pipeline(
        AsyncOutbox(outbox),
        monotonic=loop.time,
        observers=[lambda device, reading, t: seen.append(type(reading).__name__)],
    )
    task = asyncio.create_task(pipeline.run())

    def panic(sequence: int) -> None:
        event = SafetyEvent(event="panic_press", sequence=sequence, device_ticks_ms=1)
        pipeline.submit(VEST, SafetyEvent.UUID, event.encode(), sequence)

    panic(1)
    async with asyncio.timeout(5):
        while pipeline.counters.points_committed < 1:
            await asyncio.sleep(0.001)
    pipeline.submit(
        VEST, HeartRateMeasurement.UUID, HeartRateMeasurement(heart_rate_bpm=70).encode(), 2
    )
    panic(3)
    async with asyncio.timeout(5):
        while pipeline.counters.points_committed < 2:
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)  # time enough for the heart rate, were it not held
    assert seen == ["SafetyEvent", "SafetyEvent"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["SafetyEvent", "SafetyEvent", "HeartRateMeasurement"]  # drained on the way out


def test_sample_clock_is_monotonic_under_jitter_and_follows_restarts() -> None:
    clock = SampleClock(50)
    placed: list[int] = []
    index = 0
    arrival = 10**12
    # Batches of 39 samples (0.78 s) arriving with +/- 0.3 s jitter, some bunched together.
    for jitter_ms in (0, 300, -300, 250, -280, 0, 290, -290, 10, -10):
        arrival += 780_000_000 + jitter_ms * 1_000_000
        placed += clock.place(index, 39, arrival)
        index += 39
    assert placed == sorted(placed)
    assert len(set(placed)) == len(placed)
    steps = {b - a for a, b in itertools.pairwise(placed)}
    assert 20_000_000 in steps  # samples 20 ms apart within the counter's timeline
    # A device restart (counter back to 0) re-anchors at the new arrival.
    restart = clock.place(0, 10, arrival + 5 * 10**9)
    assert restart[-1] == arrival + 5 * 10**9
    assert restart[0] > placed[-1]


async def test_implausible_rr_intervals_are_counted_not_stored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("check")
    loop = asyncio.get_running_loop()
    pipeline = Pipeline(AsyncOutbox(outbox), monotonic=loop.time)
    task = asyncio.create_task(pipeline.run())
    calm = HeartRateMeasurement(heart_rate_bpm=58, rr_intervals_s=(1.0, 1.02))
    # A Garmin HRM-Dual's spurious 52 ms beat beside a real one (docs/devices.md).
    spurious = HeartRateMeasurement(heart_rate_bpm=58, rr_intervals_s=(1.01, 0.052, 1.044))
    pipeline.submit(VEST, HeartRateMeasurement.UUID, calm.encode(), 10_000_000_000)
    pipeline.submit(VEST, HeartRateMeasurement.UUID, spurious.encode(), 11_000_000_000)
    async with asyncio.timeout(5):
        while pipeline.counters.points_committed < 6:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = [row.point for row in outbox.pending("check", 100)]
    beats = [p for p in rows if p.measurement == "rr_interval"]
    assert [round(float(p.fields["rr_s"]), 3) for p in beats] == [1.02, 1.0, 1.044, 1.01]
    # The refused interval still took its time: the beat before it ends 1,044 + 52 ms earlier.
    reading = HeartRateMeasurement.decode(spurious.encode())  # RR at 1/1024 s resolution
    late, spurious_s = reading.rr_intervals_s[2], reading.rr_intervals_s[1]
    assert beats[2].time_ns == 11_000_000_000
    assert beats[3].time_ns == 11_000_000_000 - int(late * 1e9) - int(spurious_s * 1e9)
    second = [p for p in rows if p.measurement == "heart_rate"][1]
    assert (second.fields["rr_count"], second.fields["rr_rejected"]) == (2, 1)
    assert pipeline.counters.rr_rejected == 1
    assert pipeline.counters.rr_rejected_by_reason == {"too_short": 1}


async def test_a_notification_of_255_beats_is_not_back_dated_by_minutes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("check")
    loop = asyncio.get_running_loop()
    pipeline = Pipeline(AsyncOutbox(outbox), monotonic=loop.time)
    task = asyncio.create_task(pipeline.run())
    # 512 bytes: flags (RR present), 60 bpm, and 255 RR intervals of one second each.
    flood = bytes([0x10, 60]) + (1024).to_bytes(2, "little") * 255
    received = 1000 * NS_PER_S
    pipeline.submit(VEST, HeartRateMeasurement.UUID, flood, received)
    async with asyncio.timeout(5):
        while not pipeline.counters.points_committed:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = [row.point for row in outbox.pending("check", 1000)]
    beats = [p for p in rows if p.measurement == "rr_interval"]
    assert 0 < len(beats) <= MAX_RR_PER_NOTIFICATION
    assert min(p.time_ns for p in beats) >= received - MAX_RR_BACKDATE_S * NS_PER_S
    (heart_rate,) = [p for p in rows if p.measurement == "heart_rate"]
    assert heart_rate.fields["rr_count"] == len(beats)
    refused = pipeline.counters.rr_rejected_by_reason
    assert refused == {"beyond_notification": 255 - len(beats)}
