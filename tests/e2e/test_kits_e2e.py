"""Straps and the CORE end to end: `bluewatch simulate` and `bluewatch run` as processes over the
real BLE path (HCI over TCP), rows read back from InfluxDB; `bluewatch read` decodes both."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.e2e.harness import (
    Fleet,
    create_database,
    gateway_config,
    influx_query,
    start_fleet,
    start_gateway,
)
from tests.e2e.test_field_tools import bluewatch
from tests.service_fixtures import InfluxV1

# Officer 1 wears a strap and a CORE, officer 2 a strap that sends spurious RR intervals.
SCENARIO = """
name = "kits-e2e"
description = "a strap and a CORE; a strap alone, sending spurious RR intervals"
duration_s = 3600

[environment]
ambient_c = 30.0
relative_humidity_pct = 50.0

[roster]
size = 2

[[roster.officers]]
index = 0
kit = ["generic-hrs", "core"]

[[roster.officers]]
index = 1
kit = ["generic-hrs"]

[[routine]]
activity = "walking"
duration_s = [600, 900]

[[faults]]
at_s = 0
kind = "spurious_rr"
device = "hrs"
officers = [1]
every_n = 2
"""


def kits_fleet(tmp_path: Path) -> Fleet:
    path = tmp_path / "kits-e2e.toml"
    path.write_text(SCENARIO)
    return start_fleet(officers=2, scenario=str(path))


def rows(url: str, database: str, query: str) -> list[list[object]]:
    return influx_query(url, database, query)


async def test_straps_and_a_core_reach_influxdb(tmp_path: Path, influxdb: InfluxV1) -> None:
    database = create_database(influxdb.url)
    fleet = kits_fleet(tmp_path)
    try:
        assert [[d["model"] for d in entry["devices"]] for entry in fleet.roster] == [
            ["generic-hrs", "core"],
            ["generic-hrs"],
        ]
        config = gateway_config(tmp_path, fleet, influx_url=influxdb.url, database=database)
        gateway = start_gateway(config, tmp_path / "gateway.log", seconds=14)
        await asyncio.to_thread(gateway.wait, 60)
        assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-3000:]
    finally:
        fleet.stop()
    await asyncio.sleep(1.0)  # the last batch reaches InfluxDB
    url = influxdb.url
    beats = rows(url, database, 'SELECT COUNT("rr_s") FROM "rr_interval" GROUP BY "device"')
    assert len(beats) == 2  # both straps' beats, one row per beat
    heart = rows(
        url,
        database,
        'SELECT "bpm", "sensor_contact", "energy_kj", "rr_count", "rr_rejected" '
        'FROM "heart_rate" WHERE "model" = \'generic-hrs\'',
    )
    assert all(40 <= bpm <= 200 for _, bpm, *_ in heart)  # type: ignore[operator]
    assert {contact for _, _, contact, *_ in heart} == {"detected"}
    # Energy expended rides on about one notification in ten (HRS 1.0 §3.1.1.3).
    energies = [energy for _, _, _, energy, *_ in heart if energy is not None]
    assert 0 < len(energies) < len(heart) / 5
    # Several RR intervals in one notification, as real straps send them when beats bunch up.
    counts = [int(count) for *_, count, _ in heart if count is not None]  # type: ignore[call-overload]
    assert max(counts) >= 2
    # Officer 2's spurious 52 ms intervals are refused by the RR filter, never stored.
    rejected = rows(
        url,
        database,
        'SELECT SUM("rr_rejected") FROM "heart_rate" WHERE "officer" = \'officer-02\'',
    )
    assert rejected
    assert int(rejected[0][1]) > 0  # type: ignore[call-overload]
    short = rows(url, database, 'SELECT COUNT("rr_s") FROM "rr_interval" WHERE "rr_s" < 0.2')
    assert not short
    core = rows(
        url,
        database,
        'SELECT "measured_c", "skin_c", "quality", "heart_rate_bpm", "source" '
        'FROM "core_temperature" WHERE "officer" = \'officer-01\'',
    )
    by_source: dict[object, int] = {}
    for _, measured, *_, source in core:
        assert 36.0 < measured < 39.5  # type: ignore[operator]
        by_source[source] = by_source.get(source, 0) + 1
    # About 1 Hz from the CORE's own service once connected; before that, from what it
    # advertised; its Health Thermometer is left alone (it has the vendor characteristic).
    assert by_source.get("core_body_temperature", 0) >= 5
    assert by_source.get("advertisement", 0) >= 1
    assert "health_thermometer" not in by_source
    paired = [row for row in core if row[5] == "core_body_temperature"]
    assert {row[3] for row in paired} == {"good"}
    assert all(row[4] is not None for row in paired)  # the strap's rate, passed on by the CORE


def test_read_decodes_a_strap_and_a_core(tmp_path: Path) -> None:
    fleet = kits_fleet(tmp_path)
    transport = [
        "--ble-backend",
        "bumble",
        "--bumble-transport",
        f"tcp-client:127.0.0.1:{fleet.port}",
    ]
    try:
        streams = {}
        for model in ("generic-hrs", "core"):
            done = bluewatch(
                "read", fleet.device(0, model)["address"], "--seconds", "3", *transport
            )
            assert done.returncode == 0, done.stderr
            streams[model] = [json.loads(line) for line in done.stdout.splitlines()]
    finally:
        fleet.stop()
    strap = [row for row in streams["generic-hrs"] if row.get("kind") == "notify"]
    assert strap
    assert all("error" not in row for row in strap)
    assert strap[-1]["characteristic"] == "Heart Rate Measurement (0x2A37)"
    assert strap[-1]["reading"]["sensor_contact"] == "detected"
    core = [row for row in streams["core"] if row.get("kind") == "notify"]
    assert all("error" not in row for row in core)
    names = {row["characteristic"] for row in core}
    assert "CORE Core Body Temperature (00002101)" in names
    reading = next(r["reading"] for r in core if r["characteristic"].startswith("CORE"))
    assert 36.0 < reading["core_temperature_c"] < 39.5
    assert reading["quality"] == "good"
