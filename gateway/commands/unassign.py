"""`bluewatch unassign DEVICE --config FILE`: release a pool device from its officer through the
running gateway's `/assignments`; the gateway stops its streams and closes its link."""

from __future__ import annotations

import argparse

from gateway.assignment_client import GatewayUnreachableError
from gateway.commands import EXIT_FAILURE, Streams
from gateway.commands.assign import add_common, client, report, who


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("unassign", help="release a pool device (running gateway)")
    parser.add_argument("device", help="the pool device's id")
    add_common(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, io: Streams) -> int:
    api = client("unassign", args, io)
    if isinstance(api, int):
        return api
    try:
        answer = api.unassign(args.device, who(args))
    except GatewayUnreachableError as exc:
        io.stderr.write(f"bluewatch unassign: {exc}\n")
        return EXIT_FAILURE
    return report("unassign", answer, io)
