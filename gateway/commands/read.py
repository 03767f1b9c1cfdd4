"""`bluewatch read ADDRESS`: connect to one device, print its services, then its notifications.

A Polar sensor streams nothing until asked: when the device has the PMD service and its name
names a model with PMD streams ("Polar H10 …"), its default streams are started through the
gateway's own session (docs/pmd.md), printed decoded (ACC also in g), and stopped on the way out.
A device serving a service that its model serves only encrypted (the Officer Safety service) is
paired first; the bond is kept in memory only, so `read` leaves no keys behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from gateway.acceleration import ACC_SCALES, acc_frame_g
from gateway.ble.factory import BleakFactory
from gateway.ble.pmd_link import PmdLink
from gateway.ble.pmd_session import PmdSession, Problem, WantedStream
from gateway.commands import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.commands.ble_options import add_ble_options, ble_settings
from sensors import CODECS, PROFILES, DecodeError, DeviceProfile, PmdDataFrame
from sensors.pmd import PMD_CONTROL_POINT_UUID, PMD_DATA_UUID, MeasurementType

FIND_TIMEOUT_S = 10.0
# Services some model serves only on an encrypted link.
ENCRYPTED_SERVICES = frozenset(
    service.uuid
    for profile in PROFILES.values()
    for service in profile.services
    if service.encrypted
)


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
        "time": _now(),
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def pmd_profile(name: str | None) -> DeviceProfile | None:
    """The PMD model a device's name names ("Polar H10 8C4A1B2D"), if any."""
    if name is None:
        return None
    return next(
        (p for p in PROFILES.values() if p.pmd_streams and name.startswith(f"{p.name_prefix} ")),
        None,
    )


def pmd_line(data: bytes, link: PmdLink) -> str:
    """A PMD data frame as a JSON line; ACC frames also in g, from the stream's settings."""
    line: dict[str, Any] = {"time": _now(), "kind": "notify", "uuid": PMD_DATA_UUID}
    try:
        frame = PmdDataFrame.decode(data)
    except DecodeError as exc:
        return json.dumps({**line, "error": str(exc), "hex": data.hex()})
    line["characteristic"] = PmdDataFrame.NAME
    line["reading"] = frame.model_dump(mode="json")
    stream = link.session.started.get(frame.measurement)
    if (
        frame.measurement is MeasurementType.ACC
        and stream is not None
        and stream.sample_rate_hz is not None
        and (frame.compressed, frame.frame_type) in ACC_SCALES
    ):
        line["samples_g"] = acc_frame_g(frame, stream.factor, stream.sample_rate_hz).samples_g
    return json.dumps(line)


async def read(args: argparse.Namespace, io: Streams) -> int:
    factory = await BleakFactory.open(ble_settings(args))
    try:
        return await read_with(factory, args.address, args.seconds, io)
    finally:
        await factory.close()


async def read_with(factory: BleakFactory, address: str, seconds: float, io: Streams) -> int:
    """`bluewatch read` on an open BLE stack (tests run it in-process)."""
    device = await BleakScanner.find_device_by_address(
        address, timeout=FIND_TIMEOUT_S, **factory.first.backend_kwargs(client=False)
    )
    if device is None:
        io.stderr.write(f"bluewatch read: {address} not heard within {FIND_TIMEOUT_S:g} s\n")
        return EXIT_FAILURE
    lost = asyncio.Event()
    async with BleakClient(
        device,
        disconnected_callback=lambda _: lost.set(),
        **factory.first.backend_kwargs(client=True),
    ) as client:
        if any(service.uuid in ENCRYPTED_SERVICES for service in client.services):
            await client.pair()
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

        profile = pmd_profile(device.name)
        for characteristic in client.services.characteristics.values():
            if characteristic.uuid in CODECS and "read" in characteristic.properties:
                data = await client.read_gatt_char(characteristic)
                io.stdout.write(decoded_line(characteristic, bytes(data), "read") + "\n")
            if (
                characteristic.uuid in CODECS
                and "notify" in characteristic.properties
                and not (profile is not None and characteristic.uuid == PMD_DATA_UUID)
            ):
                await client.start_notify(characteristic, on_notification)
        link = await _start_pmd(client, profile, io)
        io.stdout.flush()
        waiting = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({waiting}, timeout=seconds or None)
        finally:
            waiting.cancel()
            if link is not None and not lost.is_set():
                await link.stop()  # a Polar sensor left streaming drains its battery
        if lost.is_set():
            io.stderr.write(f"bluewatch read: {address} disconnected\n")
            return EXIT_FAILURE
    return EXIT_OK


async def _start_pmd(
    client: BleakClient, profile: DeviceProfile | None, io: Streams
) -> PmdLink | None:
    """Start the model's default PMD streams, printing each frame; None without PMD."""
    if profile is None or client.services.get_characteristic(PMD_CONTROL_POINT_UUID) is None:
        return None
    wanted = [
        WantedStream(stream.measurement, stream.selection(profile.accelerometer))
        for stream in profile.pmd_streams
        if stream.default_on
    ]

    def on_data(data: bytes) -> None:
        io.stdout.write(pmd_line(data, link) + "\n")
        io.stdout.flush()

    def on_problem(problem: Problem) -> None:
        io.stderr.write(
            f"bluewatch read: PMD {problem.measurement or 'session'}: {problem.reason} "
            f"({problem.detail})\n"
        )

    link = PmdLink(client, PmdSession(wanted), on_data, on_problem)
    await link.start()
    return link


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
