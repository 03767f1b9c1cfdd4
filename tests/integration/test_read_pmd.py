"""`bluewatch read` on simulated Polar sensors: PMD streams started, decoded, then stopped."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest

from firmware_mocks.devices.polar import SteadySource, build_polar_peer
from firmware_mocks.radio import VirtualRadio
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.commands import EXIT_OK, Streams
from gateway.commands.read import read_with
from sensors import DeviceModel
from sensors.pmd import PMD_DATA_UUID


@pytest.mark.parametrize(
    ("model", "name", "measurements"),
    [
        (DeviceModel.POLAR_H10, "Polar H10 0A0B0C30", {"acc"}),
        (DeviceModel.POLAR_VERITY_SENSE, "Polar Sense 0A0B0C40", {"acc", "ppi"}),
    ],
)
async def test_read_starts_decodes_and_stops_pmd_streams(
    model: DeviceModel, name: str, measurements: set[str]
) -> None:
    address = "A0:9E:1A:00:00:30"
    radio = VirtualRadio()
    peer = build_polar_peer(
        model, radio.device(name, address), SteadySource(), monotonic_ns=time.monotonic_ns
    )
    await peer.power_on()
    stack = await BumbleStack.attach(*radio.host_pipe())
    out, err = io.StringIO(), io.StringIO()
    try:
        status = await read_with(
            BleakFactory.bumble(stack), address, 2.5, Streams(io.StringIO(), out, err)
        )
    finally:
        await stack.close()
        await asyncio.sleep(0.05)  # the sensor hears the link end (and advertises again)
        peer.retire()  # its heart-rate task ends on this test's loop
        await asyncio.sleep(0)
    assert status == EXIT_OK, err.getvalue()
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    frames = [row for row in rows if row.get("uuid") == PMD_DATA_UUID and "reading" in row]
    assert {row["reading"]["measurement"] for row in frames} == measurements
    acc = [row for row in frames if row["reading"]["measurement"] == "acc"]
    # In g from the stream's settings (the Verity's through its FACTOR): a still wearer.
    assert all(
        sample == pytest.approx([0, 0, 1], abs=0.001) for row in acc for sample in row["samples_g"]
    )
    assert not peer.running  # stopped before the link closed
    assert err.getvalue() == ""
