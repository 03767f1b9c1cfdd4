"""The `bluewatch` command line: the only place in the gateway that chooses an exit status."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import TextIO

from gateway.commands import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.commands import analyze as analyze_command
from gateway.commands import assign as assign_command
from gateway.commands import check_config as check_config_command
from gateway.commands import decode as decode_command
from gateway.commands import dispatch_sink as dispatch_sink_command
from gateway.commands import export as export_command
from gateway.commands import read as read_command
from gateway.commands import run as run_command
from gateway.commands import scan as scan_command
from gateway.commands import unassign as unassign_command
from gateway.commands import unbond as unbond_command

# Each module adds one subcommand; keep this list sorted by command name.
COMMAND_MODULES = (
    analyze_command,
    assign_command,
    check_config_command,
    decode_command,
    dispatch_sink_command,
    export_command,
    read_command,
    run_command,
    scan_command,
    unassign_command,
    unbond_command,
)
# Other packages of the distribution add commands through this entry-point group (the simulated
# firmware's `simulate`), so the gateway offers them without importing those packages.
PLUGIN_GROUP = "bluewatch.commands"
logger = logging.getLogger(__name__)

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluewatch", description="Officer wearable telemetry gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    for plugin in entry_points(group=PLUGIN_GROUP):
        try:
            plugin.load()(commands)
        except Exception:  # a broken plugin must not take the gateway's own commands down
            logger.exception("command plugin %s could not be loaded", plugin.name)
    return parser


def run(
    argv: Sequence[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run a command and return its exit status (tests call this; `main` exits with it)."""
    args = build_parser().parse_args(argv)
    io = Streams(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    status: int = args.handler(args, io)
    return status


def main() -> None:
    sys.exit(run())
