"""BLE path benchmark: connect+discover+subscribe time, notification throughput and latency.

    .venv/bin/python bench/ble_throughput.py [--repeat 5]

Runs the gateway's bleak backend over Bumble against simulated vests, two ways:
- in-process: devices and gateway host on one virtual link, in one event loop;
- over TCP: the devices in a child process (`serve` mode) exporting a controller over an HCI TCP
  transport, the gateway host in this process, as `bluewatch simulate` and the gateway run.
Latency is stamped by the sender with CLOCK_MONOTONIC (time.monotonic_ns, shared by processes
on Linux) and measured on receipt in the bleak notification callback. Prints JSON lines and a
Markdown summary of medians over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bleak import BleakClient

from firmware_mocks.devices.gatt import DeviceIdentity
from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_backend import BumbleClient
from gateway.ble.bumble_stack import BumbleStack
from sensors import OFFICER_SAFETY_SERVICE_UUID, VEST, ImuBatch
from tests.support.network import free_port

PAYLOAD_SIZE = 20  # a small notification: 8-byte timestamp + padding


def address(index: int) -> str:
    return f"D0:00:00:00:{index // 256:02X}:{index % 256:02X}"


async def make_devices(radio: VirtualRadio, count: int, advertising_ms: float) -> list[Peripheral]:
    devices = []
    for index in range(count):
        identity = DeviceIdentity("bench", "bench", f"B{index}", "1", "1", "1")
        peripheral = Peripheral(
            radio.device(f"BW-Vest-B{index:04d}", address(index)), VEST, identity, advertising_ms
        )
        await peripheral.power_on()
        devices.append(peripheral)
    return devices


async def send(devices: list[Peripheral], total: int, rate: float | None) -> float:
    """Notify `total` stamped payloads round-robin; paced at `rate`/s, else as fast as possible."""
    started = time.monotonic()
    for number in range(total):
        if rate:
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        payload = struct.pack("<Q", time.monotonic_ns()).ljust(PAYLOAD_SIZE, b"\0")
        await devices[number % len(devices)].notify(ImuBatch.UUID, payload)
    return time.monotonic() - started


@dataclass
class Receiver:
    latencies_ns: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0
    first_ns: int = 0
    last_ns: int = 0

    def reset(self, expected: int) -> None:
        self.latencies_ns.clear()
        self.done.clear()
        self.expected = expected

    def on_notification(self, _: object, data: bytearray) -> None:
        now = time.monotonic_ns()
        if not self.latencies_ns:
            self.first_ns = now
        self.last_ns = now
        self.latencies_ns.append(now - struct.unpack_from("<Q", data)[0])
        if len(self.latencies_ns) >= self.expected:
            self.done.set()


async def connect_all(
    stack: BumbleStack, count: int, receiver: Receiver
) -> tuple[float, list[BleakClient]]:
    """Connect, discover (the Officer Safety service), bond (the firmware serves it encrypted
    only, as to the gateway) and subscribe to `count` devices at once."""

    async def one(index: int) -> BleakClient:
        client = BleakClient(
            address(index),
            services=[OFFICER_SAFETY_SERVICE_UUID],
            backend=BumbleClient,
            bumble_stack=stack,
            timeout=30,
        )
        await client.connect()
        await client.pair()
        await client.start_notify(ImuBatch.UUID, receiver.on_notification)
        return client

    started = time.monotonic()
    clients = await asyncio.gather(*(one(index) for index in range(count)))
    return time.monotonic() - started, list(clients)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


async def measure(
    stack: BumbleStack, count: int, sender: Any, total: int, rate: float | None
) -> dict[str, float]:
    receiver = Receiver()
    connect_s, clients = await connect_all(stack, count, receiver)
    result: dict[str, float] = {"connect_s": connect_s}
    if total:
        receiver.reset(total)
        await sender(total, rate)
        async with asyncio.timeout(120):
            await receiver.done.wait()
        span_s = (receiver.last_ns - receiver.first_ns) / 1e9
        result |= {
            "notifications_per_s": total / span_s if span_s > 0 else float("inf"),
            "latency_p50_ms": percentile(receiver.latencies_ns, 0.50),
            "latency_p99_ms": percentile(receiver.latencies_ns, 0.99),
        }
    for client in clients:
        await client.disconnect()
    return result


async def in_process(
    count: int, advertising_ms: float, total: int, rate: float | None
) -> dict[str, float]:
    radio = VirtualRadio()
    devices = await make_devices(radio, count, advertising_ms)
    stack = await BumbleStack.attach(*radio.host_pipe())
    try:
        return await measure(stack, count, lambda n, r: send(devices, n, r), total, rate)
    finally:
        await stack.close()
        # Powered-off devices stop advertising: otherwise every finished case leaves 20 timers
        # firing at 50 Hz in this event loop, and later cases measure that load.
        for device in devices:
            await device.device.power_off()


async def over_tcp(
    count: int, advertising_ms: float, total: int, rate: float | None
) -> dict[str, float]:
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "serve",
        "--port",
        str(port),
        "--devices",
        str(count),
        "--advertising-ms",
        str(advertising_ms),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin
    assert child.stdout
    try:
        await child.stdout.readline()  # "ready"
        stack = await BumbleStack.open(f"tcp-client:127.0.0.1:{port}")

        async def remote_send(n: int, r: float | None) -> None:
            assert child.stdin
            assert child.stdout
            child.stdin.write(f"{n} {r or 0}\n".encode())
            await child.stdin.drain()
            await child.stdout.readline()

        try:
            return await measure(stack, count, remote_send, total, rate)
        finally:
            await stack.close()
    finally:
        child.stdin.close()
        await child.wait()


async def serve(port: int, count: int, advertising_ms: float) -> None:
    radio = VirtualRadio()
    devices = await make_devices(radio, count, advertising_ms)
    exported = await radio.export(f"tcp-server:127.0.0.1:{port}")
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        total, rate = line.split()
        await send(devices, int(total), float(rate) or None)
        print("done", flush=True)
    # Let advertising restarted by the gateway's goodbyes settle before the loop goes away.
    await asyncio.sleep(0.3)
    await exported.close()


CASES: list[dict[str, Any]] = [
    # name, transport, devices, advertising interval, notifications, paced rate
    {"case": "connect 1", "devices": 1, "advertising_ms": 20, "total": 0, "rate": None},
    {"case": "connect 20", "devices": 20, "advertising_ms": 20, "total": 0, "rate": None},
    {
        "case": "connect 20 (100 ms adv.)",
        "devices": 20,
        "advertising_ms": 100,
        "total": 0,
        "rate": None,
    },
    {
        "case": "throughput, 20 devices",
        "devices": 20,
        "advertising_ms": 20,
        "total": 20000,
        "rate": None,
    },
    {
        "case": "latency at 1700/s, 20 devices",
        "devices": 20,
        "advertising_ms": 20,
        "total": 8500,
        "rate": 1700,
    },
]


RUNNERS = {"in-process": in_process, "tcp": over_tcp}


async def run_case(transport: str, index: int, repeat: int) -> dict[str, Any]:
    case = CASES[index]
    runs = [
        await RUNNERS[transport](
            case["devices"], case["advertising_ms"], case["total"], case["rate"]
        )
        for _ in range(repeat)
    ]
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return {"transport": transport, **case, "repeat": repeat, **medians}


def main(repeat: int) -> None:
    """Every case in a fresh process: one case's leftovers (timers, heap) never load the next."""
    rows = []
    for transport in RUNNERS:
        for index in range(len(CASES)):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "case",
                    "--transport",
                    transport,
                    "--case",
                    str(index),
                    "--repeat",
                    str(repeat),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout.splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| transport | case | connect (s) | notifications/s | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        keys = ("connect_s", "notifications_per_s", "latency_p50_ms", "latency_p99_ms")
        cells = [f"{row[k]:.3g}" if k in row else "—" for k in keys]
        print(f"| {row['transport']} | {row['case']} | " + " | ".join(cells) + " |")
    print(f"\nmedians of {repeat} runs; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=("run", "serve", "case"))
    parser.add_argument("--transport", choices=("in-process", "tcp"), default="in-process")
    parser.add_argument("--case", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--port", type=int)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--advertising-ms", type=float, default=20)
    options = parser.parse_args()
    if options.mode == "serve":
        asyncio.run(serve(options.port, options.devices, options.advertising_ms))
    elif options.mode == "case":
        print(json.dumps(asyncio.run(run_case(options.transport, options.case, options.repeat))))
    else:
        main(options.repeat)
