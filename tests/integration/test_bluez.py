"""The BlueZ path, bleak's default backend, against a mock bluetoothd (tests/integration/
bluez_mock.py): adapters listed, devices discovered through the adapter that hears them,
connect, a GATT read and notifications decoded by the pipeline, and failover when an adapter
is removed or bluetoothd leaves the bus. What stays untested on BlueZ: docs/install.md, "BlueZ".
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.backoff import BackoffPolicy
from gateway.ble.factory import BleakFactory, BleSettings
from gateway.ble.manager import DeviceManager
from gateway.ble.placement import SETTLE_S
from gateway.commands import Streams
from gateway.commands.scan import scan_with
from gateway.domain import DeviceRef, UnitRef
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import Pipeline
from sensors import (
    BatteryLevel,
    BodySensorLocation,
    Characteristic,
    DeviceModel,
    HeartRateMeasurement,
    SensorLocation,
)
from sensors.profiles import BATTERY_SERVICE, HEART_RATE_SERVICE
from tests.integration.bluez_mock import GattCharacteristic, MockBlueZ, bluez

__all__ = ["bluez"]

TIMEOUT_S = 4
UNIT = UnitRef("pd", "car-1")
ADDRESS = "C5:00:00:00:00:01"
STRAP = DeviceRef(UNIT, "o1", "o1-hrs", DeviceModel.GENERIC_HRS, address=ADDRESS)


async def wait_for(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not condition():
            await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Strap:
    """A heart-rate strap's objects under one adapter."""

    path: str
    chars: dict[str, str]  # object paths by UUID


def add_strap(bluez: MockBlueZ, adapter: str, rssi: int) -> Strap:
    """A heart-rate strap as `adapter` sees it: advertising, with its GATT objects."""
    path = bluez.add_device(adapter, ADDRESS, "Strap")
    location = BodySensorLocation(body_sensor_location=SensorLocation.CHEST).encode()
    chars = bluez.add_service(
        path,
        0x0010,
        HEART_RATE_SERVICE,
        [
            GattCharacteristic(HeartRateMeasurement.UUID, ("notify",)),
            GattCharacteristic(BodySensorLocation.UUID, ("read",), location),
        ],
    )
    chars |= bluez.add_service(
        path,
        0x0020,
        BATTERY_SERVICE,
        [
            GattCharacteristic(
                BatteryLevel.UUID, ("read", "notify"), BatteryLevel(battery_pct=81).encode()
            )
        ],
    )
    bluez.advertise(path, [HEART_RATE_SERVICE], rssi)
    return Strap(path, chars)


@dataclass
class Rig:
    manager: DeviceManager
    factory: BleakFactory
    readings: list[Characteristic]


@asynccontextmanager
async def rig(bluez: MockBlueZ, tmp_path: Path, adapters: tuple[str, ...]) -> AsyncIterator[Rig]:
    """`adapters` plugged in, and the device manager on BlueZ through them, feeding a pipeline;
    yielded once every adapter scans."""
    for adapter in adapters:
        bluez.add_adapter(adapter)
    loop = asyncio.get_running_loop()
    factory = await BleakFactory.open(BleSettings(adapters=adapters))
    readings: list[Characteristic] = []
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    pipeline = Pipeline(
        AsyncOutbox(outbox), monotonic=loop.time, observers=[lambda d, r, t: readings.append(r)]
    )
    manager = DeviceManager(
        [STRAP],
        factory,
        pipeline.submit,
        stale_after_s=2,
        lost_after_s=5,
        clock_ns=lambda: int(loop.time() * 1e9),
        monotonic=loop.time,
        backoff=BackoffPolicy(first_s=0.05, cap_s=0.2),
        rng=random.Random(1),
    )
    tasks = [asyncio.create_task(manager.run()), asyncio.create_task(pipeline.run())]
    try:
        await wait_for(lambda: all(bluez.discovering(adapter) for adapter in adapters))
        yield Rig(manager, factory, readings)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        async with asyncio.timeout(TIMEOUT_S):
            await manager.close()
            await factory.close()
        outbox.close()


async def test_scan_lists_each_adapter_and_what_it_hears(bluez: MockBlueZ) -> None:
    bluez.add_adapter("hci0")
    bluez.add_adapter("hci1")
    factory = await BleakFactory.open(BleSettings(adapters=("hci0", "hci1")))
    out = io.StringIO()

    async def advertise_soon() -> None:
        await wait_for(lambda: bluez.discovering("hci0") and bluez.discovering("hci1"))
        add_strap(bluez, "hci1", rssi=-55)

    try:
        task = asyncio.create_task(advertise_soon())
        assert await scan_with(factory, 0.6, Streams(io.StringIO(), out, io.StringIO())) == 0
        await task
    finally:
        await factory.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    device = next(line for line in lines if line.get("address") == ADDRESS)
    assert device["adapters"] == {"hci1": -55}
    assert device["model"] == DeviceModel.GENERIC_HRS.value
    adapters = [line for line in lines if "address" not in line]
    assert [a["adapter"] for a in adapters] == ["hci0", "hci1"]


async def test_strap_read_and_notified_through_its_adapter(
    bluez: MockBlueZ, tmp_path: Path
) -> None:
    async with rig(bluez, tmp_path, ("hci0",)) as r:
        strap = add_strap(bluez, "hci0", rssi=-50)
        await wait_for(lambda: r.manager.devices["o1-hrs"].health.connected)
        assert r.manager.devices["o1-hrs"].adapter == "hci0"
        # The battery level is read on connect.
        await wait_for(lambda: BatteryLevel(battery_pct=81) in r.readings)
        heart_rate = strap.chars[HeartRateMeasurement.UUID]
        await wait_for(lambda: bluez.notifying(heart_rate))
        beat = HeartRateMeasurement(heart_rate_bpm=72).encode()
        bluez.notify(heart_rate, beat)
        await wait_for(lambda: HeartRateMeasurement.decode(beat) in r.readings)


async def test_a_dropped_link_releases_its_client(bluez: MockBlueZ, tmp_path: Path) -> None:
    async with rig(bluez, tmp_path, ("hci0",)) as r:
        strap = add_strap(bluez, "hci0", rssi=-50)
        managed = r.manager.devices["o1-hrs"]
        await wait_for(lambda: managed.health.connected)
        connected = bluez.connections()
        for _ in range(2):
            bluez.drop(strap.path)
            await wait_for(lambda: not managed.health.connected)
            bluez.advertise(strap.path, [HEART_RATE_SERVICE], -50)  # advertising again
            await wait_for(lambda: managed.health.connected)
        # Each bleak client has a D-Bus connection of its own: one per link, none left over.
        assert bluez.connections() == connected


async def test_removed_adapter_is_lost_and_its_device_moves_to_the_other(
    bluez: MockBlueZ, tmp_path: Path
) -> None:
    async with rig(bluez, tmp_path, ("hci0", "hci1")) as r:
        add_strap(bluez, "hci0", rssi=-40)
        seen_by_hci1 = add_strap(bluez, "hci1", rssi=-70)
        strap = r.manager.devices["o1-hrs"]
        # Set up, not only linked: an adapter lost while a device subscribes and reads is
        # retried through another at once (no advertisement needed), too fast to observe.
        await wait_for(lambda: strap.ever_connected)
        assert strap.adapter == "hci0"  # heard best there
        connected = bluez.connections()

        bluez.remove_adapter("hci0")
        hci0, hci1 = r.factory.adapters
        await wait_for(hci0.lost.is_set)
        assert not hci1.lost.is_set()
        await wait_for(lambda: not strap.health.connected)
        # Its link gone, the strap advertises again; hci1 hears it.
        bluez.advertise(seen_by_hci1.path, [HEART_RATE_SERVICE], -70)
        await wait_for(lambda: strap.adapter == "hci1" and strap.health.connected)
        loads = {load.name: (load.links, load.present) for load in r.manager.adapter_loads()}
        assert loads == {"hci0": (0, False), "hci1": (1, True)}
        assert bluez.connections() == connected  # the client through hci0 was released

        heart_rate = seen_by_hci1.chars[HeartRateMeasurement.UUID]
        await wait_for(lambda: bluez.notifying(heart_rate))
        beat = HeartRateMeasurement(heart_rate_bpm=95).encode()
        bluez.notify(heart_rate, beat)
        await wait_for(lambda: HeartRateMeasurement.decode(beat) in r.readings)


async def test_an_adapter_added_again_scans_and_takes_a_device_again(
    bluez: MockBlueZ, tmp_path: Path
) -> None:
    async with rig(bluez, tmp_path, ("hci0", "hci1")) as r:
        bluez.remove_adapter("hci0")
        hci0, _ = r.factory.adapters
        await wait_for(hci0.lost.is_set)

        bluez.add_adapter("hci0")  # the dongle plugged in again (InterfacesAdded)
        await wait_for(lambda: not hci0.lost.is_set() and bluez.discovering("hci0"))
        # A strap only the returned adapter hears is connected through it, once heard again
        # after placement's settling time (hci1 never hears it).
        strap = add_strap(bluez, "hci0", rssi=-50)
        await asyncio.sleep(2 * SETTLE_S)
        bluez.advertise(strap.path, [HEART_RATE_SERVICE], -50)
        managed = r.manager.devices["o1-hrs"]
        await wait_for(lambda: managed.health.connected)
        assert managed.adapter == "hci0"
        heart_rate = strap.chars[HeartRateMeasurement.UUID]
        await wait_for(lambda: bluez.notifying(heart_rate))
        beat = HeartRateMeasurement(heart_rate_bpm=88).encode()
        bluez.notify(heart_rate, beat)
        await wait_for(lambda: HeartRateMeasurement.decode(beat) in r.readings)


async def test_every_adapter_is_lost_when_bluetoothd_leaves_the_bus(bluez: MockBlueZ) -> None:
    bluez.add_adapter("hci0")
    bluez.add_adapter("hci1")
    factory = await BleakFactory.open(BleSettings(adapters=("hci0", "hci1")))
    try:
        assert not any(adapter.lost.is_set() for adapter in factory.adapters)
        bluez.stop()
        await wait_for(lambda: all(adapter.lost.is_set() for adapter in factory.adapters))
    finally:
        await factory.close()


async def test_named_adapters_without_a_system_bus_fail_at_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(ConnectionError, match="system bus"):
        await BleakFactory.open(BleSettings(adapters=("hci0", "hci1")))
