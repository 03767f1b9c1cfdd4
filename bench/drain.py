"""Outage drain rate: how fast a backlog in the outbox reaches InfluxDB 1.x once it is back.

    scripts/services start && source .run/services.env
    .venv/bin/python bench/drain.py [--points 200000] [--repeat 3] [--profile]

Fills an outbox with a realistic backlog (heart rate, activity and location rows for 8 officers),
then times the gateway's delivery loop draining it into the local InfluxDB 1.6.7 (a fresh
database each run), with the interpreter tuned as `bluewatch run` tunes it. The baseline, run
just before each drain, is the server's raw ingest: the same lines, pre-encoded, POSTed in
5,000-line batches on one connection. The backlog is committed as the daemon commits it with an
InfluxDB sink, each row with its line protocol (encoded at commit, before the timing). Reports
points/s (medians), the ratio of the medians, the ratio within each repeat, the gateway's CPU
time per 5,000 points, and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from gateway.app import tune_interpreter
from gateway.delivery import Delivery
from gateway.domain import Point
from gateway.outbox import AsyncOutbox, Outbox, Stored
from gateway.sinks.influx import InfluxV1Settings, make_writer
from gateway.sinks.influx_sink import InfluxSink, LineEncoder

BATCH = 5000


def backlog(count: int) -> list[Point]:
    points = []
    base = 1_800_000_000_000_000_000
    for n in range(count):
        officer = f"officer-{n % 8:02d}"
        tags = {
            "agency": "bench-pd",
            "unit": "car-1",
            "officer": officer,
            "device": f"{officer}-vest",
            "kind": "vest",
        }
        second = n // 8
        t_ns = base + second * 1_000_000_000 + n % 8
        match n % 3:
            case 0:
                points.append(
                    Point(
                        "heart_rate",
                        tags,
                        {"bpm": 60 + n % 90, "sensor_contact": "detected", "rr_count": 2},
                        t_ns,
                    )
                )
            case 1:
                points.append(
                    Point(
                        "activity",
                        tags,
                        {
                            "mean_g": 1.01,
                            "peak_g": 1.4,
                            "std_g": 0.21,
                            "intensity": "moderate",
                            "posture": "upright",
                            "samples": 50,
                        },
                        t_ns,
                    )
                )
            case _:
                points.append(
                    Point(
                        "location",
                        tags,
                        {
                            "latitude_deg": 40 + n * 1e-7,
                            "longitude_deg": -75.0,
                            "speed_mps": 1.4,
                            "position_status": "ok",
                        },
                        t_ns,
                    )
                )
    return points


def create_database(url: str) -> str:
    name = f"drain_{uuid.uuid4().hex[:8]}"
    data = urllib.parse.urlencode({"q": f"CREATE DATABASE {name}"}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{url}/query", data=data, method="POST"), timeout=10
    )
    return name


def drop_database(url: str, name: str) -> None:
    data = urllib.parse.urlencode({"q": f"DROP DATABASE {name}"}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{url}/query", data=data, method="POST"), timeout=30
    )


async def drain(
    url: str, points: list[Point], folder: Path, profiler: cProfile.Profile | None = None
) -> tuple[float, float]:
    """Points/s, and the gateway process's CPU time (all threads) per 5,000 points, in ms;
    `profiler` runs during the drain alone (the backlog's commits are not in it)."""
    database = create_database(url)
    # As the daemon with an InfluxDB sink: each row's line protocol stored at its commit.
    outbox = Outbox(folder / f"{database}.sqlite3", line_of=LineEncoder().stored)
    outbox.register_sink("influx")
    for start in range(0, len(points), 10_000):
        outbox.append(points[start : start + 10_000])
    sink = InfluxSink(make_writer(InfluxV1Settings(url=url, database=database)))
    loop = asyncio.get_running_loop()
    delivery = Delivery(AsyncOutbox(outbox), sink, wakeup=asyncio.Event(), monotonic=loop.time)
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    await delivery.drain()
    if profiler is not None:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert delivery.counters.delivered == len(points), delivery.counters
    await sink.close()
    drop_database(url, database)
    return len(points) / elapsed, cpu * 1000 * BATCH / len(points)


async def raw_ingest(url: str, points: list[Point]) -> float:
    database = create_database(url)
    sink = InfluxSink(writer=None)  # type: ignore[arg-type] - encoder only
    bodies = [
        "\n".join(
            sink.lines([Stored(i, p) for i, p in enumerate(points[start : start + BATCH])])
        ).encode()
        for start in range(0, len(points), BATCH)
    ]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        started = time.perf_counter()
        for body in bodies:
            async with session.post(
                f"{url}/write", params={"db": database, "precision": "ns"}, data=body
            ) as response:
                assert response.status == 204, await response.text()
        elapsed = time.perf_counter() - started
    drop_database(url, database)
    return len(points) / elapsed


async def profile(count: int) -> None:
    """One drain under cProfile: where the gateway's time per point goes (profiler included)."""
    url = os.environ.get("BLUEWATCH_INFLUXDB_URL", "http://127.0.0.1:18086")
    points = backlog(count)
    gc.collect()
    gc.freeze()
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as folder:
        rate, cpu = await drain(url, points, Path(folder), profiler)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print(json.dumps({"points_per_s": rate, "gateway_cpu_ms_per_5000_points": cpu}))
    print(out.getvalue())


async def main(count: int, repeat: int) -> None:
    url = os.environ.get("BLUEWATCH_INFLUXDB_URL", "http://127.0.0.1:18086")
    points = backlog(count)
    # The backlog's points are the bench's own, not a daemon's: out of the collector's sight,
    # or every full collection during the drain would walk them all as well.
    gc.collect()
    gc.freeze()
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {"gateway_drain": [], "raw_ingest": []}
    cpu_ms: list[float] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            rates["raw_ingest"].append(await raw_ingest(url, points))
            rate, cpu = await drain(url, points, Path(folder))
            rates["gateway_drain"].append(rate)
            cpu_ms.append(cpu)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    paired = [
        drained / raw
        for drained, raw in zip(rates["gateway_drain"], rates["raw_ingest"], strict=True)
    ]
    print(
        json.dumps(
            {
                "points": count,
                "repeat": repeat,
                "median_points_per_s": medians,
                "drain_vs_raw": medians["gateway_drain"] / medians["raw_ingest"],
                "drain_vs_raw_per_repeat": paired,
                "runs": rates,
                "gateway_cpu_ms_per_5000_points": statistics.median(cpu_ms),
                "gateway_cpu_ms_runs": cpu_ms,
                "load_average_1m_before_after": [load_before[0], os.getloadavg()[0]],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one drain under cProfile (no baseline): the gateway's functions by own time",
    )
    options = parser.parse_args()
    tune_interpreter()  # as `bluewatch run` does
    if options.profile:
        asyncio.run(profile(options.points))
    else:
        asyncio.run(main(options.points, options.repeat))
