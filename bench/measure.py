"""Measuring helpers the benchmarks share: nearest-rank percentiles and the disk's sync time."""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: p99 of 100 values is the second largest, of 50 the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def fdatasync_ms(folder: Path, count: int = 100) -> dict[str, float]:
    """p50 and p99 of one fdatasync after a 4 KiB append in `folder`, in milliseconds.

    An alert's commit syncs the outbox's disk once, so this is the floor under its latency on
    this machine; benches print it beside their figures.
    """
    path = folder / "fdatasync-probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for _ in range(count):
            os.write(fd, b"\0" * 4096)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - started) * 1e3)
    finally:
        os.close(fd)
        path.unlink()
    return {"p50": round(statistics.median(times), 3), "p99": round(percentile(times, 0.99), 3)}
