"""The `bluewatch` command line: the only place in the gateway that chooses an exit status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from gateway.decoding import InputError, decode_lines, decode_to_dict
from sensors import DecodeError

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluewatch", description="Officer wearable telemetry gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    decode = commands.add_parser(
        "decode",
        help="decode a characteristic value to JSON",
        description=(
            "Decode one GATT value given as UUID and hex bytes, or with --batch one `UUID HEX` "
            "line at a time from standard input (one JSON object per line; malformed payloads "
            'give {"error": ...} and the exit status stays 0).'
        ),
    )
    decode.add_argument("uuid", nargs="?", help="characteristic UUID: 2A37 or 128-bit")
    decode.add_argument("hex", nargs="?", help="payload as hex digits, e.g. 164b0004")
    decode.add_argument("--batch", action="store_true", help="read `UUID HEX` lines from stdin")
    return parser


def _decode(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    if args.batch:
        if args.uuid or args.hex:
            stderr.write("bluewatch decode: --batch reads stdin and takes no UUID or HEX\n")
            return EXIT_USAGE
        for line in decode_lines(stdin):
            stdout.write(line + "\n")
            stdout.flush()
        return EXIT_OK
    if not (args.uuid and args.hex):
        stderr.write("bluewatch decode: give UUID and HEX, or --batch\n")
        return EXIT_USAGE
    try:
        reading = decode_to_dict(args.uuid, args.hex)
    except (DecodeError, InputError) as exc:
        stderr.write(f"bluewatch decode: {exc}\n")
        return EXIT_BAD_INPUT
    stdout.write(json.dumps(reading) + "\n")
    return EXIT_OK


def run(
    argv: Sequence[str] | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """Run a command and return its exit status (tests call this; `main` exits with it)."""
    args = _build_parser().parse_args(argv)
    handlers = {"decode": _decode}
    return handlers[args.command](args, stdin, stdout, stderr)


def main() -> None:
    sys.exit(run())
