"""The demo behind `./run demo`: a simulated fleet, the gateway, and a dispatch centre.

    .venv/bin/python scripts/demo.py [--seconds N] [--officers N] [--scenario NAME] [--state DIR]

Starts `bluewatch simulate` serving its virtual radio over HCI/TCP and `bluewatch dispatch-sink`
as the dispatch centre's webhook receiver, writes a gateway configuration for both and for the
local services (.run/demo/gateway.toml; --state names another folder), and runs `bluewatch run
--live`. A dispatcher (a thread here) acknowledges each alarm that reaches the receiver, through
the gateway's authenticated HTTP endpoint. At the end it shows what dispatch received and what
reached InfluxDB. Expects the local services to be up (./run starts them) with their addresses
in the environment.

The fleet is the `mixed-fleet` scenario: officers 1 and 2 in a vest and a helmet (officer down,
heat strain), officer 3 in a Polar H10 and a CORE, officer 4 in a strap alone; the live view
lists under its table what each officer's kit cannot detect.

The car: officer 1 drives the unit's car, stops and gets out. The fleet plays the car's GNSS
receiver (NMEA over UDP, `--vehicle-nmea`) into a real gpsd on a free loopback port, which the
gateway's `[vehicle]` section reads as it would the vehicle's own gpsd: the live view shows the
car moving and parked, the officer leaving it (officer_left_vehicle, sent to the demo's
dispatch, which takes info too) and where the officer lies relative to the car.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".run" / "demo"
sys.path.insert(0, str(ROOT))  # for tests.support: processes started as the e2e tests do

from gateway.config_file import (  # noqa: E402
    SimulatedOfficer,
    TomlValue,
    render_toml,
    simulated_officers,
)
from tests.support.gpsd import start_gpsd  # noqa: E402
from tests.support.network import free_port  # noqa: E402
from tests.support.processes import (  # noqa: E402
    BLUEWATCH,
    DispatchSink,
    start_dispatch_sink,
    stop,
)


@dataclass(frozen=True)
class DemoPorts:
    """Free loopback ports: the fleet's HCI, the gateway's HTTP, gpsd's clients, the car's NMEA."""

    hci: int
    http: int
    gpsd: int
    nmea: int


def secret_file(state: Path, name: str) -> Path:
    path = state / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path


def gateway_config(
    state: Path,
    roster: list[SimulatedOfficer],
    ports: DemoPorts,
    dispatch: DispatchSink,
) -> str:
    """TOML for the demo: the simulated roster, the local services, data under `state`."""
    officers = [
        {**officer, "name": f"Synthetic Officer {number}", "age_years": 28 + 4 * number}
        for number, officer in enumerate(simulated_officers(roster), start=1)
    ]
    document: dict[str, TomlValue] = {
        "agency": "demo-pd",
        "unit": "car-12",
        "ble": {"backend": "bumble", "bumble_transport": f"tcp-client:127.0.0.1:{ports.hci}"},
        "outbox": {"path": state / "outbox.sqlite3"},
        "http": {"port": ports.http},
        "vehicle": {"id": "car-12", "gpsd_host": "127.0.0.1", "gpsd_port": ports.gpsd},
        "dispatch_api": {"token_file": secret_file(state, "dispatch.token")},
        # Demo only: one core-temperature step every 2 s instead of every minute, so heat strain
        # builds within the demo's minutes (the filter's parameters assume one-minute steps).
        "alerts": {"physiology_step_s": 2.0},
        "influx": {
            "api": "v1",
            "url": os.environ["BLUEWATCH_INFLUXDB_URL"],
            "database": os.environ.get("BLUEWATCH_INFLUXDB_DATABASE", "bluewatch"),
        },
        # The demo's broker listens on loopback without TLS; outside a demo, TLS stays on.
        "mqtt": {
            "host": os.environ["BLUEWATCH_MQTT_HOST"],
            "port": int(os.environ["BLUEWATCH_MQTT_PORT"]),
            "tls": False,
        },
        # Info too: the demo's dispatch shows the officer leaving the car.
        "webhooks": [dispatch.webhook(min_severity="info")],
        "officers": officers,
    }
    return render_toml(document)


def influx_counts(since_ns: int) -> dict[str, int]:
    url = os.environ["BLUEWATCH_INFLUXDB_URL"]
    database = os.environ.get("BLUEWATCH_INFLUXDB_DATABASE", "bluewatch")
    counts = {}
    for measurement in (
        "heart_rate",
        "rr_interval",
        "skin_temperature",
        "core_temperature",
        "activity",
        "location",
        "battery",
        "device_status",
        "safety_event",
        "link",
        "gateway",
        "physiology",
        "officer_status",
        "alert",
        "evidence",
        "vehicle",
    ):
        query = urllib.parse.urlencode(
            {"db": database, "q": f'SELECT COUNT(*) FROM "{measurement}" WHERE time >= {since_ns}'}
        )
        with urllib.request.urlopen(f"{url}/query?{query}", timeout=10) as response:
            result = json.loads(response.read())["results"][0]
        series = result.get("series")
        counts[measurement] = max(series[0]["values"][0][1:], default=0) if series else 0
    return counts


class Dispatcher(threading.Thread):
    """Reads what the dispatch receiver prints and acknowledges each new alarm at the gateway."""

    def __init__(self, receiver: DispatchSink, gateway_url: str, token_file: Path) -> None:
        super().__init__(daemon=True)
        self.receiver = receiver
        self.gateway_url = gateway_url
        # Read here, before the thread starts: the file exists by then (secret_file made it).
        self.token = token_file.read_text().strip()
        self.received: list[dict[str, object]] = []
        self.acknowledged: list[str] = []

    def run(self) -> None:
        assert self.receiver.process.stdout is not None
        for line in self.receiver.process.stdout:
            try:
                alert = json.loads(line)
            except ValueError:
                continue
            self.received.append(alert)
            alarm = alert.get("severity") != "info"  # nothing to acknowledge in a notice
            if alarm and alert.get("state") == "active" and not alert.get("acknowledged_by"):
                time.sleep(3)  # a dispatcher reads the alarm, then acknowledges it
                request = urllib.request.Request(
                    f"{self.gateway_url}/alerts/{alert['alert_id']}/acknowledge",
                    data=json.dumps({"by": "demo-dispatcher"}).encode(),
                    headers={
                        "Authorization": f"Bearer {self.token}",
                        "Content-Type": "application/json",
                    },
                    method="POST",
                )
                try:
                    with urllib.request.urlopen(request, timeout=5):
                        self.acknowledged.append(str(alert["alert_id"]))
                except OSError:
                    pass  # already acknowledged or the gateway is stopping


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="0: until Ctrl-C")
    parser.add_argument("--officers", type=int, default=4)
    parser.add_argument("--scenario", default="mixed-fleet")
    parser.add_argument("--state", type=Path, default=DEMO, help="folder for config, data, logs")
    options = parser.parse_args()
    state: Path = options.state
    state.mkdir(parents=True, exist_ok=True)
    for stale in state.glob("outbox.sqlite3*"):  # each demo starts a fresh shift
        stale.unlink()
    ports = DemoPorts(hci=free_port(), http=free_port(), gpsd=free_port(), nmea=free_port())
    started_ns = time.time_ns()
    gpsd = start_gpsd(f"udp://127.0.0.1:{ports.nmea}", ports.gpsd, output=state / "gpsd.log")
    fleet = subprocess.Popen(
        [
            BLUEWATCH,
            "simulate",
            "--officers",
            str(options.officers),
            "--scenario",
            options.scenario,
            "--listen",
            f"tcp-server:127.0.0.1:{ports.hci}",
            "--vehicle-nmea",
            f"127.0.0.1:{ports.nmea}",
            # The shift begins once the gateway hears every wearable, so the drive, the stop and
            # the officer getting out happen while it watches.
            "--start-when-connected",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    receiver = start_dispatch_sink(
        secret_file(state, "webhook.secret"), stderr=(state / "dispatch.log").open("w")
    )
    # The token the gateway will require, made before anything reads it (a fresh clone has none).
    dispatcher = Dispatcher(
        receiver, f"http://127.0.0.1:{ports.http}", secret_file(state, "dispatch.token")
    )
    dispatcher.start()
    status = 0
    try:
        assert fleet.stdout is not None
        announcement = json.loads(fleet.stdout.readline())
        config = state / "gateway.toml"
        config.write_text(gateway_config(state, announcement["officers"], ports, receiver))
        scenario = announcement["scenario"]
        print(f"fleet: {options.officers} officers, scenario {scenario}; config {config}")
        time.sleep(1)
        gateway = [BLUEWATCH, "run", "--config", str(config), "--live"]
        if options.seconds:
            gateway += ["--seconds", str(options.seconds)]
        with (state / "gateway.log").open("w") as log:
            status = subprocess.call(gateway, stderr=log)
    except KeyboardInterrupt:
        status = 0
    finally:
        stop(fleet)
        stop(gpsd)
        time.sleep(1)
        receiver.stop()
    time.sleep(1.5)  # the last batches reach InfluxDB
    print("\nAlerts received by dispatch (signed webhooks, verified):")
    for alert in dispatcher.received:
        what = f"{alert.get('kind')} {alert.get('state')} ({alert.get('severity')})"
        print(f"  {alert.get('officer')}: {what} - {alert.get('reason')}")
    print(f"  acknowledged by the demo dispatcher: {len(dispatcher.acknowledged)}")
    counts = influx_counts(started_ns)
    database = os.environ.get("BLUEWATCH_INFLUXDB_DATABASE", "bluewatch")
    print(f"\nData in InfluxDB ({os.environ['BLUEWATCH_INFLUXDB_URL']}, database {database}):")
    for measurement, count in counts.items():
        print(f"  {measurement:<17} {count:>7} points")
    print(f"Logs: {state / 'gateway.log'}, {state / 'dispatch.log'}")
    print_next_steps(database)
    return status


def print_next_steps(database: str) -> None:
    """A query to try, and where the Grafana dashboards over this data come from."""
    query = "SELECT MEAN(bpm) FROM heart_rate WHERE time > now() - 5m GROUP BY officer"
    url = os.environ["BLUEWATCH_INFLUXDB_URL"]
    print("Try:")
    print(f"  curl -G {url}/query --data-urlencode db={database} \\")
    print(f"    --data-urlencode 'q={query}'")
    print("Grafana: the dashboards over this data are provisioned from dashboards/provisioning/")
    print("  (`bluewatch dashboards build`, or `bluewatch dashboards push --url URL`):")
    print("  docs/dashboards.md")


if __name__ == "__main__":
    sys.exit(main())
