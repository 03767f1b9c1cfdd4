"""The soak's fault kinds: a table of kind → injector, each a small coroutine.

An injector breaks one thing, holds the fault for a random time from its own seeded random
generator, and puts it right again in a `finally` (so an interrupted soak leaves nothing broken).
To add a fault: write an injector and add a row to FAULTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.soak_rig import LIBFAKETIME, WEBHOOK_TIMEOUT_S, Rig, RigOptions
from gateway.commands.dispatch_sink import Faults

Injector = Callable[[Rig, random.Random], Awaitable[None]]


async def hold(rig: Rig, rng: random.Random, low_s: float, high_s: float) -> None:
    """Keep a fault for a random time in [low_s, high_s], times the soak's hold scale."""
    await asyncio.sleep(rng.uniform(low_s, high_s) * rig.options.hold_scale)


async def gateway_kill(rig: Rig, rng: random.Random) -> None:
    """`kill -9` of the gateway; the supervisor starts it again (systemd's Restart=)."""
    rig.kill_gateway(signal.SIGKILL)
    await hold(rig, rng, 2, 5)


async def influxdb_restart(rig: Rig, rng: random.Random) -> None:
    """InfluxDB stopped (SIGTERM) for a while, then started again on the same data."""
    await rig.proxy.pause()
    await asyncio.to_thread(rig.influx.stop)
    try:
        await hold(rig, rng, 3, 20)
    finally:
        await asyncio.to_thread(rig.influx.start)
        await rig.proxy.resume()


async def broker_restart(rig: Rig, rng: random.Random) -> None:
    """The MQTT broker stopped for a while, then started again."""
    await asyncio.to_thread(rig.broker.stop)
    try:
        await hold(rig, rng, 2, 15)
    finally:
        await asyncio.to_thread(rig.broker.start)


async def receiver_500(rig: Rig, rng: random.Random) -> None:
    """The dispatch receiver answers 500 to every request for a while."""
    rig.receiver_faults(Faults(failing=True))
    try:
        await hold(rig, rng, 3, 20)
    finally:
        rig.receiver_faults(Faults())


async def receiver_timeout(rig: Rig, rng: random.Random) -> None:
    """The dispatch receiver handles each request but answers after the gateway gave up."""
    rig.receiver_faults(Faults(delay_s=WEBHOOK_TIMEOUT_S + 1.0))
    try:
        await hold(rig, rng, 3, 20)
    finally:
        rig.receiver_faults(Faults())


async def ble_drop(rig: Rig, rng: random.Random) -> None:
    """Every BLE link dropped at once, the devices out of range for a while: past the
    gateway's lost_after_s, so device-lost alerts are raised and then cleared (the alert
    traffic whose delivery to dispatch the soak checks)."""
    rig.links(up=False)
    try:
        await asyncio.sleep(rig.lost_after_s + 2.0)  # links are graded once a second
        await hold(rig, rng, 0, 10)
    finally:
        rig.links(up=True)


async def clock_jump(rig: Rig, rng: random.Random) -> None:
    """The gateway's wall clock an hour ahead or behind for a while (libfaketime)."""
    rig.shift_clock(rng.choice(("+1h", "-1h")))
    try:
        await hold(rig, rng, 5, 30)
    finally:
        rig.shift_clock("+0")


async def disk_full(rig: Rig, rng: random.Random) -> None:
    """The outbox's filesystem filled to the last byte for a while, then freed."""
    folder = rig.options.outbox_dir
    assert folder is not None, "disk_full needs the outbox on a size-limited filesystem"
    filler = folder / "filler"
    try:
        await asyncio.to_thread(fill, filler)
        await hold(rig, rng, 3, 15)
    finally:
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()


def fill(path: Path) -> None:
    """Write zeros to `path` until the filesystem has no space left."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # then smaller writes fill what a larger no longer fit
            with contextlib.suppress(OSError):  # ENOSPC: full, which is the point
                while True:
                    os.write(descriptor, b"\0" * size)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Fault:
    inject: Injector
    resource: str  # what it breaks: two faults on one resource never overlap
    # Why this kind cannot run here (a missing tool or privilege), or None.
    unavailable: Callable[[RigOptions], str | None] = lambda _: None


def _without_libfaketime(_: RigOptions) -> str | None:
    return None if LIBFAKETIME.exists() else f"{LIBFAKETIME} missing (Debian package faketime)"


def _without_small_filesystem(options: RigOptions) -> str | None:
    if options.outbox_dir is None:
        return "needs root to mount a size-limited tmpfs for the outbox"
    return None


FAULTS: Final[dict[str, Fault]] = {
    "gateway_kill": Fault(gateway_kill, "gateway"),
    "influxdb_restart": Fault(influxdb_restart, "influxdb"),
    "broker_restart": Fault(broker_restart, "broker"),
    "receiver_500": Fault(receiver_500, "receiver"),
    "receiver_timeout": Fault(receiver_timeout, "receiver"),
    "ble_drop": Fault(ble_drop, "fleet"),
    "clock_jump": Fault(clock_jump, "clock", _without_libfaketime),
    "disk_full": Fault(disk_full, "disk", _without_small_filesystem),
}
