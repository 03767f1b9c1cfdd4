"""Several adapters: time to connect a fleet, and failover when a controller is pulled out.

    .venv/bin/python bench/adapters.py [--repeat 5] [--devices 64] [--connect-slots N]

The simulated devices run in a child process (`serve` mode) on one virtual radio that serves
each gateway-side controller over its own HCI TCP connection, as `bluewatch simulate` does; the
gateway's device manager runs in this process with one Bumble stack per controller. Every
connected device notifies its heart rate every `--notify-ms`; a device counts as streaming
when the gateway has received a notification from it.

Each device bonds on its first connection (LE Secure Connections), so the fleet is measured
twice: the first connection of all (bonding included), then, after the links are closed, a new
device manager on the same stacks connecting all again with the bonds (a gateway restarted).

Cases, each in a fresh pair of processes per run:
- baseline: every device on one controller (the single-adapter gateway);
- adapters: the same devices over four controllers, each hearing "its" quarter best. Once all
  stream again, one controller is unplugged (its peers' links drop, its TCP connection closes)
  and the time until each of its devices streams again through another is measured (each bonds
  with the adapter it moves to: bonds are per adapter).

Each phase also records the CPU time the measuring process (the gateway) and the fleet's process
used during it: on a shared machine, wall times follow the other work, and these say which of the
two processes the time went to.

Prints one JSON line per run and a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_mocks.devices.gatt import DeviceIdentity
from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.radio import PluggableController, VirtualRadio
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DEFAULT_CONNECT_SLOTS, DeviceManager
from gateway.domain import DeviceRef, UnitRef
from sensors import VEST, DeviceModel, HeartRateMeasurement
from sensors.uuids import normalize_uuid

UNIT = UnitRef("bench", "car-1")
# Generous: on a loaded machine a single controller takes minutes to connect 64 devices.
RUN_TIMEOUT_S = 300.0
# What the controller a device is placed near hears it at, and the others: the vehicle's
# quarters, a few dB of spread each, so that the lost controller's devices spread by signal.
NEAR_DBM, FAR_DBM, SPREAD_DB = -50, -70, 8


def address(index: int) -> str:
    return f"D1:00:00:00:{index // 256:02X}:{index % 256:02X}"


def rssi_table(controllers: int, devices: int, seed: int) -> list[list[int]]:
    """`[c][d]`: how controller `c` hears device `d`; device d is nearest controller d % c."""
    rng = random.Random(seed)
    return [
        [
            (NEAR_DBM if d % controllers == c else FAR_DBM) - rng.randrange(SPREAD_DB)
            for d in range(devices)
        ]
        for c in range(controllers)
    ]


async def serve(controllers: int, devices: int, notify_ms: float, seed: int) -> None:
    """The fleet: devices notifying while connected; `unplug N` on stdin pulls controller N."""
    radio = VirtualRadio()
    vests = []
    for index in range(devices):
        identity = DeviceIdentity("bench", "bench", f"A{index}", "1", "1", "1")
        vest = Peripheral(radio.device(f"BW-Vest-A{index:04d}", address(index)), VEST, identity)
        await vest.power_on()
        vests.append(vest)
    plugged: list[PluggableController] = []
    for c, heard in enumerate(rssi_table(controllers, devices, seed)):
        controller = await radio.pluggable(f"adapter{c}")
        controller.controller.rssi_from = {address(d): level for d, level in enumerate(heard)}
        plugged.append(controller)
    print(json.dumps({"ports": [c.port for c in plugged]}), flush=True)

    async def notify_forever() -> None:
        value = HeartRateMeasurement(heart_rate_bpm=70).encode()
        while True:
            for vest in vests:
                await vest.notify(HeartRateMeasurement.UUID, value)
            await asyncio.sleep(notify_ms / 1000)

    notifier = asyncio.create_task(notify_forever())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        _, number = line.split()
        await plugged[int(number)].unplug()
        print("unplugged", flush=True)
    notifier.cancel()
    for controller in plugged:
        await controller.close()


def cpu_s(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime, the 14th and 15th fields of the whole line, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PhaseCpu:
    """The CPU time the gateway (this process) and the fleet's process use during a phase."""

    def __init__(self, fleet_pid: int) -> None:
        self._fleet_pid = fleet_pid
        self._start = self._now()

    def _now(self) -> tuple[float, float]:
        return time.process_time(), cpu_s(self._fleet_pid)

    def used(self) -> dict[str, float]:
        """CPU seconds used by each process since the last call (or since construction)."""
        now = self._now()
        gateway, fleet = (round(b - a, 2) for a, b in zip(self._start, now, strict=True))
        self._start = now
        return {"gateway": gateway, "fleet": fleet}


# The characteristic each vest notifies: only its values count as streaming. The manager also
# hands on what it reads once after connecting (device information), through the same callback,
# before it subscribes; a read value is not yet a stream.
STREAMED_UUID = normalize_uuid(HeartRateMeasurement.UUID)


class Streams:
    """When each device's stream was last heard from, by the gateway's notification callback."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def on_notification(self, ref: DeviceRef, uuid: str, data: bytes, received_ns: int) -> None:
        del data, received_ns
        if normalize_uuid(uuid) == STREAMED_UUID:
            self.last[ref.device_id] = time.monotonic()

    def count_since(self, devices: set[str], since: float) -> int:
        return sum(self.last.get(d, -1.0) > since for d in devices)

    async def all_since(self, devices: set[str], since: float) -> float | None:
        """Wait until every one of `devices` was heard after `since`; the time that took, or
        None after RUN_TIMEOUT_S."""
        try:
            async with asyncio.timeout(RUN_TIMEOUT_S):
                while self.count_since(devices, since) < len(devices):
                    await asyncio.sleep(0.005)
        except TimeoutError:
            return None
        return max(self.last[d] for d in devices) - since


async def one_run(
    controllers: int,
    devices: int,
    link_limit: int,
    notify_ms: float,
    seed: int,
    *,
    connect_slots: int = DEFAULT_CONNECT_SLOTS,
) -> dict[str, Any]:
    """One case in a fresh fleet process; `connect_slots`: the manager's
    `max_concurrent_connects` (per adapter)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "serve", "--controllers", str(controllers),
        "--devices", str(devices), "--notify-ms", str(notify_ms), "--seed", str(seed),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    ports = json.loads(await child.stdout.readline())["ports"]
    stacks = [await BumbleStack.open(f"tcp-client:127.0.0.1:{port}") for port in ports]
    factory = BleakFactory.bumble(*stacks, link_limit=link_limit)
    roster = [
        DeviceRef(UNIT, f"o{d}", f"d{d}", DeviceModel.BLUEWATCH_VEST, address=address(d))
        for d in range(devices)
    ]
    streams = Streams()
    loop = asyncio.get_running_loop()

    def start() -> tuple[DeviceManager, asyncio.Task[None]]:
        manager = DeviceManager(
            roster,
            factory,
            streams.on_notification,
            stale_after_s=5,
            lost_after_s=20,
            clock_ns=time.time_ns,
            monotonic=loop.time,
            max_concurrent_connects=connect_slots,
        )
        return manager, asyncio.create_task(manager.run())

    async def stop(manager: DeviceManager, task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.close()

    cpu = PhaseCpu(child.pid)
    started = time.monotonic()
    manager, task = start()
    # The machine's load: a shared machine's other work starves both processes' timers.
    result: dict[str, Any] = {"loadavg_1min": os.getloadavg()[0]}
    try:
        everyone = set(manager.devices)
        # First use: every device bonds (LE Secure Connections) with the adapter it is placed on.
        result["connect_all_s"] = await streams.all_since(everyone, started)
        result["connect_cpu_s"] = cpu.used()
        result["links"] = [load.links for load in manager.adapter_loads()]
        if result["connect_all_s"] is None:
            result["streaming_at_timeout"] = streams.count_since(everyone, started)
            return result
        # Reconnect: the links closed, a new manager on the same stacks (the gateway restarted
        # with its bonds kept) connects every device again, encrypting with the bond it has.
        await stop(manager, task)
        cpu.used()  # the stop is no phase's
        restarted = time.monotonic()
        manager, task = start()
        result["reconnect_all_s"] = await streams.all_since(everyone, restarted)
        result["reconnect_cpu_s"] = cpu.used()
        if result["reconnect_all_s"] is None:
            result["streaming_at_timeout"] = streams.count_since(everyone, restarted)
        elif controllers > 1:
            lost = factory.adapters[0].name
            moving = {d for d, m in manager.devices.items() if m.adapter == lost}
            child.stdin.write(b"unplug 0\n")
            await child.stdin.drain()
            unplugged = time.monotonic()
            await child.stdout.readline()
            # Each moved device bonds with the adapter it moves to: bonds are per adapter.
            result["failover_s"] = await streams.all_since(moving, unplugged)
            result["moved"] = len(moving)
            if result["failover_s"] is None:
                result["moved_streaming_at_timeout"] = streams.count_since(moving, unplugged)
            result["links_after"] = [load.links for load in manager.adapter_loads()]
    finally:
        await stop(manager, task)
        await factory.close()
        child.stdin.close()
        await child.wait()
    return result


CONTROLLERS = 4


def cases(devices: int) -> dict[str, dict[str, int]]:
    """The two cases for a fleet of `devices` (64: the goal's fleet)."""
    return {
        # Every device on one controller: the gateway as it was, one adapter taking every link.
        "baseline": {"controllers": 1, "devices": devices, "link_limit": devices},
        # Four controllers carrying a quarter each (16 links for 64 devices); the limit leaves
        # the three that remain room for the lost controller's quarter (24 for 64: 8 free each),
        # as a vehicle's spare capacity must.
        "adapters": {
            "controllers": CONTROLLERS,
            "devices": devices,
            "link_limit": -(-devices // (CONTROLLERS - 1)),
        },
    }


def main(repeat: int, notify_ms: float, devices: int, connect_slots: int) -> None:
    rows: dict[str, list[dict[str, Any]]] = {}
    shapes = cases(devices)
    for case, shape in shapes.items():
        for run in range(repeat):
            done = subprocess.run(
                [sys.executable, __file__, "case", "--case", case, "--seed", str(run),
                 "--notify-ms", str(notify_ms), "--devices", str(devices),
                 "--connect-slots", str(connect_slots)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            row = json.loads(done.stdout.splitlines()[-1])
            print(json.dumps({"case": case, **shape, "run": run, **row}), flush=True)
            rows.setdefault(case, []).append(row)
    print(
        f"\n| case | first connect of {devices} (s) | ratio | reconnect of {devices} (s) "
        "| ratio | failover (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    limit = shapes["adapters"]["link_limit"]
    labels = {
        "baseline": "1 controller (baseline)",
        "adapters": f"{CONTROLLERS} controllers, limit {limit}",
    }
    first_base = median_of(rows["baseline"], "connect_all_s")
    again_base = median_of(rows["baseline"], "reconnect_all_s")
    for case, label in labels.items():
        first = median_of(rows[case], "connect_all_s")
        again = median_of(rows[case], "reconnect_all_s")
        failover = median_of(rows[case], "failover_s")
        print(
            f"| {label} | {shown(first)} | {ratio(first, first_base)} | {shown(again)} "
            f"| {ratio(again, again_base)} | {shown(failover) if case != 'baseline' else '—'} |"
        )
    print("\n| case | first connect: gateway CPU (s) | fleet CPU (s) |\n|---|---:|---:|")
    for case, label in labels.items():
        used = [row["connect_cpu_s"] for row in rows[case] if "connect_cpu_s" in row]
        gateway = statistics.median(u["gateway"] for u in used) if used else None
        fleet = statistics.median(u["fleet"] for u in used) if used else None
        print(f"| {label} | {shown(gateway)} | {shown(fleet)} |")
    print(
        f"\nmedians of the runs that finished within {RUN_TIMEOUT_S:g} s, of {repeat}; "
        f"streaming = a notification received (every {notify_ms:g} ms per device); "
        f"first connect bonds, reconnect uses the bonds, failover bonds with the new adapter; "
        f"connection slots per adapter: {connect_slots}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}"
    )


def ratio(value: float | None, base: float | None) -> str:
    return "—" if value is None or base is None else f"{value / base:.2f}"


def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [row[key] for row in rows if row.get(key) is not None]
    return statistics.median(values) if values else None


def shown(value: float | None) -> str:
    return "did not finish" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=("run", "serve", "case"))
    parser.add_argument("--case", choices=("baseline", "adapters"), default="adapters")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--controllers", type=int, default=4)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--notify-ms", type=float, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--connect-slots", type=int, default=DEFAULT_CONNECT_SLOTS,
        help="the device manager's max_concurrent_connects (per adapter)",
    )  # fmt: skip
    options = parser.parse_args()
    if options.mode == "serve":
        asyncio.run(serve(options.controllers, options.devices, options.notify_ms, options.seed))
    elif options.mode == "case":
        shape = cases(options.devices)[options.case]
        print(
            json.dumps(
                asyncio.run(
                    one_run(
                        shape["controllers"], shape["devices"], shape["link_limit"],
                        options.notify_ms, options.seed, connect_slots=options.connect_slots,
                    )
                )
            )
        )  # fmt: skip
    else:
        main(options.repeat, options.notify_ms, options.devices, options.connect_slots)
