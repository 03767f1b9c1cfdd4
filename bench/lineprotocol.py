"""Line-protocol encoder throughput on one core, against influxdb-client's Point serializer.

    .venv/bin/python bench/lineprotocol.py [--points 100000] [--repeat 7]

Encodes the same realistic gateway points three ways, each timed over `--points` points and
repeated `--repeat` times; prints one JSON line per run and a Markdown summary of the medians:
- `SeriesKey.line`: a SeriesKey built once per series (what the InfluxDB sink does), so each
  point formats only its fields and timestamp;
- `encode_point`: a fresh SeriesKey for every point (no caching at all);
- influxdb-client: `Point(m).tag(..)...field(..)...time(t).to_line_protocol()`.
Inputs (field dictionaries, timestamps) are built before timing. The process is pinned to one
CPU where the OS allows it. Before timing, every line of the first two encoders is checked to
carry the same point as the influxdb-client line (field order and float spelling aside).

A second table times gzip on one 5,000-line heart-rate batch (BatchPolicy's default size) at
levels 1, 6 (the v1 writer's) and 9 (what influxdb-client uses), for the writers' choice.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from influxdb_client import Point

from gateway.domain import FieldValue
from gateway.sinks.lineprotocol import SeriesKey, encode_point

START_NS = 1_764_000_000_000_000_000
OFFICERS = 50  # series per measurement: a busy vehicle's worth, and then some


@dataclass(frozen=True)
class Sample:
    measurement: str
    tags: dict[str, str]
    key: SeriesKey
    fields: dict[str, FieldValue]
    time_ns: int


def _tags(n: int) -> dict[str, str]:
    return {"agency": "metro-pd", "unit": f"K9-{n % 7}", "officer": f"o-{1000 + n}",
            "device": f"vest-{n:04x}"}  # fmt: skip


def heart_rate_points(count: int, rng: random.Random) -> list[Sample]:
    """Heart rate at 1 Hz per officer: 2 to 4 fields (bpm, RR interval, contact, energy)."""
    keys = [SeriesKey("heart_rate", _tags(n)) for n in range(OFFICERS)]
    samples = []
    for i in range(count):
        n = i % OFFICERS
        fields: dict[str, FieldValue] = {"bpm": rng.randint(55, 185)}
        fields["rr_ms"] = round(rng.uniform(320.0, 1100.0), 3)
        if i % 2:
            fields["contact"] = rng.random() < 0.97
        if i % 4 == 3:
            fields["energy_kj"] = rng.randint(0, 5000)
        samples.append(Sample("heart_rate", _tags(n), keys[n], fields, START_NS + i * 20_000_000))
    return samples


def activity_points(count: int, rng: random.Random) -> list[Sample]:
    """A per-minute activity summary: 6 fields of every type line protocol has."""
    keys = [SeriesKey("activity", _tags(n)) for n in range(OFFICERS)]
    postures = ["standing", "walking", "running", "prone", "seated"]
    samples = []
    for i in range(count):
        n = i % OFFICERS
        fields: dict[str, FieldValue] = {
            "steps": rng.randint(0, 180),
            "distance_m": round(rng.uniform(0, 250), 2),
            "active_s": round(rng.uniform(0, 60), 1),
            "peak_accel_g": round(rng.uniform(0.8, 6.0), 4),
            "posture": rng.choice(postures),
            "fall_suspected": rng.random() < 0.01,
        }
        samples.append(Sample("activity", _tags(n), keys[n], fields, START_NS + i * 60_000_000))
    return samples


def with_series_key(samples: list[Sample]) -> int:
    size = 0
    for s in samples:
        size += len(s.key.line(s.fields, s.time_ns))
    return size


def with_encode_point(samples: list[Sample]) -> int:
    size = 0
    for s in samples:
        size += len(encode_point(s.measurement, s.tags, s.fields, s.time_ns))
    return size


def point_line(s: Sample) -> str:
    point = Point(s.measurement)
    for key, value in s.tags.items():
        point.tag(key, value)
    for key, value in s.fields.items():
        point.field(key, value)
    line: str = point.time(s.time_ns).to_line_protocol()
    return line


def with_influxdb_client(samples: list[Sample]) -> int:
    size = 0
    for s in samples:
        size += len(point_line(s))
    return size


ENCODERS: dict[str, Callable[[list[Sample]], int]] = {
    "SeriesKey.line": with_series_key,
    "encode_point": with_encode_point,
    "influxdb-client Point": with_influxdb_client,
}


def _meaning(line: str) -> tuple[str, Mapping[str, object], str]:
    """Series, fields by value and timestamp of a line whose names need no escaping."""
    series, fields, stamp = line.split(" ")
    values: dict[str, object] = {}
    for pair in fields.split(","):
        key, text = pair.split("=", 1)
        if text.endswith("i"):
            values[key] = int(text[:-1])
        elif text in ("true", "false"):
            values[key] = text == "true"
        elif text.startswith('"'):
            values[key] = text[1:-1]
        else:
            values[key] = float(text)
    return series, values, stamp


def check_agreement(samples: list[Sample]) -> None:
    for s in samples:
        reference = _meaning(point_line(s))
        for line in (
            s.key.line(s.fields, s.time_ns),
            encode_point(s.measurement, s.tags, s.fields, s.time_ns),
        ):
            if _meaning(line) != reference:
                raise RuntimeError(f"encoders disagree:\n  {line}\n  {point_line(s)}")


def pin_to_one_cpu() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def machine() -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "influxdb-client": version("influxdb-client"),
    }


def gzip_table(samples: list[Sample], repeat: int) -> None:
    body = "\n".join(s.key.line(s.fields, s.time_ns) for s in samples[:5000]).encode()
    print(f"\n| gzip level | 5,000-line batch ({len(body):,} B) | ratio | ms (median) |")
    print("|---|---:|---:|---:|")
    for level in (1, 6, 9):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            packed = gzip.compress(body, level)
            times.append((time.perf_counter() - started) * 1000)
        ratio = len(body) / len(packed)
        print(f"| {level} | {len(packed):,} B | {ratio:.1f}x | {statistics.median(times):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per timed run")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per encoder")
    args = parser.parse_args()
    pinning = pin_to_one_cpu()
    rng = random.Random(20261125)
    scenarios = {
        "heart_rate (4 tags, 2-4 fields)": heart_rate_points(args.points, rng),
        "activity (4 tags, 6 fields)": activity_points(args.points, rng),
    }
    for samples in scenarios.values():
        check_agreement(samples)

    medians: dict[tuple[str, str], float] = {}
    for scenario, samples in scenarios.items():
        for name, encode in ENCODERS.items():
            encode(samples[:1000])  # warm up
            rates = []
            for run in range(args.repeat):
                started = time.perf_counter()
                size = encode(samples)
                elapsed = time.perf_counter() - started
                rates.append(len(samples) / elapsed)
                print(json.dumps({"scenario": scenario, "encoder": name, "run": run,
                                  "points": len(samples), "bytes": size,
                                  "points_per_s": round(rates[-1])}))  # fmt: skip
            medians[scenario, name] = statistics.median(rates)

    info = machine()
    print(f"\n{info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
          f"influxdb-client {info['influxdb-client']}; {pinning}; "
          f"{args.points:,} points per run, median of {args.repeat} runs\n")  # fmt: skip
    print("| Points | Encoder | Points/s (median) | vs influxdb-client |")
    print("|---|---|---:|---:|")
    for scenario in scenarios:
        reference = medians[scenario, "influxdb-client Point"]
        for name in ENCODERS:
            rate = medians[scenario, name]
            print(f"| {scenario} | {name} | {rate:,.0f} | {rate / reference:.1f}x |")
    gzip_table(scenarios["heart_rate (4 tags, 2-4 fields)"], args.repeat)


if __name__ == "__main__":
    main()
