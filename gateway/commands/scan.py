"""`bluewatch scan`: list the BLE devices heard, one JSON object per line."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from contextlib import AsyncExitStack

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from gateway.ble.factory import BleakFactory
from gateway.commands import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.commands.ble_options import add_ble_options, ble_settings
from sensors import profile_for_advertisement


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "scan",
        help="list the BLE devices heard",
        description="Scan through every adapter and print one JSON line per device heard: "
        "address, name, best RSSI and the RSSI at each adapter, advertised service UUIDs, and "
        "the device model when it matches a known profile; then one line per adapter: the "
        "devices it heard, those it hears best, its link limit.",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to listen")
    add_ble_options(parser)
    parser.set_defaults(handler=run)


def describe(
    device: BLEDevice, advertisement: AdvertisementData, heard_by: dict[str, int]
) -> dict[str, object]:
    """One device line; `heard_by` is the RSSI at each adapter that heard it."""
    profile = profile_for_advertisement(
        advertisement.service_uuids,
        advertisement.local_name,
        advertisement.manufacturer_data.keys(),
    )
    return {
        "address": device.address,
        "name": advertisement.local_name,
        "rssi": max(heard_by.values()),
        "adapters": heard_by,
        "service_uuids": advertisement.service_uuids,
        "model": profile.model.value if profile else None,
    }


async def scan(args: argparse.Namespace, io: Streams) -> int:
    factory = await BleakFactory.open(ble_settings(args))
    try:
        return await scan_with(factory, args.seconds, io)
    finally:
        await factory.close()


async def scan_with(factory: BleakFactory, seconds: float, io: Streams) -> int:
    """Listen through every adapter at once; print a line per device heard, then one per
    adapter with its load: the devices it heard, and those it hears best (where the gateway
    would place them, slots permitting)."""
    found: dict[str, tuple[BLEDevice, AdvertisementData]] = {}
    heard_by: dict[str, dict[str, int]] = {}
    async with AsyncExitStack() as stack:
        scanners = [
            (adapter.name, await stack.enter_async_context(adapter.scanner()))
            for adapter in factory.adapters
        ]
        await asyncio.sleep(seconds)
        for name, scanner in scanners:
            for address, (device, ad) in scanner.discovered_devices_and_advertisement_data.items():
                found.setdefault(address, (device, ad))
                heard_by.setdefault(address, {})[name] = ad.rssi
    best = Counter(max(levels, key=lambda name: levels[name]) for levels in heard_by.values())
    for address in sorted(found):
        device, advertisement = found[address]
        io.stdout.write(json.dumps(describe(device, advertisement, heard_by[address])) + "\n")
    for adapter in factory.adapters:
        line = {
            "adapter": adapter.name,
            "present": not adapter.lost.is_set(),
            "heard": sum(adapter.name in levels for levels in heard_by.values()),
            "best_for": best[adapter.name],
            "link_limit": adapter.link_limit,
        }
        io.stdout.write(json.dumps(line) + "\n")
    return EXIT_OK


def run(args: argparse.Namespace, io: Streams) -> int:
    if args.seconds <= 0:
        io.stderr.write("bluewatch scan: --seconds must be positive\n")
        return EXIT_USAGE
    try:
        return asyncio.run(scan(args, io))
    except ValueError as exc:
        io.stderr.write(f"bluewatch scan: {exc}\n")
        return EXIT_USAGE
    except (OSError, BleakError) as exc:
        io.stderr.write(f"bluewatch scan: cannot reach the radio: {exc}\n")
        return EXIT_FAILURE
