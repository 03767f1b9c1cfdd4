"""`bluewatch export --config FILE`: what the outbox holds, as line protocol or CSV."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from gateway.commands import EXIT_OK, EXIT_USAGE, Streams
from gateway.config import ConfigError, load_config
from gateway.outbox import Outbox
from gateway.sinks.lineprotocol import SeriesKey

CSV_COLUMNS = ("time_ns", "measurement", "lane", "tags", "fields")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "export",
        help="write the points stored in the outbox",
        description="Write every point the outbox holds (delivered or not) to stdout, as InfluxDB "
        "line protocol (to load into a database) or CSV (tags and fields as JSON columns).",
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--format", choices=("lineprotocol", "csv"), default="lineprotocol")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, io: Streams) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        io.stderr.write(f"bluewatch export: {exc}\n")
        return EXIT_USAGE
    if not config.outbox.path.exists():
        io.stderr.write(f"bluewatch export: no outbox at {config.outbox.path}\n")
        return EXIT_USAGE
    outbox = Outbox(config.outbox.path)
    try:
        writer = csv.writer(io.stdout) if args.format == "csv" else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        for item in outbox.all_points():
            point = item.point
            if writer is None:
                io.stdout.write(
                    SeriesKey(point.measurement, point.tags).line(point.fields, point.time_ns)
                    + "\n"
                )
            else:
                writer.writerow(
                    (point.time_ns, point.measurement, point.lane.name.lower(),
                     json.dumps(dict(point.tags)), json.dumps(dict(point.fields)))
                )  # fmt: skip
    finally:
        outbox.close()
    return EXIT_OK
