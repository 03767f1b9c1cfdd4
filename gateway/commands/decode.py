"""`bluewatch decode`: one GATT value, or `UUID HEX` lines from stdin, to JSON."""

from __future__ import annotations

import argparse
import json
import math

from gateway.commands import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, Streams
from gateway.decoding import InputError, decode_lines, decode_to_dict
from sensors import DecodeError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "decode",
        help="decode a characteristic value to JSON",
        description=(
            "Decode one GATT value given as UUID and hex bytes, or with --batch one `UUID HEX` "
            "line at a time from standard input (one JSON object per line; malformed payloads "
            'give {"error": ...} and the exit status stays 0). A PMD control-point value is read '
            "by its first byte: 0F a feature read, F0 a response, anything else the client's "
            "command (so the sensor's own stop notice, also 01 ..., reads as a command here)."
        ),
    )
    parser.add_argument(
        "uuid",
        nargs="?",
        help="characteristic UUID: 2A37, or 128-bit such as "
        "00002101-5b1e-4347-b07c-97b514dae121 (greenTEG CORE)",
    )
    parser.add_argument("hex", nargs="?", help="payload as hex digits, e.g. 164b0004")
    parser.add_argument("--batch", action="store_true", help="read `UUID HEX` lines from stdin")
    parser.add_argument(
        "--pmd-factor",
        type=float,
        metavar="F",
        help="add samples_scaled (samples x F) to PMD data frames; F is the FACTOR of the "
        "stream's start response",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, io: Streams) -> int:
    if args.pmd_factor is not None and not math.isfinite(args.pmd_factor):
        io.stderr.write("bluewatch decode: --pmd-factor must be a finite number\n")
        return EXIT_USAGE
    if args.batch:
        if args.uuid or args.hex:
            io.stderr.write("bluewatch decode: --batch reads stdin and takes no UUID or HEX\n")
            return EXIT_USAGE
        for line in decode_lines(io.stdin, args.pmd_factor):
            io.stdout.write(line + "\n")
            io.stdout.flush()
        return EXIT_OK
    if not (args.uuid and args.hex):
        io.stderr.write("bluewatch decode: give UUID and HEX, or --batch\n")
        return EXIT_USAGE
    try:
        reading = decode_to_dict(args.uuid, args.hex, args.pmd_factor)
    except (DecodeError, InputError) as exc:
        io.stderr.write(f"bluewatch decode: {exc}\n")
        return EXIT_BAD_INPUT
    io.stdout.write(json.dumps(reading) + "\n")
    return EXIT_OK
