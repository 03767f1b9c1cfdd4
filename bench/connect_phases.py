"""Where a fleet's first connection spends its time: each device's phases, timed.

    .venv/bin/python bench/connect_phases.py [--devices 64] [--connect-slots N]

Runs the four-controller case of bench/adapters.py once, with the device manager's and the
Bumble backend's steps wrapped to note when each device reached each one: placed on an adapter,
given a connection slot, its connect asked of the stack, link up, GATT discovery (or the GATT
cache), pairing, subscriptions, first read value, first streamed value (a notification of its
heart rate). Only each device's first connection counts. Prints, per phase, the median and
largest time over the devices, and per adapter the time from its first connect asked to its
last link up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bumble import hci
from bumble.device import Connection

from bench.adapters import CONTROLLERS, STREAMED_UUID, Streams, address, cases, one_run
from gateway.ble import bumble_backend, bumble_stack, manager
from gateway.ble.manager import DEFAULT_CONNECT_SLOTS
from gateway.domain import DeviceRef
from sensors.uuids import normalize_uuid

T = TypeVar("T")
# (phase, from mark, to mark)
PHASES = (
    ("wait for a connection slot", "placed", "slot"),
    ("create connection, asked to link up", "connect asked", "link up"),
    ("MTU exchange", "link up", "discovery"),
    ("GATT discovery", "discovery", "discovered"),
    ("pairing", "pairing", "paired"),
    ("subscribing, to the first read value", "subscribing", "read"),
    ("subscribing, to the first streamed value", "subscribing", "first value"),
    ("slot held", "slot", "slot freed"),
)


class Marks:
    """When each device (by address) first reached each mark, in seconds since `start`."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.by_device: dict[str, dict[str, float]] = {}

    def note(self, device: str, mark: str) -> None:
        self.by_device.setdefault(device.upper(), {}).setdefault(
            mark, time.monotonic() - self.start
        )

    async def around(self, device: str, before: str, after: str, work: Awaitable[T]) -> T:
        self.note(device, before)
        try:
            return await work
        finally:
            self.note(device, after)


def instrument(marks: Marks) -> None:
    """Wrap the steps of a connection (class attributes, for this process only)."""
    manager_cls, client_cls = manager.DeviceManager, bumble_backend.BumbleClient
    connect_and_stream = manager_cls._connect_and_stream
    connect = manager_cls._connect
    subscribe = manager_cls._subscribe
    discover = client_cls._discover
    pair = client_cls.pair
    stack_connect = bumble_stack.BumbleStack.connect

    def device_of(managed: manager.ManagedDevice) -> str:
        return managed.ref.address or managed.ref.device_id

    async def timed_connect_and_stream(
        self: manager.DeviceManager, managed: manager.ManagedDevice, *args: Any
    ) -> float | None:
        marks.note(device_of(managed), "placed")
        return await connect_and_stream(self, managed, *args)

    async def timed_connect(
        self: manager.DeviceManager, managed: manager.ManagedDevice, *args: Any
    ) -> Any:
        work = connect(self, managed, *args)
        return await marks.around(device_of(managed), "slot", "slot freed", work)

    async def timed_subscribe(
        self: manager.DeviceManager, managed: manager.ManagedDevice, *args: Any
    ) -> None:
        marks.note(device_of(managed), "subscribing")
        await subscribe(self, managed, *args)

    async def timed_discover(self: bumble_backend.BumbleClient, *args: Any) -> Any:
        return await marks.around(self.address, "discovery", "discovered", discover(self, *args))

    async def timed_pair(self: bumble_backend.BumbleClient, *args: Any, **kwargs: Any) -> None:
        await marks.around(self.address, "pairing", "paired", pair(self, *args, **kwargs))

    async def timed_stack_connect(
        self: bumble_stack.BumbleStack,
        peer: hci.Address,
        timeout: float,  # noqa: ASYNC109
    ) -> Connection:
        work = stack_connect(self, peer, timeout)
        return await marks.around(peer.to_string(False), "connect asked", "link up", work)

    manager_cls._connect_and_stream = timed_connect_and_stream  # type: ignore[method-assign,assignment]
    manager_cls._connect = timed_connect  # type: ignore[method-assign,assignment]
    manager_cls._subscribe = timed_subscribe  # type: ignore[method-assign,assignment]
    client_cls._discover = timed_discover  # type: ignore[method-assign,assignment]
    client_cls.pair = timed_pair  # type: ignore[method-assign]
    bumble_stack.BumbleStack.connect = timed_stack_connect  # type: ignore[method-assign,assignment]


def first_values(marks: Marks) -> None:
    """Note each device's first read value and first streamed value handed on by the manager
    (the bench's "streaming": a notification of the streamed characteristic)."""
    on_notification = Streams.on_notification

    def timed(self: Streams, ref: DeviceRef, uuid: str, data: bytes, received_ns: int) -> None:
        device = ref.address or ref.device_id
        marks.note(device, "first value" if normalize_uuid(uuid) == STREAMED_UUID else "read")
        on_notification(self, ref, uuid, data, received_ns)

    Streams.on_notification = timed  # type: ignore[method-assign]


def summary(marks: Marks, devices: int) -> dict[str, Any]:
    rows = marks.by_device
    phases: dict[str, dict[str, float]] = {}
    for name, begin, end in PHASES:
        spans = [row[end] - row[begin] for row in rows.values() if begin in row and end in row]
        if spans:
            phases[name] = {
                "median_s": round(statistics.median(spans), 3),
                "max_s": round(max(spans), 3),
            }
    adapters = []
    for controller in range(CONTROLLERS):
        # bench/adapters.py places device d nearest controller d % CONTROLLERS.
        mine = [rows[address(d)] for d in range(controller, devices, CONTROLLERS)]
        linked = [row["link up"] for row in mine if "link up" in row]
        asked = [row["connect asked"] for row in mine if "connect asked" in row]
        if linked:
            # The controller's links, from its first connect asked to its last link up.
            adapters.append({"devices": len(linked), "span_s": round(max(linked) - min(asked), 2)})
    placed = [row["placed"] for row in rows.values() if "placed" in row]
    first = [row["first value"] for row in rows.values() if "first value" in row]
    return {
        "first_placed_to_last_value_s": round(max(first) - min(placed), 2) if first else None,
        "phases": phases,
        "adapters": adapters,
    }


async def run(devices: int, connect_slots: int) -> dict[str, Any]:
    marks = Marks()
    instrument(marks)
    first_values(marks)
    shape = cases(devices)["adapters"]
    result = await one_run(
        shape["controllers"], devices, shape["link_limit"], 100, 0, connect_slots=connect_slots
    )
    return {"run": result, **summary(marks, devices)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--connect-slots", type=int, default=DEFAULT_CONNECT_SLOTS)
    options = parser.parse_args()
    print(json.dumps(asyncio.run(run(options.devices, options.connect_slots)), indent=1))
