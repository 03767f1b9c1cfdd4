"""The device manager on the virtual radio: allowlist, subscriptions, reconnection."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from bumble import att, gatt_client

from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DeviceManager
from gateway.domain import DeviceRef, UnitRef
from sensors import (
    CORE_COMPANY_ID,
    CORE_SERVICE_UUID,
    HELMET,
    VEST,
    BatteryLevel,
    CoreAdvertisement,
    CoreBodyTemperature,
    DeviceModel,
    HeartRateMeasurement,
    LocationAndSpeed,
    TemperatureMeasurement,
)
from sensors.profiles import CORE
from tests.integration.ble_fixtures import add_peripheral, identity
from tests.support.managers import quick_manager

TIMEOUT_S = 15
UNIT = UnitRef("pd", "car-1")


async def wait_for(condition: object) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_manager_connects_roster_devices_only_and_reconnects() -> None:
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, "BW-Vest-V0001", "C1:00:00:00:00:01")
    helmet = await add_peripheral(radio, HELMET, "BW-Helmet-H0001", "C2:00:00:00:00:02")
    stranger = await add_peripheral(radio, VEST, "BW-Vest-V0999", "C3:00:00:00:00:03")
    roster = [
        DeviceRef(UNIT, "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST, address="C1:00:00:00:00:01"),
        DeviceRef(
            UNIT, "o1", "o1-helmet", DeviceModel.BLUEWATCH_HELMET, name="BW-Helmet-H0001"
        ),  # by name
    ]
    received: list[tuple[str, str, bytes]] = []
    stack = await BumbleStack.attach(*radio.host_pipe())
    manager = quick_manager(
        roster,
        BleakFactory.bumble(stack),
        lambda ref, uuid, data, t: received.append((ref.device_id, uuid, data)),
    )
    task = asyncio.create_task(manager.run())
    try:
        await wait_for(lambda: vest.connections and helmet.connections)
        await asyncio.sleep(0.3)  # subscriptions complete after the link is up
        await vest.notify(
            HeartRateMeasurement.UUID, HeartRateMeasurement(heart_rate_bpm=66).encode()
        )
        await helmet.notify(LocationAndSpeed.UUID, LocationAndSpeed(speed_mps=1.0).encode())
        wanted = {("o1-vest", HeartRateMeasurement.UUID), ("o1-helmet", LocationAndSpeed.UUID)}
        await wait_for(lambda: {(d, u) for d, u, _ in received} >= wanted)
        # Readable values were read once on connect (battery is readable on both devices).
        assert ("o1-vest", BatteryLevel.UUID) in {(d, u) for d, u, _ in received}
        assert not stranger.connections
        assert stranger.address in manager.unknown_advertisers

        await vest.go_offline()
        await wait_for(lambda: not manager.devices["o1-vest"].health.connected)
        await vest.go_online()
        await wait_for(lambda: manager.devices["o1-vest"].health.reconnects == 1)
        await asyncio.sleep(0.3)
        before = len(received)
        reading = HeartRateMeasurement(heart_rate_bpm=67).encode()
        await vest.notify(HeartRateMeasurement.UUID, reading)
        await wait_for(lambda: len(received) > before)
        await asyncio.sleep(0.2)
        after = Counter(
            data for _, uuid, data in received[before:] if uuid == HeartRateMeasurement.UUID
        )
        assert after == {reading: 1}  # once, not twice
        assert not stranger.connections
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.close()
        await stack.close()


async def test_a_core_is_read_through_its_own_characteristic_or_its_thermometer() -> None:
    """A CORE with the Core Body Temperature characteristic is read through it, its Health
    Thermometer left alone; one without it (old firmware) through the thermometer; and what a
    CORE advertises is handed on before any link is up."""
    radio = VirtualRadio()
    current = await add_peripheral(radio, CORE, "CORE-C0001", "C4:00:00:00:00:01")
    without = replace(CORE, services=tuple(s for s in CORE.services if s.uuid != CORE_SERVICE_UUID))
    # Manufacturer data set before the old unit powers on, so its first advertisement has it.
    old = Peripheral(radio.device("CORE-C0002", "C4:00:00:00:00:02"), without, identity("old"))
    advertised = CoreAdvertisement(status=4, core_temperature_c=37.125).encode()
    await old.set_manufacturer_data(CORE_COMPANY_ID, advertised)
    await old.power_on()
    roster = [
        DeviceRef(UNIT, "o1", "o1-core", DeviceModel.CORE, address="C4:00:00:00:00:01"),
        DeviceRef(UNIT, "o2", "o2-core", DeviceModel.CORE, address="C4:00:00:00:00:02"),
    ]
    received: list[tuple[str, str]] = []
    broadcasts: list[tuple[str, bytes]] = []
    stack = await BumbleStack.attach(*radio.host_pipe())
    loop = asyncio.get_running_loop()
    manager = DeviceManager(
        roster,
        BleakFactory.bumble(stack),
        lambda ref, uuid, data, t: received.append((ref.device_id, uuid)),
        stale_after_s=1,
        lost_after_s=3,
        clock_ns=lambda: int(loop.time() * 1e9),
        monotonic=loop.time,
        on_broadcast=lambda ref, data, t: broadcasts.append((ref.device_id, data)),
        rng=random.Random(1),
    )
    task = asyncio.create_task(manager.run())
    try:
        await wait_for(lambda: current.connections and old.connections)
        await asyncio.sleep(0.3)  # subscriptions complete after the link is up
        thermometer = TemperatureMeasurement(temperature_c=37.2).encode()
        for unit in (current, old):
            await unit.notify(TemperatureMeasurement.UUID, thermometer)
        await current.notify(
            CoreBodyTemperature.UUID, CoreBodyTemperature(core_temperature_c=37.3).encode()
        )
        wanted = {("o1-core", CoreBodyTemperature.UUID), ("o2-core", TemperatureMeasurement.UUID)}
        await wait_for(lambda: set(received) >= wanted)
        await asyncio.sleep(0.2)
        assert ("o1-core", TemperatureMeasurement.UUID) not in received
        assert ("o2-core", advertised) in broadcasts
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.close()
        await stack.close()


async def test_subscriptions_come_before_the_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A panic or a heart rate is not held back behind a vest's nine reads: every CCCD write
    (a subscription) goes out before the first read of a value."""
    sent: list[str] = []
    send = gatt_client.Client.send_request

    async def noted(self: gatt_client.Client, request: att.ATT_PDU) -> Any:
        sent.append(type(request).__name__)
        return await send(self, request)

    monkeypatch.setattr(gatt_client.Client, "send_request", noted)
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, "BW-Vest-V0001", "C1:00:00:00:00:01")
    roster = [
        DeviceRef(UNIT, "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST, address="C1:00:00:00:00:01")
    ]
    received: list[str] = []
    stack = await BumbleStack.attach(*radio.host_pipe())
    manager = quick_manager(
        roster, BleakFactory.bumble(stack), lambda ref, uuid, data, t: received.append(uuid)
    )
    task = asyncio.create_task(manager.run())
    try:
        await wait_for(lambda: BatteryLevel.UUID in received)  # read last of all
        assert vest.connections
        writes = [i for i, name in enumerate(sent) if name == "ATT_Write_Request"]
        reads = [i for i, name in enumerate(sent) if name == "ATT_Read_Request"]
        assert len(writes) == len(VEST.notified())
        assert reads
        assert max(writes) < min(reads)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.close()
        await stack.close()
