"""`bluewatch run --config FILE`: the daemon, until SIGTERM or SIGINT (then a clean stop)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from gateway import logs
from gateway.app import build, restrict_file_modes, tune_interpreter
from gateway.commands import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.config import ConfigError, GatewayConfig, insecure_warnings, load_config
from gateway.outbox import OutboxUnavailableError
from gateway.secret_file import SecretError
from gateway.sinks.factory import build_sinks

logger = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run", help="run the gateway daemon")
    parser.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    parser.add_argument("--live", action="store_true", help="show a live table of the officers")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument(
        "--seconds",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: run until stopped)",
    )
    parser.set_defaults(handler=run)


async def serve(config: GatewayConfig, live: bool, seconds: float, io: Streams) -> None:
    restrict_file_modes()
    tune_interpreter()
    gateway = await build(config, build_sinks(config), live_out=io.stdout if live else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if seconds:
        loop.call_later(seconds, stop.set)
    await gateway.run(stop)


def run(args: argparse.Namespace, io: Streams) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        io.stderr.write(f"bluewatch run: {exc}\n")
        return EXIT_USAGE
    # With the live table on stdout, log lines go to stderr (redirect it to keep the table clean).
    logs.configure(args.log_level, args.log_format, sys.stderr)
    for warning in insecure_warnings(config):
        logger.warning("%s", warning)
    try:
        asyncio.run(serve(config, args.live, args.seconds, io))
    except (OSError, SecretError, OutboxUnavailableError) as exc:
        # A secret file that went missing or too short since the configuration was checked,
        # an outbox or a port that cannot be had: one line naming it, no traceback.
        io.stderr.write(f"bluewatch run: {exc}\n")
        return EXIT_FAILURE
    return EXIT_OK
