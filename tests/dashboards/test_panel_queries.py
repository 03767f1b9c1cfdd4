"""Every dashboard query, run against real InfluxDB 1.6 after a short simulated shift.

One run per module: two simulated officers (the demo scenario: officer 1 falls 28 s in and lies
still, officer 2 runs in the heat) → BLE over TCP → the gateway → InfluxDB, MQTT and a signed
dispatch webhook. Alarm times are shortened so that man-down is raised, and acknowledged
through the gateway's dispatch API, within the run; physiology steps every 2 s as in the demo.
Then each panel target, template-variable query and annotation query is interpolated as
Grafana would and executed: it must return rows, and every column the panel maps by name
(overrides, joins, map coordinates) must be among the columns returned.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dashboards.catalog import build_all
from dashboards.influxql import interpolate
from tests.dashboards.dashboard_json import (
    Query,
    annotation_columns,
    join_fields,
    mapped_columns,
    panels,
    variable_queries,
)
from tests.e2e.harness import create_database, gateway_config, start_fleet, start_gateway
from tests.service_fixtures import InfluxV1, Mqtt
from tests.support.gpsd import start_gpsfake
from tests.support.network import free_port
from tests.support.nmea import DRIVE_STOP_TUNNEL, write
from tests.support.processes import start_dispatch_sink

# The first test's time includes the module's recorded shift (RUN_S of gateway and fleet).
pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]

RUN_S = 55  # the fall is 28 s into the shift; alarm 8 s later; ack, then a few status rows
INTERVAL = "10s"  # gateway rows come every 10 s, as the gateway panels' minimum interval says
TIME_FROM = "now-15m"
TOKEN = "panel-test-dispatch-token-0123456789"  # at least 32 bytes (MIN_TOKEN_BYTES)
DASHBOARDS = build_all()
PANELS = [
    pytest.param(stem, panel, id=f"{stem}/{panel['title']}")
    for stem, dashboard in DASHBOARDS.items()
    for panel in panels(dashboard)
    if panel.get("targets")
]
VARIABLES = [
    pytest.param(query, id=query.id)
    for stem, dashboard in DASHBOARDS.items()
    for query in variable_queries(stem, dashboard)
]
ANNOTATIONS = [
    pytest.param(stem, annotation, id=f"{stem}/{annotation['name']}")
    for stem, dashboard in DASHBOARDS.items()
    for annotation in dashboard["annotations"]["list"]
]


@dataclass(frozen=True)
class Shift:
    url: str
    database: str
    officers: list[str]
    log: Path

    def variables(self) -> dict[str, str | list[str]]:
        # All agencies and units (the custom all value), the officers as a multi-value pick.
        return {"agency": "$__all", "unit": ["$__all"], "officer": self.officers}

    def run(self, text: str) -> list[dict[str, Any]]:
        """Interpolate like Grafana, query like Grafana (epoch ms), return the series."""
        query = interpolate(text, self.variables(), time_from=TIME_FROM, interval=INTERVAL)
        params = urllib.parse.urlencode({"db": self.database, "q": query, "epoch": "ms"})
        with urllib.request.urlopen(f"{self.url}/query?{params}", timeout=10) as response:
            result = json.loads(response.read())["results"][0]
        assert "error" not in result, f"{result['error']}\nquery: {query}"
        series: list[dict[str, Any]] = result.get("series") or []
        return series


def _acknowledge_first_alarm(shift: Shift, http_port: int) -> bool:
    rows = shift.run(
        'SELECT "alert_id" FROM "alert" WHERE "state" = \'active\' AND "kind" = \'officer_down\' '
        "AND $timeFilter LIMIT 1"
    )
    if not rows:
        return False
    alert_id = rows[0]["values"][0][1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/alerts/{alert_id}/acknowledge",
        data=json.dumps({"by": "panel-test-dispatcher"}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        status: int = response.status
    return status == 200


@pytest.fixture(scope="module")
def shift(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxV1, mqtt: Mqtt
) -> Iterator[Shift]:
    folder = tmp_path_factory.mktemp("panel-queries")
    secret = folder / "webhook.secret"
    secret.write_text(secrets.token_urlsafe(32))
    token = folder / "dispatch.token"
    token.write_text(TOKEN)
    database = create_database(influxdb.url)
    http_port = free_port()
    with (folder / "dispatch.log").open("w") as receiver_log:
        receiver = start_dispatch_sink(secret, stdout=receiver_log, stderr=receiver_log)
    fleet = start_fleet(officers=2, scenario="mixed-fleet")
    # The vehicle: a real gpsd replaying a drive, a stop and a tunnel, over and over.
    gpsd_port = free_port()
    gpsfake = start_gpsfake(
        write(folder / "drive.nmea", DRIVE_STOP_TUNNEL),
        gpsd_port,
        seconds_per_cycle=1.0,
        once=False,
        output=folder / "gpsfake.log",
    )
    log = folder / "gateway.log"
    shift = Shift(influxdb.url, database, [o["officer_id"] for o in fleet.roster], log)
    try:
        config = gateway_config(
            folder,
            fleet,
            influx_url=influxdb.url,
            database=database,
            mqtt=(mqtt.host, mqtt.plain_port),
            topic_prefix=f"panels-{database}",
            http_port=http_port,
            extra={
                "dispatch_api": {"token_file": token},
                "alerts": {
                    "physiology_step_s": 2.0,
                    "pre_alert_after_s": 5.0,
                    "alarm_after_s": 8.0,
                },
                "webhooks": [receiver.webhook()],
                "vehicle": {"id": "car-12", "gpsd_port": gpsd_port},
            },
        )
        gateway = start_gateway(config, log, seconds=RUN_S)
        acknowledged = False
        while gateway.poll() is None:
            time.sleep(1)
            if not acknowledged:
                with contextlib.suppress(OSError):  # the gateway's endpoint is not up yet
                    acknowledged = _acknowledge_first_alarm(shift, http_port)
        assert gateway.returncode == 0, log.read_text()[-3000:]
        assert acknowledged, "no man-down alarm to acknowledge during the run"
    finally:
        fleet.stop()
        receiver.stop()
        gpsfake.stop()
    yield shift
    drop = urllib.parse.urlencode({"q": f"DROP DATABASE {database}"}).encode()
    with urllib.request.urlopen(f"{influxdb.url}/query", data=drop, timeout=10):
        pass


def _columns(series: list[dict[str, Any]]) -> set[str]:
    """What Grafana gets as fields: the value columns plus the GROUP BY tags."""
    names: set[str] = set()
    for one in series:
        names |= set(one["columns"]) | set(one.get("tags") or {})
    return names


def _has_values(series: list[dict[str, Any]]) -> bool:
    return any(
        any(value is not None for value in row[1:]) for one in series for row in one["values"]
    )


@pytest.mark.parametrize(("stem", "panel"), PANELS)
def test_panel_queries_return_what_the_panel_maps(
    shift: Shift, stem: str, panel: dict[str, Any]
) -> None:
    returned: set[str] = set()
    for target in panel["targets"]:
        joined_on = join_fields(panel, target["refId"])
        query = Query(stem, panel["title"], target["refId"], target["query"], "")
        series = shift.run(target["query"])
        assert _has_values(series), f"{query.id} returned no values: {target['query']}"
        columns = _columns(series)
        assert joined_on <= columns, f"{query.id} lacks join field {joined_on - columns}"
        returned |= columns
    missing = mapped_columns(panel) - returned
    assert not missing, f"{stem}/{panel['title']} maps columns no query returns: {missing}"


@pytest.mark.parametrize("query", VARIABLES)
def test_variable_queries_list_values(shift: Shift, query: Query) -> None:
    series = shift.run(query.text)
    values = {row[1] for one in series for row in one["values"]}
    assert values, query.id
    if query.where == "variable officer":
        assert set(shift.officers) <= values


@pytest.mark.parametrize(("stem", "annotation"), ANNOTATIONS)
def test_annotation_queries_return_alerts(
    shift: Shift, stem: str, annotation: dict[str, Any]
) -> None:
    series = shift.run(annotation["query"])
    assert _has_values(series), f"{stem}/{annotation['name']}: no alert rows"
    missing = annotation_columns(annotation) - _columns(series)
    assert not missing, f"{stem}/{annotation['name']} text or tags columns missing: {missing}"


def test_acknowledged_alerts_carry_time_to_acknowledge(shift: Shift) -> None:
    series = shift.run(
        'SELECT "time_to_ack_s" FROM "alert" WHERE "state" = \'acknowledged\' AND $timeFilter'
    )
    values = [row[1] for one in series for row in one["values"]]
    assert values, "no acknowledged alert row carries time_to_ack_s"
    assert all(value is not None and value >= 0 for value in values)


def test_per_sink_panels_name_every_configured_sink(shift: Shift) -> None:
    """Sink fields are selected by regex; after the panel's rename each line is one sink."""
    dashboard = DASHBOARDS["bluewatch-gateway-health"]
    expected = {
        "Outbox depth": {"influx", "mqtt", "webhook-dispatch"},
        "Oldest undelivered point": {"influx", "mqtt", "webhook-dispatch"},
        "Sink latency": {"influx", "mqtt"},
        "Dispatch webhook latency": {"webhook-dispatch"},
    }
    for panel in panels(dashboard):
        if panel["title"] not in expected:
            continue
        (rename,) = [t["options"] for t in panel["transformations"] if t["id"] == "renameByRegex"]
        pattern = re.compile(rename["regex"])
        names = set()
        for target in panel["targets"]:
            for column in _columns(shift.run(target["query"])):
                if pattern.match(column):
                    names.add(pattern.sub(rename["renamePattern"].replace("$", "\\"), column))
        assert expected[panel["title"]] <= names, (panel["title"], names)
        del expected[panel["title"]]
    assert not expected, f"panels not found: {sorted(expected)}"
