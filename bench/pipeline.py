"""Pipeline throughput on one core: notification -> decoded reading -> committed row -> line.

    .venv/bin/python bench/pipeline.py [--notifications 40000] [--repeat 5]

Compares, in the same run and on the same notifications, the gateway's pipeline (bounded queue,
batched SQLite commits, cached series keys) with a naive pipeline made of the same libraries:
each notification decoded, turned into influxdb-client `Point` objects, serialised one by one
and committed in its own SQLite transaction. The notification mix is one vest and one helmet per
officer at the profile rates (heart rate 1 Hz, IMU batches of 39 samples at 50 Hz, skin
temperature every 5 s, location 1 Hz). Ours stores each row's line protocol at its commit, as
the daemon does with an InfluxDB sink, and the lines are then read back as a drain reads them.
Reports medians and the ratio, and the same for ours up to its last commit (the commit path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from influxdb_client import Point as ClientPoint

from gateway.activity import ActivityTracker, SampleClock
from gateway.domain import DeviceRef, UnitRef
from gateway.normalize import points_for
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import Pipeline
from gateway.sinks.influx_sink import InfluxSink, LineEncoder
from sensors import (
    DeviceModel,
    HeartRateMeasurement,
    ImuBatch,
    LocationAndSpeed,
    TemperatureMeasurement,
    codec_for,
)

Notification = tuple[DeviceRef, str, bytes, int]


def notifications(count: int) -> list[Notification]:
    """A realistic mix, in time order, for as many officers as the count needs (8 per vehicle)."""
    unit = UnitRef("bench-pd", "car-1")
    refs = [
        DeviceRef(unit, f"officer-{officer:02d}", f"officer-{officer:02d}-{kind.value}", kind)
        for officer in range(8)
        for kind in (DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET)
    ]
    result: list[Notification] = []
    second = 0
    index: dict[str, int] = {}
    while len(result) < count:
        t_ns = 1_800_000_000_000_000_000 + second * 1_000_000_000
        for ref in refs:
            if ref.model is DeviceModel.BLUEWATCH_VEST:
                hr = HeartRateMeasurement(
                    heart_rate_bpm=70 + second % 30,
                    sensor_contact="detected",
                    rr_intervals_s=(0.82, 0.8),
                )
                result.append((ref, hr.UUID, hr.encode(), t_ns))
                if second % 5 == 0:
                    temp = TemperatureMeasurement(
                        temperature_c=34.5 + (second % 7) / 10, temperature_type="body"
                    )
                    result.append((ref, temp.UUID, temp.encode(), t_ns + 1))
            else:
                fix = LocationAndSpeed(
                    latitude_deg=40 + second * 1e-5,
                    longitude_deg=-75.0,
                    speed_mps=1.3,
                    heading_deg=90.0,
                    position_status="ok",
                )
                result.append((ref, fix.UUID, fix.encode(), t_ns))
            # 50 samples a second: batches of 39 (ATT_MTU 247), carried over between seconds.
            start = index.get(ref.device_id, 0)
            while start + 39 <= (second + 1) * 50:
                samples = tuple((0.01 * (k % 5), -0.98, 0.1) for k in range(39))
                batch = ImuBatch(sample_rate_hz=50, first_sample_index=start, samples_g=samples)
                result.append((ref, batch.UUID, batch.encode(), t_ns + 2 + start))
                start += 39
            index[ref.device_id] = start
        second += 1
    return result[:count]


async def ours(items: list[Notification], folder: Path) -> tuple[float, float, int]:
    """Seconds to commit every notification's rows, seconds to that and their lines, lines."""
    # As the daemon with an InfluxDB sink: each row's line protocol stored at its commit.
    outbox = Outbox(folder / "ours.sqlite3", line_of=LineEncoder().stored)
    outbox.register_sink("influx")
    loop = asyncio.get_running_loop()
    committed = asyncio.Event()
    pipeline = Pipeline(
        AsyncOutbox(outbox),
        monotonic=loop.time,
        queue_limit=len(items) + 1,
        on_commit=committed.set,
    )
    sink = InfluxSink(writer=None)  # type: ignore[arg-type] - only its encoder is used here
    started = time.process_time()
    wall = time.perf_counter()
    task = asyncio.create_task(pipeline.run())
    for ref, uuid, data, t_ns in items:
        pipeline.submit(ref, uuid, data, t_ns)
    # Wait for commits, as the delivery loops do. Polling with sleep(0) kept the loop busy and
    # starved the outbox's worker thread of the GIL: a commit then took a switch interval per
    # row, and 40,000 notifications did not finish in 5 minutes.
    while pipeline.backlog:
        committed.clear()
        await committed.wait()
    committed_s = max(time.process_time() - started, time.perf_counter() - wall)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lines = 0
    while batch := outbox.pending("influx", 5000, lines=True):
        lines += len(sink.lines(batch))
        outbox.acknowledge("influx", batch)
    elapsed = max(time.process_time() - started, time.perf_counter() - wall)
    outbox.close()
    return committed_s, elapsed, lines


def naive(items: list[Notification], folder: Path) -> tuple[float, int]:
    db = sqlite3.connect(folder / "naive.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE points (id INTEGER PRIMARY KEY, line TEXT)")
    trackers: dict[str, ActivityTracker] = {}
    clocks: dict[str, SampleClock] = {}
    started = time.perf_counter()
    lines = 0
    for ref, uuid, data, t_ns in items:
        reading = codec_for(uuid).decode(data)
        if isinstance(reading, ImuBatch):
            tracker = trackers.setdefault(ref.device_id, ActivityTracker(50))
            points = [
                (
                    "activity",
                    {
                        "mean_g": s.mean_g,
                        "peak_g": s.peak_g,
                        "std_g": s.std_g,
                        "intensity": s.intensity.value,
                        "posture": s.posture.value,
                    },
                    s.time_ns,
                )
                for s in tracker.add_batch(
                    reading.samples_g,
                    50,
                    clocks.setdefault(ref.device_id, SampleClock(50)).place(
                        reading.first_sample_index, len(reading.samples_g), t_ns
                    ),
                )
            ]
        else:
            points = [
                (p.measurement, dict(p.fields), p.time_ns) for p in points_for(reading, ref, t_ns)
            ]
        for measurement, fields, time_ns in points:
            point = ClientPoint(measurement)
            for key, value in ref.tags.items():
                point = point.tag(key, value)
            for key, value in fields.items():
                point = point.field(key, value)
            line = point.time(time_ns).to_line_protocol()
            db.execute("BEGIN")
            db.execute("INSERT INTO points (line) VALUES (?)", (line,))
            db.execute("COMMIT")
            lines += 1
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    items = notifications(options.notifications)
    rates: dict[str, list[float]] = {"ours": [], "naive": [], "ours_committed": []}
    points: dict[str, int] = {}
    for _ in range(options.repeat):
        with tempfile.TemporaryDirectory() as folder:
            committed_s, elapsed, lines = asyncio.run(ours(items, Path(folder)))
            rates["ours"].append(len(items) / elapsed)
            rates["ours_committed"].append(len(items) / committed_s)
            points["ours"] = lines
            elapsed, lines = naive(items, Path(folder))
            rates["naive"].append(len(items) / elapsed)
            points["naive"] = lines
    result = {
        "notifications": len(items),
        "points": points,
        "ours_notifications_per_s": statistics.median(rates["ours"]),
        "naive_notifications_per_s": statistics.median(rates["naive"]),
        "ratio": statistics.median(rates["ours"]) / statistics.median(rates["naive"]),
        # The pipeline up to its last commit (the rows' line protocol encoded there), against
        # the same naive baseline: the commit path's own rate.
        "ours_committed_notifications_per_s": statistics.median(rates["ours_committed"]),
        "committed_ratio": statistics.median(rates["ours_committed"])
        / statistics.median(rates["naive"]),
        "repeat": options.repeat,
        "runs": rates,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
