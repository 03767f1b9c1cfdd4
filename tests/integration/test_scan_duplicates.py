"""The gateway's scan: duplicates filtered in the controller, and every advertiser reported
again each period (placement's signal, a lost device heard again, broadcast readings)."""

from __future__ import annotations

import asyncio
from collections import Counter

from bumble.device import Advertisement

from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_stack import AdvertisementListener, BumbleStack
from sensors import VEST
from tests.integration.ble_fixtures import add_peripheral

VEST_ADDRESS = "F1:00:00:00:00:01"


def counter() -> tuple[Counter[str], AdvertisementListener]:
    heard: Counter[str] = Counter()

    def listener(advertisement: Advertisement) -> None:
        if not advertisement.is_scan_response:  # its scan response follows each one
            heard[advertisement.address.to_string(False)] += 1

    return heard, listener


async def test_the_scan_asks_the_controller_to_filter_duplicates() -> None:
    radio = VirtualRadio()
    controller, sink = radio.host_pipe()
    stack = await BumbleStack.attach(controller, sink)
    _, listener = counter()
    try:
        await stack.add_listener(listener)
        assert controller.le_scan_enable
        assert controller.filter_duplicates
        await stack.remove_listener(listener)
        assert not controller.le_scan_enable
    finally:
        await stack.close()


async def test_each_advertiser_is_reported_again_every_period_and_only_then() -> None:
    radio = VirtualRadio()
    await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    often = await BumbleStack.attach(*radio.host_pipe("often"), duplicate_period_s=0.2)
    seldom = await BumbleStack.attach(*radio.host_pipe("seldom"), duplicate_period_s=3600)
    heard_often, on_often = counter()
    heard_seldom, on_seldom = counter()
    try:
        await seldom.add_listener(on_seldom)
        await often.add_listener(on_often)
        # Still scanning after the first report: the device is heard again each period.
        async with asyncio.timeout(10):
            while heard_often[VEST_ADDRESS] < 3:
                await asyncio.sleep(0.01)
        # Within the period, the advertisements in between reach no host.
        assert heard_seldom[VEST_ADDRESS] == 1
    finally:
        await often.close()
        await seldom.close()


async def test_a_bonded_device_reconnects_without_waiting_for_the_next_period() -> None:
    # Bumble's host connects to a bonded peer only once a report of it comes in (to resolve its
    # address), which the duplicate filter would hold back until the next period: an hour here.
    radio = VirtualRadio()
    await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    stack = await BumbleStack.attach(*radio.host_pipe(), duplicate_period_s=3600)
    heard, listener = counter()
    try:
        await stack.add_listener(listener)
        async with asyncio.timeout(10):
            while not heard[VEST_ADDRESS]:
                await asyncio.sleep(0.01)
        address = stack.address_for(VEST_ADDRESS)
        connection = await stack.connect(address, timeout=5)
        await connection.pair()
        await connection.disconnect()
        async with asyncio.timeout(10):  # Bumble's resolution wait has no deadline of its own
            again = await stack.connect(address, timeout=5)
        assert again.peer_address == address
    finally:
        await stack.close()
