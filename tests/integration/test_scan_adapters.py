"""`bluewatch scan` through several adapters: each device's signal at each, and each adapter's
load (what it hears, and hears best)."""

from __future__ import annotations

import io
import json

from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.commands import EXIT_OK, Streams
from gateway.commands.scan import scan_with
from sensors import VEST
from tests.integration.ble_fixtures import add_peripheral

NEAR, FAR = "C6:00:00:00:00:01", "C6:00:00:00:00:02"


async def test_scan_shows_every_adapters_signal_and_load() -> None:
    radio = VirtualRadio()
    await add_peripheral(radio, VEST, "BW-Vest-S0001", NEAR)
    await add_peripheral(radio, VEST, "BW-Vest-S0002", FAR)
    front, front_sink = radio.host_pipe("front")
    back, back_sink = radio.host_pipe("back")
    front.rssi_from = {NEAR: -45, FAR: -80}
    back.rssi_from = {NEAR: -75, FAR: -81}
    stacks = [
        await BumbleStack.attach(front, front_sink),
        await BumbleStack.attach(back, back_sink),
    ]
    out, err = io.StringIO(), io.StringIO()
    try:
        status = await scan_with(
            BleakFactory.bumble(*stacks, link_limit=5), 1.0, Streams(io.StringIO(), out, err)
        )
    finally:
        for stack in stacks:
            await stack.close()
    assert status == EXIT_OK, err.getvalue()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    devices = {line["address"]: line for line in lines if "address" in line}
    assert devices[NEAR]["adapters"] == {"bumble0": -45, "bumble1": -75}
    assert devices[NEAR]["rssi"] == -45
    assert devices[FAR]["adapters"] == {"bumble0": -80, "bumble1": -81}
    assert devices[NEAR]["model"] == "bluewatch-vest"
    adapters = [line for line in lines if "adapter" in line]
    assert adapters == [
        {"adapter": "bumble0", "present": True, "heard": 2, "best_for": 2, "link_limit": 5},
        {"adapter": "bumble1", "present": True, "heard": 2, "best_for": 0, "link_limit": 5},
    ]
