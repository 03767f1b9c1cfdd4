"""A fault-injection soak: the simulated fleet and the gateway as processes, faults at random.

    nice -n 10 .venv/bin/python bench/soak.py [--minutes 10] [--seed N] [--faults a,b,...]
        [--officers 2] [--gap-s 10 40] [--workdir DIR]

For `--minutes`, a driver injects faults from `bench/soak_faults.py` (every kind once per round,
rounds shuffled by the seed it prints), a random gap between them. Then it lets the gateway
drain, stops it, and counts: every point the outbox accepted must be in InfluxDB exactly once,
every alert state change must have reached the dispatch receiver in order with no gap, no
process may have crash-looped, and the gateway's memory must have stayed under a bound. It
prints one table and exits 0 only when every check holds.

The full-disk fault puts the outbox on a size-limited tmpfs, which needs root. Not part of the
test suite's default run; tests/e2e/test_soak_e2e.py runs a short one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak_counts import (
    AlertCheck,
    Counts,
    Export,
    check_alerts,
    count,
    influx_keys,
    read_export,
)
from bench.soak_faults import FAULTS
from bench.soak_rig import DATABASE, Exit, Rig, RigOptions, start_rig
from gateway.commands.dispatch_sink import ReceiverStats

# A crash loop as systemd counts one (StartLimitBurst=5 in StartLimitIntervalSec=10 s by
# default); three exits a minute is already one for a gateway that starts in seconds.
CRASH_LOOP_EXITS: Final = 3
CRASH_LOOP_WINDOW_S: Final = 60.0
RSS_LIMIT_MIB: Final = 400
TMPFS_MIB: Final = 256
SETTLE_S: Final = 10.0
DRAIN_RUN_S: Final = 20.0


@dataclass
class SoakResult:
    seed: int
    minutes: float
    injected: Counter[str]
    counts: Counts
    alerts: AlertCheck
    exits: list[Exit]
    rss_peak_mib: float
    rss_quarters_mib: list[float]
    receiver: ReceiverStats
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def crash_looped(self) -> bool:
        times = sorted(e.at_s for e in self.exits)
        return any(
            later - earlier <= CRASH_LOOP_WINDOW_S
            for earlier, later in zip(times, times[CRASH_LOOP_EXITS - 1 :], strict=False)
        )

    @property
    def memory_bounded(self) -> bool:
        return self.rss_peak_mib <= RSS_LIMIT_MIB

    @property
    def ok(self) -> bool:
        return (
            self.counts.lost == 0
            and self.alerts.ok
            and not self.crash_looped
            and self.memory_bounded
        )

    def table(self) -> str:
        lines = [
            f"soak: seed {self.seed}, {self.minutes:g} min",
            "",
            "| fault | injected |",
            "|---|---:|",
            *(f"| {kind} | {n} |" for kind, n in sorted(self.injected.items())),
            *(f"| {kind} | skipped: {why} |" for kind, why in sorted(self.skipped.items())),
            "",
            "| rows accepted | delivered | lost | duplicated |",
            "|---:|---:|---:|---:|",
            f"| {self.counts.accepted} | {self.counts.delivered} | {self.counts.lost} "
            f"| {self.counts.duplicated} |",
            "",
            f"alert changes: {self.alerts.expected} in the outbox, {self.alerts.received} "
            f"received ({self.alerts.requests} requests with redeliveries), "
            f"{len(self.alerts.missing)} missing, {len(self.alerts.out_of_order)} out of order; "
            f"the receiver answered {self.receiver.failed} with 500 and "
            f"{self.receiver.delayed} too late",
            f"unexpected exits: {len(self.exits)} "
            + (", ".join(f"{e.process} {e.status} at {e.at_s}s" for e in self.exits) or "")
            + f"; crash loop: {'yes' if self.crash_looped else 'no'}",
            f"gateway RSS: peak {self.rss_peak_mib:.0f} MiB (bound {RSS_LIMIT_MIB}); peak per "
            "quarter of the run " + " / ".join(f"{q:.0f}" for q in self.rss_quarters_mib),
            f"outbox points sharing a key: {self.counts.collisions}",
        ]
        if self.counts.collision_sample:
            lines.append(f"first keys the outbox holds twice: {self.counts.collision_sample}")
        if self.counts.lost_sample:
            lines.append(f"first lost keys: {self.counts.lost_sample}")
        if self.alerts.missing:
            lines.append(f"first missing alert changes: {self.alerts.missing[:5]}")
        lines.append("verdict: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


def schedule(kinds: Sequence[str], rng: random.Random) -> list[str]:
    """An endless-enough order of faults: every kind once per round, each round shuffled."""
    order: list[str] = []
    for _ in range(1000):
        order += rng.sample(list(kinds), len(kinds))
    return order


def quarters(samples: list[tuple[float, int]], duration_s: float) -> list[float]:
    peaks = [0.0] * 4
    for at_s, kib in samples:
        index = min(3, int(4 * at_s / max(duration_s, 1e-9)))
        peaks[index] = max(peaks[index], kib / 1024)
    return peaks


async def drive(
    rig: Rig, kinds: Sequence[str], rng: random.Random, seconds: float,
    *, gap_s: tuple[float, float], log: Callable[[str], None], max_faults: int | None = None,
) -> Counter[str]:  # fmt: skip
    """Start a fault after each random gap until `seconds` have passed (or `max_faults` were
    started), then wait for the last to end. Faults overlap, except two on one resource (the
    later waits). Each fault draws from its own generator, seeded here in schedule order, so a
    seed gives the same faults whatever the timing."""
    injected: Counter[str] = Counter()
    locks = {fault.resource: asyncio.Lock() for fault in FAULTS.values()}

    async def inject(kind: str, fault_rng: random.Random) -> None:
        fault = FAULTS[kind]
        async with locks[fault.resource]:
            log(f"[{rig.now_s():7.1f}s] {kind}")
            await fault.inject(rig, fault_rng)
            injected[kind] += 1

    deadline = time.monotonic() + seconds
    async with asyncio.TaskGroup() as faults:
        for kind in schedule(kinds, rng)[:max_faults]:
            gap = rng.uniform(*gap_s)
            fault_rng = random.Random(rng.getrandbits(64))
            await asyncio.sleep(min(gap, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                break
            faults.create_task(inject(kind, fault_rng))
    return injected


async def soak(
    minutes: float,
    seed: int,
    kinds: Sequence[str],
    workdir: Path,
    *,
    officers: int = 2,
    gap_s: tuple[float, float] = (10.0, 40.0),
    hold_scale: float = 1.0,
    max_faults: int | None = None,
    settle_s: float = SETTLE_S,
    log: Callable[[str], None] = print,
) -> SoakResult:
    rng = random.Random(seed)
    log(f"soak: seed {seed} (run again with --seed {seed}), {minutes:g} min, faults {kinds}")
    outbox_dir = None
    if "disk_full" in kinds:
        outbox_dir = small_filesystem(workdir / "outbox-fs")
    options = RigOptions(
        workdir, officers=officers, seed=seed, fake_clock="clock_jump" in kinds,
        outbox_dir=outbox_dir, hold_scale=hold_scale, log=log,
    )  # fmt: skip
    skipped = {k: why for k in kinds if (why := FAULTS[k].unavailable(options)) is not None}
    kinds = [k for k in kinds if k not in skipped]
    rig = await start_rig(options)
    helpers = [asyncio.create_task(rig.supervise()), asyncio.create_task(rig.sample_rss())]
    try:
        await rig.streaming()
        log(f"[{rig.now_s():7.1f}s] streaming; faults from now")
        injected = await drive(
            rig, kinds, rng, minutes * 60, gap_s=gap_s, log=log, max_faults=max_faults
        )
        log(f"[{rig.now_s():7.1f}s] faults over; settling")
        await asyncio.sleep(settle_s)
        duration_s = rig.now_s()
        status = await rig.stop_gateway()
        log(f"[{rig.now_s():7.1f}s] gateway stopped ({status}); counting")
        counts, export = await final_counts(rig)
        if counts.lost:
            # A bounded drain on stop may leave a backlog: one more run delivers it, as the
            # next start of a real gateway would. Only what is still missing then is lost.
            log(f"[{rig.now_s():7.1f}s] {counts.lost} not yet delivered: a drain run")
            rig.start_gateway(seconds=DRAIN_RUN_S)
            await asyncio.to_thread(rig.gateway.wait, DRAIN_RUN_S + 60)  # type: ignore[union-attr]
            counts, export = await final_counts(rig)
        alerts = check_alerts(export.alert_changes, workdir / "dispatch-raw.jsonl")
    finally:
        for helper in helpers:
            helper.cancel()
        await rig.close()
        if outbox_dir is not None:
            # Kept for a look afterwards: the tmpfs goes with the unmount.
            for file in outbox_dir.glob("outbox.sqlite3*"):
                shutil.copy2(file, workdir)
            await asyncio.to_thread(subprocess.run, ["umount", str(outbox_dir)], check=False)
    rss = [kib for _, kib in rig.rss_kib]
    return SoakResult(
        seed, minutes, injected, counts, alerts, rig.exits,
        rss_peak_mib=max(rss, default=0) / 1024,
        rss_quarters_mib=quarters(rig.rss_kib, duration_s),
        receiver=rig.receiver.stats,
        skipped=skipped,
    )  # fmt: skip


async def final_counts(rig: Rig) -> tuple[Counts, Export]:
    export = await asyncio.to_thread(read_export, rig.config)
    measurements = {key[0] for key in export.keys}
    stored = await asyncio.to_thread(influx_keys, rig.proxy.url, DATABASE, measurements)
    return count(export, stored, rig.proxy.written), export


def small_filesystem(folder: Path) -> Path | None:
    """A TMPFS_MIB tmpfs at `folder` for the outbox (a disk that can fill), or None if not
    allowed (mounting needs root)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MIB}m,mode=0700", "tmpfs", str(folder)],
        capture_output=True, check=False,
    )  # fmt: skip
    return folder if done.returncode == 0 else None


async def until_signalled(run: Coroutine[Any, Any, SoakResult]) -> SoakResult:
    """Run the soak; SIGTERM or SIGINT cancels it, so its cleanup still stops every process
    and unmounts the outbox's filesystem."""
    task = asyncio.ensure_future(run)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    return await task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated, of: {', '.join(FAULTS)}"
    )
    parser.add_argument("--officers", type=int, default=2)
    parser.add_argument(
        "--gap-s", type=float, nargs=2, default=(10.0, 40.0), metavar=("MIN", "MAX")
    )
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary one")
    args = parser.parse_args()
    kinds = [k for k in args.faults.split(",") if k]
    unknown = [k for k in kinds if k not in FAULTS]
    if unknown:
        parser.error(f"unknown fault kinds {unknown}; known: {', '.join(FAULTS)}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(
            until_signalled(
                soak(args.minutes, seed, kinds, workdir, officers=args.officers,
                     gap_s=tuple(args.gap_s))
            )
        )  # fmt: skip
    print(result.table())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
