"""The demo behind `./run demo`: a simulated fleet in one process, the gateway in another.

    .venv/bin/python scripts/demo.py [--seconds N] [--officers N] [--scenario NAME]

Starts `bluewatch simulate` serving its virtual radio over HCI/TCP, writes a gateway
configuration for that fleet and the local services (.run/demo/gateway.toml), runs
`bluewatch run --live` against it, then shows what reached InfluxDB. Expects the local services
to be up (./run starts them) and their addresses in the environment (.run/services.env).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".run" / "demo"
BLUEWATCH = str(Path(sys.executable).with_name("bluewatch"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gateway_config(roster: list[dict[str, str]], port: int) -> str:
    """TOML for the demo: the simulated roster, the local services, data under .run/demo."""
    influx = os.environ["BLUEWATCH_INFLUXDB_URL"]
    database = os.environ.get("BLUEWATCH_INFLUXDB_DATABASE", "bluewatch")
    lines = [
        'agency = "demo-pd"',
        'unit = "car-12"',
        "",
        "[ble]",
        'backend = "bumble"',
        f'bumble_transport = "tcp-client:127.0.0.1:{port}"',
        "",
        "[outbox]",
        f'path = "{DEMO / "outbox.sqlite3"}"',
        "",
        "[http]",
        f"port = {free_port()}",
        "",
        "[influx]",
        'api = "v1"',
        f'url = "{influx}"',
        f'database = "{database}"',
        "",
        "# The demo's broker listens on loopback without TLS; outside a demo, TLS stays on.",
        "[mqtt]",
        f'host = "{os.environ["BLUEWATCH_MQTT_HOST"]}"',
        f"port = {os.environ['BLUEWATCH_MQTT_PORT']}",
        "tls = false",
    ]
    for number, entry in enumerate(roster, start=1):
        lines += [
            "",
            "[[officers]]",
            f'id = "{entry["officer_id"]}"',
            f'name = "Synthetic Officer {number}"',
            f"age_years = {28 + 4 * number}",
            "[[officers.devices]]",
            'kind = "vest"',
            f'address = "{entry["vest_address"]}"',
            "[[officers.devices]]",
            'kind = "helmet"',
            f'address = "{entry["helmet_address"]}"',
        ]
    return "\n".join(lines) + "\n"


def influx_counts(since_ns: int) -> dict[str, int]:
    url = os.environ["BLUEWATCH_INFLUXDB_URL"]
    database = os.environ.get("BLUEWATCH_INFLUXDB_DATABASE", "bluewatch")
    counts = {}
    for measurement in (
        "heart_rate",
        "rr_interval",
        "skin_temperature",
        "activity",
        "location",
        "battery",
        "device_status",
        "safety_event",
        "link",
        "gateway",
    ):
        query = urllib.parse.urlencode(
            {"db": database, "q": f'SELECT COUNT(*) FROM "{measurement}" WHERE time >= {since_ns}'}
        )
        with urllib.request.urlopen(f"{url}/query?{query}", timeout=10) as response:
            result = json.loads(response.read())["results"][0]
        series = result.get("series")
        counts[measurement] = max(series[0]["values"][0][1:], default=0) if series else 0
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="0: until Ctrl-C")
    parser.add_argument("--officers", type=int, default=4)
    parser.add_argument("--scenario", default="demo")
    options = parser.parse_args()
    DEMO.mkdir(parents=True, exist_ok=True)
    port = free_port()
    started_ns = time.time_ns()
    fleet = subprocess.Popen(
        [
            BLUEWATCH,
            "simulate",
            "--officers",
            str(options.officers),
            "--scenario",
            options.scenario,
            "--listen",
            f"tcp-server:127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fleet.stdout is not None
        announcement = json.loads(fleet.stdout.readline())
        config = DEMO / "gateway.toml"
        config.write_text(gateway_config(announcement["officers"], port))
        scenario = announcement["scenario"]
        print(f"fleet: {options.officers} officers, scenario {scenario}; config {config}")
        time.sleep(1)
        gateway = [BLUEWATCH, "run", "--config", str(config), "--live"]
        if options.seconds:
            gateway += ["--seconds", str(options.seconds)]
        with (DEMO / "gateway.log").open("w") as log:
            status = subprocess.call(gateway, stderr=log)
    except KeyboardInterrupt:
        status = 0
    finally:
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(timeout=10)
    time.sleep(1.5)  # the last batches reach InfluxDB
    counts = influx_counts(started_ns)
    database = os.environ.get("BLUEWATCH_INFLUXDB_DATABASE", "bluewatch")
    print(f"\nData in InfluxDB ({os.environ['BLUEWATCH_INFLUXDB_URL']}, database {database}):")
    for measurement, count in counts.items():
        print(f"  {measurement:<17} {count:>7} points")
    print(f"Gateway log: {DEMO / 'gateway.log'}")
    query = "SELECT MEAN(bpm) FROM heart_rate WHERE time > now() - 5m GROUP BY officer"
    url = os.environ["BLUEWATCH_INFLUXDB_URL"]
    print("Try:")
    print(f"  curl -G {url}/query --data-urlencode db={database} \\")
    print(f"    --data-urlencode 'q={query}'")
    return status


if __name__ == "__main__":
    sys.exit(main())
