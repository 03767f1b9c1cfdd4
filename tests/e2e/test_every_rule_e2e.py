"""Every alert rule over the real path: the "every-rule" scenario's simulated vests and helmets
→ BLE (Bumble over TCP) → `bluewatch run` → alert rows in the real InfluxDB.

One officer per rule (panic, weapon drawn, helmet impact, device lost, sensor contact lost, low
battery, tachycardia at rest, bradycardia); the rules' sustain times are shortened in the
gateway's configuration so the whole check takes well under a minute. Officer down and heat
strain, which need longer, run in test_alerts_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from pathlib import Path

from tests.e2e.harness import (
    create_database,
    gateway_config,
    start_fleet,
    start_gateway,
)
from tests.gateway.alerts.test_every_rule import EXPECTED, SETTINGS
from tests.service_fixtures import InfluxV1

RUN_S = 40


async def test_every_rule_fires_over_ble(tmp_path: Path, influxdb: InfluxV1) -> None:
    database = create_database(influxdb.url)
    # The events are scripted 8 s in: counted from when the gateway has every device connected,
    # so a slow start (a loaded machine) cannot make them happen to nobody.
    fleet = start_fleet(officers=8, scenario="every-rule", start_when_connected=True)
    gateway = None
    try:
        config = gateway_config(
            tmp_path,
            fleet,
            influx_url=influxdb.url,
            database=database,
            # The sustain times and thresholds the in-process test of every rule sets.
            extra={"alerts": SETTINGS.model_dump(exclude_unset=True)},
            officer_extra={"officer-07": {"max_hr_bpm": 120}},
        )
        gateway = start_gateway(config, tmp_path / "gateway.log", seconds=RUN_S)
        await asyncio.to_thread(gateway.wait, RUN_S + 60)
        assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-3000:]
    finally:
        if gateway is not None and gateway.poll() is None:  # hung: never leave it running
            gateway.kill()
            gateway.wait()
        fleet.stop()
    series = influx_series(influxdb.url, database)
    raised = {
        (officer, kind, severity)
        for officer, values in series.items()
        for _time, kind, severity, _state, sequence in values
        if sequence == 1
    }
    expected = {(officer, kind.value, sev.value) for officer, (kind, sev) in EXPECTED.items()}
    # First rows only: an unacknowledged high alert escalates later, as it should.
    assert raised == expected, (tmp_path / "gateway.log").read_text()[-3000:]


def influx_series(url: str, database: str) -> dict[str, list[list[object]]]:
    """Alert rows per officer (the `officer` tag of each series)."""
    query = 'SELECT "kind", "severity", "state", "sequence" FROM "alert" GROUP BY "officer"'
    params = urllib.parse.urlencode({"db": database, "q": query})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=10) as response:
        result = json.loads(response.read())["results"][0]
    return {s["tags"]["officer"]: s["values"] for s in result.get("series", [])}
