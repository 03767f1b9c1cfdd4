"""Outbox round trips while the event loop is busy: commits and reads as the loop's tasks see them.

    .venv/bin/python bench/commit_latency.py [--rounds 30] [--folder DIR]

The outbox runs SQLite on one worker thread that shares the GIL with the event loop. While the
loop runs Python code, that thread gets the GIL back only after a switch interval, and it needs
it again after every SQLite call. Each round times three outbox calls, one after the other,
from the call to its result back on the loop: an alert commit (2 rows, synchronous=FULL, as the
pipeline commits a safety event and its alert), a telemetry commit of 1,000 rows, and a
delivery loop's read of 1,000 rows. Rounds alternate between two loops:

- idle: nothing else runs (the baseline);
- pipeline backlog: the real `Pipeline` works off a standing backlog of telemetry
  (bench/pipeline.py's vehicle mix, topped up to 2,000 queued notifications), in slices of
  about 0.5 ms, committing its own batches, as after a burst of notifications.

Reports each call's p50 and p90 per loop (over `--rounds` rounds), the ratio of the backlog's
p50 to idle's, the backlog's notifications/s, and the fdatasync time of the folder (the alert
commit syncs it once). The switch interval is the daemon's (`gateway.app.tune_interpreter`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import fdatasync_ms, percentile
from bench.pipeline import Notification, notifications
from gateway.app import tune_interpreter
from gateway.domain import Lane, Point
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import Pipeline

BACKLOG = 2000
ROWS = 1000
LOOPS = ("idle", "pipeline backlog")
TAGS = {"agency": "bench-pd", "unit": "car-1", "officer": "officer-00"}


def alert_rows() -> list[Point]:
    event = Point("safety_event", TAGS, {"event": "panic_press"}, time.time_ns(), Lane.EVENT)
    fields = {"alert_id": "a-bench", "state": "active", "kind": "panic", "severity": "critical"}
    return [Point("alert", TAGS, fields, time.time_ns(), Lane.ALERT), event]


def telemetry_rows() -> list[Point]:
    now = time.time_ns()
    return [
        Point("heart_rate", TAGS, {"bpm": 70 + n % 30, "rr_s": 0.8}, now + n) for n in range(ROWS)
    ]


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1e3


async def measure(rounds: int, mix: list[Notification], folder: Path) -> dict[str, Any]:
    store = AsyncOutbox(Outbox(folder / "outbox.sqlite3"))
    await store.register_sink("reader")
    await store.append(telemetry_rows())  # the reader's first batch
    loop = asyncio.get_running_loop()
    times: dict[tuple[str, str], list[float]] = {}
    rates: list[float] = []
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "alert commit (2 rows)": lambda: store.append(alert_rows()),
        f"telemetry commit ({ROWS:,} rows)": lambda: store.append(telemetry_rows()),
        f"delivery read ({ROWS:,} rows)": lambda: store.pending("reader", ROWS),
    }
    fed = 0
    for _ in range(rounds):
        for name in LOOPS:
            pipeline = Pipeline(store, monotonic=loop.time)
            tasks = []
            if name == "pipeline backlog":

                async def feed(pipeline: Pipeline = pipeline) -> None:
                    nonlocal fed
                    while True:
                        while pipeline.backlog < BACKLOG:
                            ref, uuid, data, t_ns = mix[fed % len(mix)]
                            pipeline.submit(ref, uuid, data, t_ns)
                            fed += 1
                        await asyncio.sleep(0.005)

                tasks = [asyncio.create_task(pipeline.run()), asyncio.create_task(feed())]
            # The same pause before both loops' calls (the pipeline gets under way): with none
            # before the idle loop's, its alert commit came right after the previous round's
            # large read and acknowledgement, and took twice as long.
            await asyncio.sleep(0.05)
            started, decoded = time.perf_counter(), pipeline.counters.decoded
            for call, function in calls.items():
                times.setdefault((name, call), []).append(await timed(function))
                await asyncio.sleep(0.005)
            if tasks:
                rates.append(
                    (pipeline.counters.decoded - decoded) / (time.perf_counter() - started)
                )
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            await store.acknowledge("reader", await store.pending("reader", 10**6))
    await store.close()
    result: dict[str, Any] = {}
    for call in calls:
        row: dict[str, Any] = {}
        for name in LOOPS:
            values = times[(name, call)]
            row[name] = {
                "p50_ms": round(statistics.median(values), 2),
                "p90_ms": round(percentile(values, 0.9), 2),
            }
        row["p50_backlog_vs_idle"] = round(
            row["pipeline backlog"]["p50_ms"] / row["idle"]["p50_ms"], 2
        )
        result[call] = row
    result["backlog_notifications_per_s"] = round(statistics.median(rates))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--folder", type=Path, help="where the outbox goes (default: a temp dir)")
    options = parser.parse_args()
    tune_interpreter()  # as `bluewatch run` does
    mix = notifications(20_000)
    with tempfile.TemporaryDirectory(dir=options.folder) as folder:
        disk = fdatasync_ms(Path(folder))
        result = asyncio.run(measure(options.rounds, mix, Path(folder)))
    print(
        json.dumps(
            {
                "rounds": options.rounds,
                "switch_interval_s": sys.getswitchinterval(),
                "fdatasync_ms": disk,
                **result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
