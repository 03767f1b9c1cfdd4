"""Several adapters on the virtual radio: placement by signal and free slot, failover when a
controller is pulled out (its transport ends) to the adapters that remain, and its return."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.radio import PluggableController, VirtualRadio
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DeviceManager
from gateway.domain import DeviceRef, UnitRef
from sensors import VEST, DeviceModel, HeartRateMeasurement
from tests.integration.ble_fixtures import add_peripheral
from tests.support.managers import quick_manager

TIMEOUT_S = 20
UNIT = UnitRef("pd", "car-1")


def address(index: int) -> str:
    return f"C5:00:00:00:00:{index:02X}"


async def wait_for(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not condition():
            await asyncio.sleep(0.02)


@dataclass
class Rig:
    radio: VirtualRadio
    controllers: list[PluggableController]
    vests: list[Peripheral]
    manager: DeviceManager
    received: list[tuple[str, str]]

    def on(self, index: int) -> set[str]:
        """Device ids whose link is held by controller `index`, as the radio sees it."""
        controller = self.controllers[index].controller
        peers = {c.peer_address.to_string(False) for c in controller.le_connections.values()}
        return {f"v{i}" for i in range(len(self.vests)) if address(i) in peers}


@asynccontextmanager
async def rig(rssi: list[list[int]], link_limit: int) -> AsyncIterator[Rig]:
    """`rssi[a][d]`: how controller `a` hears vest `d`."""
    radio = VirtualRadio()
    vests = [
        await add_peripheral(radio, VEST, f"BW-Vest-A{i:04d}", address(i))
        for i in range(len(rssi[0]))
    ]
    controllers = [await radio.pluggable(f"adapter{a}") for a in range(len(rssi))]
    for controller, heard in zip(controllers, rssi, strict=True):
        controller.controller.rssi_from = {address(d): level for d, level in enumerate(heard)}
    stacks = [await BumbleStack.open(c.transport_spec) for c in controllers]
    factory = BleakFactory.bumble(*stacks, link_limit=link_limit)
    roster = [
        DeviceRef(UNIT, f"o{i}", f"v{i}", DeviceModel.BLUEWATCH_VEST, address=address(i))
        for i in range(len(vests))
    ]
    received: list[tuple[str, str]] = []
    manager = quick_manager(
        roster, factory, lambda ref, uuid, data, t: received.append((ref.device_id, uuid))
    )
    task = asyncio.create_task(manager.run())
    try:
        yield Rig(radio, controllers, vests, manager, received)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with asyncio.timeout(TIMEOUT_S):
            await manager.close()
            await factory.close()
        for controller in controllers:
            await controller.close()


def connected(manager: DeviceManager) -> bool:
    return all(m.health.connected for m in manager.devices.values())


async def test_each_device_goes_to_the_best_heard_adapter_with_a_free_slot() -> None:
    # v0-v2 are heard best by adapter 0, then 2; v3-v4 best by adapter 1. Adapter 0 takes two.
    rssi = [
        [-40, -40, -40, -80, -80],
        [-80, -80, -80, -40, -40],
        [-50, -50, -50, -60, -60],
    ]
    async with rig(rssi, link_limit=2) as r:
        await wait_for(lambda: connected(r.manager))
        on = [r.on(a) for a in range(3)]
        assert len(on[0]) == 2
        assert on[0] < {"v0", "v1", "v2"}
        assert on[1] == {"v3", "v4"}
        assert on[2] == {"v0", "v1", "v2"} - on[0]
        # The manager's account agrees with the radio's.
        assert {m.ref.device_id: m.adapter for m in r.manager.devices.values()} == {
            device: f"bumble{a}" for a in range(3) for device in on[a]
        }
        loads = {load.name: (load.links, load.link_limit) for load in r.manager.adapter_loads()}
        assert loads == {"bumble0": (2, 2), "bumble1": (2, 2), "bumble2": (1, 2)}


async def test_a_pulled_adapters_devices_stream_again_through_the_others() -> None:
    rssi = [[-40] * 4, [-70] * 4, [-60] * 4]
    async with rig(rssi, link_limit=4) as r:
        await wait_for(lambda: connected(r.manager))
        assert r.on(0) == {"v0", "v1", "v2", "v3"}

        await r.controllers[0].unplug()
        await wait_for(lambda: not r.manager.adapter_loads()[0].present)
        await wait_for(lambda: connected(r.manager) and len(r.on(2)) == 4)
        assert r.on(1) == set()  # the better of the two that remain
        assert {m.adapter for m in r.manager.devices.values()} == {"bumble2"}
        loads = {load.name: (load.links, load.present) for load in r.manager.adapter_loads()}
        assert loads == {"bumble0": (0, False), "bumble1": (0, True), "bumble2": (4, True)}

        await asyncio.sleep(0.3)  # subscriptions complete after the link is up
        r.received.clear()
        for vest in r.vests:
            await vest.notify(
                HeartRateMeasurement.UUID, HeartRateMeasurement(heart_rate_bpm=70).encode()
            )
        wanted = {(f"v{i}", HeartRateMeasurement.UUID) for i in range(4)}
        await wait_for(lambda: set(r.received) >= wanted)


async def test_devices_wait_for_a_slot_when_every_adapter_that_hears_them_is_full() -> None:
    async with rig([[-50] * 3], link_limit=2) as r:
        await wait_for(lambda: sum(m.health.connected for m in r.manager.devices.values()) == 2)
        await asyncio.sleep(1.0)
        assert len(r.on(0)) == 2
        assert sum(m.health.connected for m in r.manager.devices.values()) == 2
        waiting = next(m for m in r.manager.devices.values() if not m.health.connected)
        # A slot frees when a link drops; the waiting device takes it.
        holder = next(i for i, v in enumerate(r.vests) if f"v{i}" in r.on(0))
        await r.vests[holder].go_offline()
        await wait_for(lambda: waiting.health.connected)


async def test_a_returning_adapter_takes_new_and_dropped_devices_again() -> None:
    rssi = [[-40] * 3, [-70] * 3]
    async with rig(rssi, link_limit=4) as r:
        await wait_for(lambda: connected(r.manager))
        assert r.on(0) == {"v0", "v1", "v2"}
        port = r.controllers[0].port
        await r.controllers[0].unplug()
        await wait_for(lambda: connected(r.manager) and r.on(1) == {"v0", "v1", "v2"})

        # Plugged in again: the same transport answers, a controller that hears every vest best.
        back = await r.radio.pluggable("adapter0", port=port)
        back.controller.rssi_from = {address(d): -40 for d in range(3)}
        r.controllers[0] = back
        await wait_for(lambda: r.manager.adapter_loads()[0].present)
        await asyncio.sleep(1.0)  # time enough to be heard there: the streaming vests stay put
        assert (r.on(0), r.on(1)) == (set(), {"v0", "v1", "v2"})

        # A vest whose link drops is placed again, on the returned adapter that hears it best.
        v0 = r.manager.devices["v0"]
        await r.vests[0].go_offline()
        await wait_for(lambda: not v0.health.connected)
        await r.vests[0].go_online()
        await wait_for(lambda: v0.health.connected and r.on(0) == {"v0"})
        assert v0.adapter == "bumble0"
        loads = {load.name: (load.links, load.present) for load in r.manager.adapter_loads()}
        assert loads == {"bumble0": (1, True), "bumble1": (2, True)}

        await asyncio.sleep(0.3)  # subscriptions complete after the link is up
        r.received.clear()
        await r.vests[0].notify(
            HeartRateMeasurement.UUID, HeartRateMeasurement(heart_rate_bpm=70).encode()
        )
        await wait_for(lambda: ("v0", HeartRateMeasurement.UUID) in r.received)
