"""`bluewatch assign OFFICER DEVICE… --config FILE`: give pool devices to an officer at shift
start, through the running gateway's `/assignments` (docs/security.md, "Assignments")."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from gateway.assignment_client import Answer, AssignmentClient, GatewayUnreachableError
from gateway.commands import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.config import ConfigError, load_config
from gateway.secret_file import SecretError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "assign", help="assign pool devices to an officer (running gateway)"
    )
    parser.add_argument("officer", help="the officer's id, as configured")
    parser.add_argument("devices", nargs="+", metavar="DEVICE", help="pool device ids")
    add_common(parser)
    parser.set_defaults(handler=run)


def add_common(parser: argparse.ArgumentParser) -> None:
    """`--config` and `--by`, which `assign` and `unassign` share."""
    parser.add_argument(
        "--config", type=Path, required=True, help="the running gateway's configuration"
    )
    parser.add_argument(
        "--by", default=None, help="who makes the change, for the audit row (default: your login)"
    )


def client(command: str, args: argparse.Namespace, io: Streams) -> AssignmentClient | int:
    """The client for the configured gateway, or the exit status of why there is none."""
    try:
        return AssignmentClient.for_config(load_config(args.config))
    except ConfigError as exc:
        io.stderr.write(f"bluewatch {command}: {exc}\n")
        return EXIT_USAGE
    except SecretError as exc:
        io.stderr.write(f"bluewatch {command}: {exc}\n")
        return EXIT_FAILURE


def who(args: argparse.Namespace) -> str:
    return str(args.by) if args.by else getpass.getuser()


def report(command: str, answer: Answer, io: Streams) -> int:
    """Print the gateway's answer: its JSON on success, its refusal's message otherwise."""
    if answer.ok:
        io.stdout.write(json.dumps(answer.body, indent=2) + "\n")
        return EXIT_OK
    io.stderr.write(f"bluewatch {command}: refused ({answer.status}): {answer.error}\n")
    return EXIT_BAD_INPUT


def run(args: argparse.Namespace, io: Streams) -> int:
    api = client("assign", args, io)
    if isinstance(api, int):
        return api
    try:
        answer = api.assign(args.officer, list(args.devices), who(args))
    except GatewayUnreachableError as exc:
        io.stderr.write(f"bluewatch assign: {exc}\n")
        return EXIT_FAILURE
    return report("assign", answer, io)
