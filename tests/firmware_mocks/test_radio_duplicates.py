"""The virtual controller's duplicate filter: what a real controller reports with it on."""

from __future__ import annotations

import asyncio
from collections import Counter

from bumble import ll
from bumble.controller import Controller
from bumble.device import Advertisement, Device
from bumble.hci import Address

from bumble_mends import QuietHost
from firmware_mocks.radio import VirtualRadio
from sensors import VEST
from tests.integration.ble_fixtures import add_peripheral

VEST_ADDRESS = "F1:00:00:00:00:01"


async def scanning_host(radio: VirtualRadio, name: str) -> tuple[Device, Counter[str]]:
    """A bare Bumble host on its own controller, counting advertisement reports by address."""
    controller, sink = radio.host_pipe(name)
    device = Device(
        name=name, address=Address("E0:00:00:00:00:01"), host=QuietHost(controller, sink)
    )
    await device.power_on()
    heard: Counter[str] = Counter()

    def count(advertisement: Advertisement) -> None:
        if not advertisement.is_scan_response:  # its scan response follows each one
            heard[advertisement.address.to_string(False)] += 1

    device.on(device.EVENT_ADVERTISEMENT, count)
    return device, heard


async def test_an_advertiser_is_reported_once_until_scanning_is_enabled_again() -> None:
    radio = VirtualRadio()
    await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    filtered, once = await scanning_host(radio, "filtered")
    unfiltered, every = await scanning_host(radio, "unfiltered")
    await filtered.start_scanning(filter_duplicates=True)
    await unfiltered.start_scanning(filter_duplicates=False)
    # Measured against the unfiltered scanner on the same radio, not a wall-clock wait.
    async with asyncio.timeout(10):
        while every[VEST_ADDRESS] < 3:
            await asyncio.sleep(0.01)
    assert once[VEST_ADDRESS] == 1

    await filtered.stop_scanning()
    await filtered.start_scanning(filter_duplicates=True)  # the filter starts empty
    async with asyncio.timeout(10):
        while once[VEST_ADDRESS] < 2:
            await asyncio.sleep(0.01)
    reported_again_at = every[VEST_ADDRESS]
    async with asyncio.timeout(10):
        while every[VEST_ADDRESS] < reported_again_at + 3:
            await asyncio.sleep(0.01)
    assert once[VEST_ADDRESS] == 2


def count_deliveries(controller: Controller, delivered: Counter[str]) -> None:
    """Count the advertising PDUs the link hands `controller`, by its name."""
    handler = controller.on_ll_advertising_pdu

    def counting(packet: ll.AdvertisingPdu) -> None:
        delivered[controller.name] += 1
        handler(packet)

    controller.on_ll_advertising_pdu = counting  # type: ignore[method-assign]


async def test_advertisements_reach_only_controllers_that_listen() -> None:
    radio = VirtualRadio()
    await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    quiet = await add_peripheral(radio, VEST, "BW-Vest-T0002", "F1:00:00:00:00:02")
    scanner, heard = await scanning_host(radio, "scanner")
    delivered: Counter[str] = Counter()
    for controller in radio.link.controllers:
        count_deliveries(controller, delivered)
    await scanner.start_scanning(filter_duplicates=False)
    async with asyncio.timeout(10):
        while heard[VEST_ADDRESS] < 3:
            await asyncio.sleep(0.01)
    # The scanning host's controller hears both vests; a peripheral's, which neither scans nor
    # connects, is handed none of the other's advertisements.
    assert delivered["scanner"] >= 3
    assert delivered[quiet.device.name] == 0
