"""`bluewatch simulate`: a fleet of simulated officers that another process reaches over HCI.

Registered in the `bluewatch` CLI through the `bluewatch.commands` entry point, so the gateway's
command line offers it without importing this package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import socket
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from firmware_mocks.fleet import Fleet
from firmware_mocks.radio import VirtualRadio
from firmware_mocks.scenario import Scenario, ScenarioError, list_scenarios, load_scenario
from firmware_mocks.vehicle_gnss import NmeaOutput

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FAILURE = 3


class Streams(Protocol):
    stdout: TextIO
    stderr: TextIO


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "simulate",
        help="run simulated wearables on a virtual radio",
        description="Run a fleet of simulated officers (each wearing the kit the scenario gives: "
        "a vest and a helmet by default) on one virtual BLE link and serve a controller of that "
        "link over an HCI transport, so a gateway in another process can scan, connect and read "
        "them. Prints one JSON line with the roster: per officer, its devices (model, address, "
        "name). SIGUSR1 takes every device out of range (links drop, advertising stops), "
        "SIGUSR2 brings them back.",
    )
    parser.add_argument("--officers", type=int, default=4, help="number of officers")
    parser.add_argument(
        "--scenario",
        default="patrol-shift",
        help=f"scenario name or TOML file ({', '.join(list_scenarios())})",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same run)")
    parser.add_argument("--time-scale", type=float, help="simulated seconds per wall second")
    parser.add_argument(
        "--listen",
        default="tcp-server:127.0.0.1:9002",
        metavar="SPEC",
        help="Bumble HCI transport to serve on (tcp-server:HOST:PORT, unix-server:PATH...)",
    )
    parser.add_argument(
        "--vehicle-nmea",
        metavar="HOST:PORT",
        type=_udp_address,
        help="send the first officer's vehicle's GNSS as NMEA (RMC, GGA, GSA, GSV; 1 Hz), one "
        "UDP datagram a second, for a gpsd reading udp://HOST:PORT",
    )
    parser.add_argument(
        "--start-when-connected",
        action="store_true",
        help="start the scenario's clock only once every device is connected (end-to-end "
        "checks whose scripted events must reach a gateway that is still starting)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: run until stopped)",
    )
    parser.set_defaults(handler=run)


async def simulate(args: argparse.Namespace, io: Streams) -> int:
    scenario = load_scenario(args.scenario)
    radio = VirtualRadio()
    with contextlib.ExitStack() as resources:
        nmea = None
        if args.vehicle_nmea is not None:
            udp = resources.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            address: tuple[str, int] = args.vehicle_nmea
            nmea = NmeaOutput(datetime.now(UTC), lambda data: _send(udp, data, address))
        fleet = Fleet(
            radio, scenario, args.officers, args.seed, time_scale=args.time_scale, vehicle_nmea=nmea
        )
        return await _serve(args, io, scenario, radio, fleet)


async def _serve(
    args: argparse.Namespace, io: Streams, scenario: Scenario, radio: VirtualRadio, fleet: Fleet
) -> int:
    await fleet.start()
    loop = asyncio.get_running_loop()

    # For fault injection from another process (bench/soak.py): every BLE link dropped at once.
    def out_of_range(value: bool) -> None:
        fleet.out_of_range = value

    loop.add_signal_handler(signal.SIGUSR1, out_of_range, True)
    loop.add_signal_handler(signal.SIGUSR2, out_of_range, False)
    exported = await radio.export(args.listen)
    try:
        io.stdout.write(
            json.dumps(
                {
                    "listening": args.listen,
                    "scenario": scenario.name,
                    "time_scale": fleet.time_scale,
                    "officers": [dataclasses.asdict(entry) for entry in fleet.roster()],
                }
            )
            + "\n"
        )
        io.stdout.flush()
        if args.start_when_connected:
            await fleet.wait_connected()
        await fleet.run(args.seconds or None)
    finally:
        await exported.close()
    return EXIT_OK


def _udp_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _send(udp: socket.socket, data: bytes, address: tuple[str, int]) -> None:
    # A datagram to a gpsd that is not (yet) listening is lost, as a receiver's sentences are
    # on a serial line nobody reads: the next second's fix follows.
    with contextlib.suppress(OSError):
        udp.sendto(data, address)


def run(args: argparse.Namespace, io: Streams) -> int:
    if args.officers < 1 or args.seconds < 0:
        io.stderr.write(
            "bluewatch simulate: --officers must be at least 1 and --seconds not negative\n"
        )
        return EXIT_USAGE
    try:
        return asyncio.run(_until_signalled(simulate(args, io)))
    except ScenarioError as exc:
        io.stderr.write(f"bluewatch simulate: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        io.stderr.write(f"bluewatch simulate: cannot serve {args.listen}: {exc}\n")
        return EXIT_FAILURE


async def _until_signalled(main: Coroutine[Any, Any, int]) -> int:
    """Run `main`; SIGTERM and SIGINT end it cleanly (its `finally` blocks run)."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        result: int = await task
        return result
    except asyncio.CancelledError:
        return EXIT_OK
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
