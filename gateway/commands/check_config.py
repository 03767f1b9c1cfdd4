"""`bluewatch check-config FILE`: validate a configuration and print its shape (no secrets)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gateway.commands import EXIT_OK, EXIT_USAGE, Streams
from gateway.config import ConfigError, load_config, summarise


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("check-config", help="validate a configuration file")
    parser.add_argument("file", type=Path)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, io: Streams) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        io.stderr.write(f"bluewatch check-config: {exc}\n")
        return EXIT_USAGE
    io.stdout.write(json.dumps(summarise(config), indent=2) + "\n")
    return EXIT_OK
