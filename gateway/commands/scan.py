"""`bluewatch scan`: list the BLE devices heard, one JSON object per line."""

from __future__ import annotations

import argparse
import asyncio
import json

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
        description="Scan and print one JSON line per device heard: address, name, RSSI, "
        "advertised service UUIDs, and the device model when it matches a known profile.",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to listen")
    add_ble_options(parser)
    parser.set_defaults(handler=run)


def describe(device: BLEDevice, advertisement: AdvertisementData) -> dict[str, object]:
    profile = profile_for_advertisement(
        advertisement.service_uuids,
        advertisement.local_name,
        advertisement.manufacturer_data.keys(),
    )
    return {
        "address": device.address,
        "name": advertisement.local_name,
        "rssi": advertisement.rssi,
        "service_uuids": advertisement.service_uuids,
        "model": profile.model.value if profile else None,
    }


async def scan(args: argparse.Namespace, io: Streams) -> int:
    factory = await BleakFactory.open(ble_settings(args))
    try:
        async with factory.first.scanner() as scanner:
            await asyncio.sleep(args.seconds)
            found = scanner.discovered_devices_and_advertisement_data.values()
        for device, advertisement in sorted(found, key=lambda pair: pair[0].address):
            io.stdout.write(json.dumps(describe(device, advertisement)) + "\n")
    finally:
        await factory.close()
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
