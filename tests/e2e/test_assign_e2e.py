"""Devices assigned at shift start, end to end: `bluewatch simulate` with one H10 and `bluewatch
run` configured with that H10 in its pool and no device for the officer. `bluewatch assign`
makes it stream under the officer with no restart; a restart keeps the assignment; another
officer is refused it; `bluewatch unassign` closes its link; both changes are audit rows in
InfluxDB."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from dashboards.fleet import officer_table_queries
from dashboards.influxql import interpolate
from tests.e2e.harness import (
    create_database,
    gateway_config,
    influx_query,
    pool_ids,
    start_fleet,
    start_gateway,
    wait_until,
)
from tests.service_fixtures import InfluxV1
from tests.support.network import free_port
from tests.support.processes import BLUEWATCH, stop

TOKEN = "e2e-token-" + "0" * 32

SCENARIO = """
name = "assign-e2e"
description = "one H10 officer walking"
duration_s = 600

[environment]
ambient_c = 20.0
relative_humidity_pct = 50.0

[roster]
size = 1
kit = ["polar-h10"]

[[routine]]
activity = "walking"
duration_s = [600, 600]
"""


def link_states(http_port: int) -> dict[tuple[str, str], float]:
    """(device, officer) -> link state code, from the gateway's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    states = {}
    for line in text.splitlines():
        if line.startswith("bluewatch_device_link_state{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            states[labels["device"], labels["officer"]] = float(line.rsplit(" ", 1)[1])
    return states


def reachable(http_port: int) -> bool:
    try:
        link_states(http_port)
    except OSError:
        return False
    return True


def bluewatch(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BLUEWATCH, *argv], capture_output=True, text=True, timeout=30, check=False
    )


def fleet_row(influxdb: InfluxV1, database: str, officer: str) -> dict[str, object]:
    """The fleet dashboard's officer table row, from its own queries as Grafana sends them."""
    row: dict[str, object] = {}
    scope = {"agency": "$__all", "unit": ["$__all"], "officer": [officer]}
    for query in officer_table_queries():
        text = interpolate(query.render(), scope, time_from="now-15m", interval="10s")
        params = urllib.parse.urlencode({"db": database, "q": text})
        with urllib.request.urlopen(f"{influxdb.url}/query?{params}", timeout=10) as response:
            result = json.loads(response.read())["results"][0]
        for series in result.get("series") or []:
            for values in series["values"]:
                row |= dict(zip(series["columns"][1:], values[1:], strict=True))
    return row


def heart_rows(influxdb: InfluxV1, database: str, device: str) -> int:
    rows = influx_query(
        influxdb.url,
        database,
        f'SELECT "bpm" FROM "heart_rate" WHERE "device" = \'{device}\' '
        "AND \"officer\" = 'officer-01'",
    )
    return len(rows)


async def test_assign_streams_without_restart_survives_one_and_unassign_closes(
    tmp_path: Path, influxdb: InfluxV1
) -> None:
    scenario = tmp_path / "assign-e2e.toml"
    scenario.write_text(SCENARIO)
    database = create_database(influxdb.url)
    fleet = start_fleet(officers=1, scenario=str(scenario))
    http_port = free_port()
    log = tmp_path / "gateway.log"
    gateway = None
    try:
        [h10] = pool_ids(fleet)
        config = gateway_config(
            tmp_path,
            fleet,
            influx_url=influxdb.url,
            database=database,
            http_port=http_port,
            pooled=True,
            extra={"dispatch_api": {"token": TOKEN}},
        )
        # A second officer to be refused the H10 while officer-01 holds it.
        config.write_text(config.read_text() + '\n[[officers]]\nid = "officer-02"\n')
        gateway = start_gateway(config, log)
        await asyncio.to_thread(wait_until, lambda: reachable(http_port), 30, "the gateway")
        await asyncio.sleep(3)
        assert link_states(http_port) == {}  # the pool is not connected until assigned

        done = bluewatch("assign", "officer-01", h10, "--config", str(config), "--by", "sgt-4")
        assert done.returncode == 0, done.stderr
        await asyncio.to_thread(
            wait_until,
            lambda: link_states(http_port).get((h10, "officer-01")) == 1.0,
            45,
            "the assigned H10's link to be ok",
        )
        await asyncio.to_thread(
            wait_until,
            lambda: heart_rows(influxdb, database, h10) > 3,
            30,
            "the H10's heart rate under officer-01 in InfluxDB",
        )
        # The fleet dashboard's table follows with no restart: the officer's row shows the
        # device's link and heart rate, and what an H10 alone cannot detect.
        await asyncio.to_thread(
            wait_until,
            lambda: fleet_row(influxdb, database, "officer-01").get("link_state_code") == 1,
            30,
            "officer-01's row in the fleet table to show the H10's link",
        )
        row = fleet_row(influxdb, database, "officer-01")
        assert isinstance(row["heart_rate_bpm"], int)
        assert "panic" in str(row["cannot_detect"])
        assert "heat_strain" not in str(row["cannot_detect"])

        stop(gateway, timeout_s=20)  # a restart keeps the assignment
        gateway = start_gateway(config, log)
        await asyncio.to_thread(wait_until, lambda: reachable(http_port), 30, "the restart")
        await asyncio.to_thread(
            wait_until,
            lambda: link_states(http_port).get((h10, "officer-01")) == 1.0,
            60,
            "the H10 back under officer-01 after the restart",
        )

        refused = bluewatch("assign", "officer-02", h10, "--config", str(config))
        assert refused.returncode == 1
        assert f"device '{h10}' is held by officer 'officer-01'" in refused.stderr
        assert "(409)" in refused.stderr

        done = bluewatch("unassign", h10, "--config", str(config), "--by", "sgt-5")
        assert done.returncode == 0, done.stderr
        assert link_states(http_port) == {}
        await asyncio.sleep(2)  # what was in flight reaches InfluxDB
        before = heart_rows(influxdb, database, h10)
        await asyncio.sleep(4)
        assert heart_rows(influxdb, database, h10) == before  # the link is closed
        assert "released by sgt-5" in log.read_text()
    finally:
        if gateway is not None:
            stop(gateway, timeout_s=20)
        fleet.stop()
    await asyncio.sleep(1.5)  # the last batch reaches InfluxDB

    audit = influx_query(
        influxdb.url,
        database,
        'SELECT "action", "by", "officer", "device", "model" FROM "assignment"',
    )
    assert [row[1:] for row in audit] == [
        ["assign", "sgt-4", "officer-01", h10, "polar-h10"],
        ["unassign", "sgt-5", "officer-01", h10, "polar-h10"],
    ], log.read_text()[-3000:]
