"""Gateway CPU and memory per officer at realistic rates.

    scripts/services start && source .run/services.env
    .venv/bin/python bench/footprint.py [--officers 1 4 8] [--seconds 60]

For each fleet size: `bluewatch simulate` (patrol-shift, real time) in one process and
`bluewatch run` (InfluxDB v1 sink, outbox, analytics and alerts) in another, for `--seconds`
after all devices are connected. Reads the gateway's CPU time (utime + stime from /proc) over
the measured interval and its resident memory (VmRSS) at the end; the fleet process is not
counted. Per-officer figures are the slope between the smallest and largest fleet, so the
fixed cost of the process (Python, Bumble, aiohttp) is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import create_database, gateway_config, start_fleet
from tests.support.processes import BLUEWATCH

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(officers: int, seconds: float, influx_url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        fleet = start_fleet(officers=officers, scenario="patrol-shift")
        database = create_database(influx_url)
        config = gateway_config(Path(folder), fleet, influx_url=influx_url, database=database)
        log = Path(folder) / "gateway.log"
        gateway = subprocess.Popen(
            [BLUEWATCH, "run", "--config", str(config)], stderr=log.open("w")
        )
        try:
            deadline = time.monotonic() + 60
            while log.read_text().count("connected and subscribed") < 2 * officers:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"devices did not connect: {log.read_text()[-2000:]}")
                time.sleep(0.5)
            time.sleep(5)  # past connection set-up
            start = cpu_seconds(gateway.pid)
            time.sleep(seconds)
            cpu = cpu_seconds(gateway.pid) - start
            rss = rss_mib(gateway.pid)
        finally:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(timeout=30)
            fleet.stop()
    return {"officers": officers, "cpu_percent": 100 * cpu / seconds, "rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--officers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=60.0)
    options = parser.parse_args()
    url = os.environ.get("BLUEWATCH_INFLUXDB_URL", "http://127.0.0.1:18086")
    rows = [measure(n, options.seconds, url) for n in options.officers]
    for row in rows:
        print(json.dumps(row))
    low, high = rows[0], rows[-1]
    span = high["officers"] - low["officers"]
    if span:
        print(
            json.dumps(
                {
                    "cpu_percent_per_officer": (high["cpu_percent"] - low["cpu_percent"]) / span,
                    "rss_mib_per_officer": (high["rss_mib"] - low["rss_mib"]) / span,
                    "fixed_rss_mib": low["rss_mib"]
                    - low["officers"] * (high["rss_mib"] - low["rss_mib"]) / span,
                }
            )
        )


if __name__ == "__main__":
    main()
