"""Polar sensors end to end: `bluewatch simulate` with H10 and Verity Sense kits and `bluewatch
run` as processes over the real BLE path (HCI over TCP, PMD on the wire), rows read back from
InfluxDB.

Three officers fall 8 s after every device is connected and then lie still: one wears an H10
streaming ACC at 200 Hz, one an H10 at 25 Hz (the rates the gateway chooses through PMD, from
the roster), one a Verity Sense alone. The chest straps raise officer down; the arm band, whose
acceleration is telemetry only, does not. The man-down times are shortened in the gateway's
configuration so the whole run takes about half a minute.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.harness import (
    create_database,
    gateway_config,
    influx_query,
    start_fleet,
    start_gateway,
)
from tests.service_fixtures import InfluxV1

RUN_S = 30

SCENARIO = """
name = "polar-e2e"
description = "two H10 officers and a Verity officer fall and lie still"
duration_s = 600

[environment]
ambient_c = 20.0
relative_humidity_pct = 50.0

[roster]
size = 3
kit = ["polar-h10"]

[[roster.officers]]
index = 2
kit = ["polar-verity-sense"]

[[timeline]]
at_s = 0
activity = "walking"
officers = "all"

[[timeline]]
at_s = 8
activity = "falling"
officers = "all"

[[routine]]
activity = "walking"
duration_s = [600, 600]
"""


async def test_h10_and_verity_officers_over_ble(tmp_path: Path, influxdb: InfluxV1) -> None:
    path = tmp_path / "polar-e2e.toml"
    path.write_text(SCENARIO)
    database = create_database(influxdb.url)
    fleet = start_fleet(officers=3, scenario=str(path), start_when_connected=True)
    gateway = None
    try:
        assert [[d["model"] for d in entry["devices"]] for entry in fleet.roster] == [
            ["polar-h10"], ["polar-h10"], ["polar-verity-sense"]
        ]  # fmt: skip
        config = gateway_config(
            tmp_path,
            fleet,
            influx_url=influxdb.url,
            database=database,
            extra={"alerts": {"pre_alert_after_s": 4.0, "alarm_after_s": 8.0}},
            device_extra={
                ("officer-01", "polar-h10"): {"acc_rate_hz": 200},
                ("officer-02", "polar-h10"): {"acc_rate_hz": 25},
            },
        )
        gateway = start_gateway(config, tmp_path / "gateway.log", seconds=RUN_S)
        await asyncio.to_thread(gateway.wait, RUN_S + 60)
        assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-3000:]
    finally:
        if gateway is not None and gateway.poll() is None:  # hung: never leave it running
            gateway.kill()
            gateway.wait()
        fleet.stop()
    await asyncio.sleep(1.0)  # the last batch reaches InfluxDB
    log = (tmp_path / "gateway.log").read_text()[-3000:]

    heart = influx_query(influxdb.url, database, 'SELECT "bpm", "officer" FROM "heart_rate"')
    assert {row[2] for row in heart} == {"officer-01", "officer-02", "officer-03"}, log
    assert all(40 <= row[1] <= 200 for row in heart)  # type: ignore[operator]
    # RR from the H10's Heart Rate Service, and the Verity's PPI stored as RR: all three.
    beats = influx_query(influxdb.url, database, 'SELECT "rr_s", "officer" FROM "rr_interval"')
    assert {row[2] for row in beats} == {"officer-01", "officer-02", "officer-03"}, log
    assert all(0.3 < row[1] < 1.5 for row in beats)  # type: ignore[operator]
    # Activity from each sensor's PMD acceleration, at the rate the roster chose.
    activity = influx_query(influxdb.url, database, 'SELECT "samples", "officer" FROM "activity"')
    samples: dict[object, list[int]] = {}
    for _, count, officer in activity:
        samples.setdefault(officer, []).append(int(count))  # type: ignore[call-overload]
    assert set(samples) == {"officer-01", "officer-02", "officer-03"}, log
    # A one-second summary holds about the stream's rate in samples.
    assert 150 <= sorted(samples["officer-01"])[len(samples["officer-01"]) // 2] <= 250
    assert 15 <= sorted(samples["officer-02"])[len(samples["officer-02"]) // 2] <= 35
    alerts = influx_query(influxdb.url, database, 'SELECT "kind", "state", "officer" FROM "alert"')
    down = {(row[3], row[2]) for row in alerts if row[1] == "officer_down"}
    # Officer down from the H10 at either rate; never from an arm band alone.
    assert {("officer-01", "active"), ("officer-02", "active")} <= down, log
    assert not {state for officer, state in down if officer == "officer-03"}
