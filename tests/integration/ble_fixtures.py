"""Simulated wearables on an in-process virtual radio, and a gateway-side Bumble stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from firmware_mocks.devices.gatt import DeviceIdentity
from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_stack import BumbleStack
from sensors import HELMET, VEST, DeviceProfile

VEST_ADDRESS = "F1:00:00:00:00:01"
HELMET_ADDRESS = "F2:00:00:00:00:02"


def identity(serial: str) -> DeviceIdentity:
    return DeviceIdentity("Bluewatch Test", "BW-TEST", serial, "t1", "1.0.0", "1.0.0")


async def add_peripheral(
    radio: VirtualRadio, profile: DeviceProfile, name: str, address: str
) -> Peripheral:
    peripheral = Peripheral(radio.device(name, address), profile, identity(name))
    await peripheral.power_on()
    return peripheral


@dataclass
class Bench:
    radio: VirtualRadio
    stack: BumbleStack
    vest: Peripheral
    helmet: Peripheral


@pytest_asyncio.fixture
async def bench() -> AsyncIterator[Bench]:
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, "BW-Vest-T0001", VEST_ADDRESS)
    helmet = await add_peripheral(radio, HELMET, "BW-Helmet-T0001", HELMET_ADDRESS)
    stack = await BumbleStack.attach(*radio.host_pipe())
    try:
        yield Bench(radio, stack, vest, helmet)
    finally:
        async with asyncio.timeout(10):
            await stack.close()
