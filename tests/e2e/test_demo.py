"""`./run demo`'s script from a clean state: no folder, no secrets, no configuration yet.

A short run (the demo's own goals, officer down and heat strain acknowledged, are checked by
tests/e2e/test_alerts_e2e.py on the same scenario): the state is created, the configuration
names every officer's kit by model, the live view says what each kit cannot detect, and the
data of every kit (the CORE's core temperature too) reaches InfluxDB. The car: the fleet's NMEA
reaches the gateway through a real gpsd, so the car drives and stops on the live view and in
InfluxDB, and officer 1 is seen leaving it; that the man-down alarm says where the officer lies
relative to the car is checked by tests/e2e/test_alerts_e2e.py, which runs long enough for it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.e2e.harness import create_database, influx_query
from tests.service_fixtures import InfluxV1, Mqtt
from tests.test_architecture import ROOT

DEMO = ROOT / "scripts" / "demo.py"


def test_the_demo_sets_itself_up_from_nothing(
    tmp_path: Path, influxdb: InfluxV1, mqtt: Mqtt
) -> None:
    state = tmp_path / "demo"
    database = create_database(influxdb.url)
    env = {
        **os.environ,
        "BLUEWATCH_INFLUXDB_URL": influxdb.url,
        "BLUEWATCH_INFLUXDB_DATABASE": database,
        "BLUEWATCH_MQTT_HOST": mqtt.host,
        "BLUEWATCH_MQTT_PORT": str(mqtt.plain_port),
    }
    done = subprocess.run(
        [sys.executable, str(DEMO), "--seconds", "20", "--state", str(state)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    log = (state / "gateway.log").read_text() if (state / "gateway.log").exists() else ""
    assert done.returncode == 0, done.stderr[-2000:] + log[-2000:]
    for secret in ("dispatch.token", "webhook.secret"):
        assert stat.S_IMODE((state / secret).stat().st_mode) == 0o600
    config = tomllib.loads((state / "gateway.toml").read_text())
    kits = [[device["model"] for device in officer["devices"]] for officer in config["officers"]]
    assert kits == [
        ["bluewatch-vest", "bluewatch-helmet"],
        ["bluewatch-vest", "bluewatch-helmet"],
        ["polar-h10", "core"],
        ["generic-hrs"],
    ]
    # The live view lists, under its table, what each kit cannot detect: a strap alone no
    # falls; an H10 does (its accelerometer is on the chest), but it has no panic button.
    assert "officer-04: no fall or man-down detection" in done.stdout
    assert "officer-03: no fall or man-down detection" not in done.stdout
    assert "officer-03: no panic alarms" in done.stdout
    counts = dict(re.findall(r"^  (\w+) +(\d+) points$", done.stdout, re.MULTILINE))
    assert int(counts["heart_rate"]) > 0
    assert int(counts["core_temperature"]) > 0
    assert int(counts["location"]) > 0
    # Officer 3's H10 streams its acceleration over PMD: activity rows from the chest strap.
    h10 = influx_query(
        influxdb.url,
        database,
        'SELECT COUNT("samples") FROM "activity" WHERE "officer" = \'officer-03\'',
    )
    assert h10
    assert int(h10[0][1]) > 0  # type: ignore[call-overload]
    # The car, read from gpsd: it drives (1 Hz rows, with speed), then stands.
    car = influx_query(
        influxdb.url,
        database,
        'SELECT "moving", "speed_mps" FROM "vehicle" WHERE "vehicle" = \'car-12\'',
    )
    assert any(moving and float(speed) > 2 for _, moving, speed in car), car  # type: ignore[arg-type]
    assert not car[-1][1], car  # standing by the end (the officer got out)
    assert re.search(r"car-12: moving \d+\.\d m/s at ", done.stdout)
    assert re.search(r"car-12: (stopped|parked) at ", done.stdout)
    # Officer 1 gets out and runs: the event reaches InfluxDB and shows under the live table.
    left = influx_query(
        influxdb.url,
        database,
        'SELECT "reason" FROM "alert" WHERE "kind" = \'officer_left_vehicle\'',
    )
    assert left, "no officer_left_vehicle alert row"
    assert all(str(reason).startswith("left car-12 on foot: ") for _, reason in left), left
    assert "officer-01: OFFICER_LEFT_VEHICLE active: left car-12 on foot: " in done.stdout
