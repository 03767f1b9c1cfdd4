"""The field tools across processes: `bluewatch simulate` serves, `scan` and `read` attach."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.harness import start_fleet
from tests.support.processes import BLUEWATCH


def bluewatch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BLUEWATCH, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_scan_and_read_a_simulated_fleet_over_tcp() -> None:
    fleet = start_fleet(officers=2, scenario="patrol-shift")
    fleet_transport = f"tcp-client:127.0.0.1:{fleet.port}"
    transport = ["--ble-backend", "bumble", "--bumble-transport", fleet_transport]
    try:
        scan = bluewatch("scan", "--seconds", "2", *transport)
        assert scan.returncode == 0, scan.stderr
        rows = [json.loads(line) for line in scan.stdout.splitlines()]
        heard = {row["address"]: row for row in rows if "address" in row}
        assert [row["adapter"] for row in rows if "adapter" in row] == [fleet_transport]
        for entry in fleet.roster:
            for device in entry["devices"]:
                assert heard[device["address"]]["model"] == device["model"]
                assert heard[device["address"]]["name"] == device["name"]

        vest = fleet.device(0, "bluewatch-vest")["address"]
        read = bluewatch("read", vest, "--seconds", "3", *transport)
        assert read.returncode == 0, read.stderr
        rows = [json.loads(line) for line in read.stdout.splitlines()]
        services = {row["service"] for row in rows if "service" in row}
        assert "0000180d-0000-1000-8000-00805f9b34fb" in services
        notified = [row for row in rows if row.get("kind") == "notify"]
        names = {row["characteristic"] for row in notified}
        assert "Heart Rate Measurement (0x2A37)" in names
        assert "Officer Safety IMU Batch (b1e50002)" in names
        heart = next(row for row in notified if row["characteristic"].startswith("Heart Rate"))
        assert 40 <= heart["reading"]["heart_rate_bpm"] <= 200
        assert all("error" not in row for row in notified)
        reads = {row["characteristic"]: row["reading"] for row in rows if row.get("kind") == "read"}
        assert reads["Body Sensor Location (0x2A38)"] == {"body_sensor_location": "chest"}

        helmet = bluewatch(
            "read", fleet.device(1, "bluewatch-helmet")["address"], "--seconds", "2.5", *transport
        )
        assert helmet.returncode == 0, helmet.stderr
        locations = [
            json.loads(line) for line in helmet.stdout.splitlines() if "Location and Speed" in line
        ]
        assert locations
        assert locations[-1]["reading"]["latitude_deg"] is not None
    finally:
        fleet.stop()


def test_read_of_an_absent_device_fails_cleanly() -> None:
    fleet = start_fleet(officers=1, scenario="patrol-shift")
    try:
        transport = [
            "--ble-backend",
            "bumble",
            "--bumble-transport",
            f"tcp-client:127.0.0.1:{fleet.port}",
        ]
        done = bluewatch("read", "C0:FF:EE:00:00:01", "--seconds", "1", *transport)
        assert done.returncode == 3
        assert "not heard" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        fleet.stop()


def test_scan_without_a_radio_says_so() -> None:
    done = bluewatch(
        "scan",
        "--seconds",
        "1",
        "--ble-backend",
        "bumble",
        "--bumble-transport",
        "tcp-client:127.0.0.1:1",
    )
    assert done.returncode == 3
    assert "cannot reach the radio" in done.stderr
    assert "Traceback" not in done.stderr
