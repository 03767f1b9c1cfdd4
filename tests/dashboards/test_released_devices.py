"""A pool device released from an officer leaves that officer's fleet rows at once, against real
InfluxDB 1.6: the rows the assignment desk writes at each change, then the dashboards' queries.

The device's earlier battery and link rows under the officer stay in the time range; the fleet
overview's per-device columns (lowest battery, worst link), its "Lowest battery" stat and the
gateway health's device links must not count them once it is released.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from dashboards.catalog import build_all
from dashboards.influxql import interpolate
from gateway.domain import BATTERY, LINK, Point
from gateway.sinks.lineprotocol import encode_point
from tests.dashboards.dashboard_json import panel_queries
from tests.e2e.harness import create_database
from tests.gateway.assignment_rig import Desk, pool_ref
from tests.service_fixtures import InfluxV1

pytestmark = pytest.mark.services

QUERIES = [
    query for stem, dashboard in build_all().items() for query in panel_queries(stem, dashboard)
]
STRAP = "h10-01"  # a pool device (tests/gateway/assignment_rig.py)
VEST = "vest-01"


class Influx:
    """One scratch database: points written as the InfluxDB sink encodes them, queries run as
    Grafana sends them (every agency, unit and officer in scope, the last 15 minutes)."""

    def __init__(self, url: str, database: str) -> None:
        self.url, self.database = url, database

    def write(self, points: Sequence[Point]) -> None:
        body = "\n".join(encode_point(p.measurement, p.tags, p.fields, p.time_ns) for p in points)
        params = urllib.parse.urlencode({"db": self.database, "precision": "ns"})
        request = urllib.request.Request(f"{self.url}/write?{params}", data=body.encode())
        with urllib.request.urlopen(request, timeout=10):
            pass

    def rows(self, where: str, ref_id: str) -> dict[tuple[str, ...], list[Any]]:
        """The values (time left out), by its series' tags, of the query of panel `where`."""
        (query,) = [q for q in QUERIES if (q.where, q.ref_id) == (where, ref_id)]
        variables = {"agency": "$__all", "unit": ["$__all"], "officer": ["$__all"]}
        text = interpolate(query.text, variables, time_from="now-15m", interval="10s")
        params = urllib.parse.urlencode({"db": self.database, "q": text, "epoch": "ms"})
        with urllib.request.urlopen(f"{self.url}/query?{params}", timeout=10) as response:
            result = json.loads(response.read())["results"][0]
        assert "error" not in result, f"{result['error']}\nquery: {text}"
        return {
            tuple((one.get("tags") or {}).values()): row[1:]
            for one in result.get("series") or []
            for row in one["values"]
        }


@pytest.fixture
def influx(influxdb: InfluxV1) -> Iterator[Influx]:
    database = create_database(influxdb.url)
    yield Influx(influxdb.url, database)
    drop = urllib.parse.urlencode({"q": f"DROP DATABASE {database}"}).encode()
    with urllib.request.urlopen(f"{influxdb.url}/query", data=drop, timeout=10):
        pass


class Shift:
    """The desk's changes and the devices' rows, each a second after the one before."""

    def __init__(self, desk: Desk, influx: Influx) -> None:
        self.desk, self.influx = desk, influx
        self.now_ns = time.time_ns() - 600 * 10**9
        desk.now = self.now_ns

    def tick(self) -> int:
        self.now_ns += 10**9
        self.desk.now = self.now_ns
        return self.now_ns

    def report(self, device: str, officer: str, pct: int, link_code: int) -> None:
        """A battery reading and a link row of the device under `officer`."""
        tags = pool_ref(device, officer).tags
        now = self.tick()
        self.influx.write(
            [
                BATTERY.point(tags, {"pct": pct}, now),
                LINK.point(tags, {"state": "ok", "state_code": link_code}, now),
            ]
        )

    async def assign(self, officer: str, device: str) -> None:
        self.tick()
        await self.desk.desk.assign(officer, [device], "sgt-4")
        self.flush()

    async def unassign(self, device: str) -> None:
        self.tick()
        await self.desk.desk.unassign(device, "sgt-4")
        self.flush()

    def flush(self) -> None:
        self.influx.write(self.desk.points)
        self.desk.points.clear()


def battery_by_officer(influx: Influx) -> dict[tuple[str, ...], list[Any]]:
    return influx.rows("Officers", "BAT")


def link_by_officer(influx: Influx) -> dict[tuple[str, ...], list[Any]]:
    return influx.rows("Officers", "LINK")


def lowest_battery(influx: Influx) -> list[Any]:
    return list(influx.rows("Lowest battery", "BAT").values())


def device_links(influx: Influx) -> set[tuple[str, ...]]:
    return set(influx.rows("Device links", "LINKS"))


async def test_a_released_device_leaves_its_officers_rows_at_once(
    tmp_path: Path, influx: Influx
) -> None:
    shift = Shift(Desk(tmp_path), influx)
    await shift.assign("officer-01", VEST)
    await shift.assign("officer-01", STRAP)
    shift.report(VEST, "officer-01", pct=80, link_code=1)
    shift.report(STRAP, "officer-01", pct=10, link_code=3)  # empty, and its link lost
    assert battery_by_officer(influx) == {("officer-01",): [10]}
    assert link_by_officer(influx) == {("officer-01",): [3]}

    await shift.unassign(STRAP)  # handed in: officer-01 keeps the vest
    assert battery_by_officer(influx) == {("officer-01",): [80]}
    assert link_by_officer(influx) == {("officer-01",): [1]}
    assert lowest_battery(influx) == [[80]]
    assert device_links(influx) == {(VEST, "officer-01")}

    await shift.assign("officer-02", STRAP)  # charged and handed out again
    shift.report(STRAP, "officer-02", pct=95, link_code=1)
    assert battery_by_officer(influx) == {("officer-01",): [80], ("officer-02",): [95]}
    assert device_links(influx) == {(VEST, "officer-01"), (STRAP, "officer-02")}

    await shift.unassign(STRAP)
    await shift.assign("officer-01", STRAP)  # back to the officer it was released from
    shift.report(STRAP, "officer-01", pct=40, link_code=2)
    assert battery_by_officer(influx) == {("officer-01",): [40]}
    assert link_by_officer(influx) == {("officer-01",): [2]}
    assert device_links(influx) == {(VEST, "officer-01"), (STRAP, "officer-01")}
