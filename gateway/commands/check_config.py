"""`bluewatch check-config FILE`: validate a configuration and print its shape (no secrets),
with what each officer's kit can and cannot detect."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gateway.alerts.coverage import detectable, gaps, undetectable
from gateway.commands import EXIT_OK, EXIT_USAGE, Streams
from gateway.config import ConfigError, insecure_warnings, load_config, summarise


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
    for warning in insecure_warnings(config):
        io.stderr.write(f"warning: {warning}\n")
    summary = summarise(config)
    refs = config.device_refs()
    for officer in summary["officers"]:
        kit = [ref for ref in refs if ref.officer_id == officer["id"]]
        officer["detects"] = sorted(kind.value for kind in detectable(kit))
        officer["cannot_detect"] = [kind.value for kind in undetectable(kit)]
        # What a supervisor must know before the shift: silence from this officer means
        # nothing for these alerts.
        for gap in gaps(kit):
            io.stderr.write(f"{officer['id']}: {gap}\n")
    io.stdout.write(json.dumps(summary, indent=2) + "\n")
    return EXIT_OK
