"""`bluewatch read ADDRESS`: connect to one device, print its services, then its notifications."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from gateway.ble.factory import BleakFactory
from gateway.commands import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.commands.ble_options import add_ble_options, ble_settings
from sensors import CODECS, DecodeError

FIND_TIMEOUT_S = 10.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "read",
        help="connect to one device and print its decoded notifications",
        description="Connect to ADDRESS, print its GATT services as one JSON line each, read "
        "what is readable, then print every decoded notification as a JSON line.",
    )
    parser.add_argument("address", help="device address, e.g. C4:12:34:56:78:9A")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="how long to listen (0: until Ctrl-C)"
    )
    add_ble_options(parser)
    parser.set_defaults(handler=run)


def decoded_line(characteristic: BleakGATTCharacteristic, data: bytes, kind: str) -> str:
    codec = CODECS.get(characteristic.uuid)
    line: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "kind": kind,
        "uuid": characteristic.uuid,
    }
    if codec is None:
        line["hex"] = data.hex()
    else:
        line["characteristic"] = codec.NAME
        try:
            line["reading"] = codec.decode(data).model_dump(mode="json")
        except DecodeError as exc:
            line["error"] = str(exc)
            line["hex"] = data.hex()
    return json.dumps(line)


async def read(args: argparse.Namespace, io: Streams) -> int:
    factory = await BleakFactory.open(ble_settings(args))
    try:
        device = await BleakScanner.find_device_by_address(
            args.address, timeout=FIND_TIMEOUT_S, **factory.backend_kwargs(client=False)
        )
        if device is None:
            io.stderr.write(
                f"bluewatch read: {args.address} not heard within {FIND_TIMEOUT_S:g} s\n"
            )
            return EXIT_FAILURE
        lost = asyncio.Event()
        async with BleakClient(
            device,
            disconnected_callback=lambda _: lost.set(),
            **factory.backend_kwargs(client=True),
        ) as client:
            for service in client.services:
                characteristics = [
                    {"uuid": c.uuid, "properties": c.properties} for c in service.characteristics
                ]
                io.stdout.write(
                    json.dumps({"service": service.uuid, "characteristics": characteristics}) + "\n"
                )

            def on_notification(characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
                io.stdout.write(decoded_line(characteristic, bytes(data), "notify") + "\n")
                io.stdout.flush()

            for characteristic in client.services.characteristics.values():
                if characteristic.uuid in CODECS and "read" in characteristic.properties:
                    data = await client.read_gatt_char(characteristic)
                    io.stdout.write(decoded_line(characteristic, bytes(data), "read") + "\n")
                if characteristic.uuid in CODECS and "notify" in characteristic.properties:
                    await client.start_notify(characteristic, on_notification)
            io.stdout.flush()
            waiting = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait({waiting}, timeout=args.seconds or None)
            finally:
                waiting.cancel()
            if lost.is_set():
                io.stderr.write(f"bluewatch read: {args.address} disconnected\n")
                return EXIT_FAILURE
    finally:
        await factory.close()
    return EXIT_OK


def run(args: argparse.Namespace, io: Streams) -> int:
    if args.seconds < 0:
        io.stderr.write("bluewatch read: --seconds must not be negative\n")
        return EXIT_USAGE
    try:
        return asyncio.run(read(args, io))
    except KeyboardInterrupt:
        return EXIT_OK
    except ValueError as exc:
        io.stderr.write(f"bluewatch read: {exc}\n")
        return EXIT_USAGE
    except (OSError, BleakError, TimeoutError) as exc:
        io.stderr.write(f"bluewatch read: {exc}\n")
        return EXIT_FAILURE
