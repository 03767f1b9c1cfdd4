"""The gateway's Bumble host reaching the virtual radio over an HCI TCP transport.

This is how a gateway process attaches to a simulated fleet in another process; here both ends
run in the test's process, so a gateway "restart" (its transport dropped without a goodbye, then
a new host attaching) can be staged exactly.
"""

from __future__ import annotations

import asyncio

from bleak import BleakClient, BleakScanner

from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_backend import BumbleClient, BumbleScanner
from gateway.ble.bumble_stack import BumbleStack
from sensors import VEST, HeartRateMeasurement
from tests.integration.ble_fixtures import VEST_ADDRESS, add_peripheral
from tests.support.network import free_port


async def connect_vest(stack: BumbleStack) -> BleakClient:
    device = await BleakScanner.find_device_by_address(
        VEST_ADDRESS, timeout=5, backend=BumbleScanner, bumble_stack=stack
    )
    assert device is not None, "vest not heard over TCP"
    client = BleakClient(device, backend=BumbleClient, bumble_stack=stack)
    await client.connect()
    return client


async def test_notifications_cross_the_tcp_transport() -> None:
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    port = free_port()
    exported = await radio.export(f"tcp-server:127.0.0.1:{port}")
    stack = await BumbleStack.open(f"tcp-client:127.0.0.1:{port}")
    try:
        client = await connect_vest(stack)
        received: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(
            HeartRateMeasurement.UUID, lambda _, d: received.put_nowait(bytes(d))
        )
        reading = HeartRateMeasurement(heart_rate_bpm=101, rr_intervals_s=(0.6, 0.59))
        await vest.notify(reading.UUID, reading.encode())
        async with asyncio.timeout(5):
            assert HeartRateMeasurement.decode(await received.get()) == reading
        await client.disconnect()
    finally:
        await stack.close()
        await exported.close()


async def test_a_restarted_gateway_finds_its_devices_again() -> None:
    radio = VirtualRadio()
    await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    port = free_port()
    exported = await radio.export(f"tcp-server:127.0.0.1:{port}")
    first = await BumbleStack.open(f"tcp-client:127.0.0.1:{port}")
    await connect_vest(first)
    # The first gateway dies: its socket closes, nothing is disconnected politely. On the radio
    # the vest stays connected to a host that no longer exists, and stops advertising.
    assert first._transport is not None
    await first._transport.close()
    await asyncio.sleep(0.1)

    second = await BumbleStack.open(f"tcp-client:127.0.0.1:{port}")
    try:
        # The new host's HCI Reset drops the stale link; the vest advertises and is found again.
        client = await connect_vest(second)
        assert client.is_connected
        await client.disconnect()
    finally:
        await second.close()
        await exported.close()
