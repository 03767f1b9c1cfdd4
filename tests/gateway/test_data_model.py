"""The data model is one table: `MEASUREMENTS` in gateway/domain.py and docs/data-model.md agree,
and the points the gateway makes follow the table's tags and lanes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_mocks.scenario import load_scenario
from gateway.domain import MEASUREMENTS, SCOPE_TAGS, Channel, DeviceRef, Lane, Point, Scope, UnitRef
from gateway.normalize import points_for
from sensors import (
    BatteryLevel,
    DeviceModel,
    DeviceStatus,
    HeartRateMeasurement,
    LocationAndSpeed,
    SafetyEvent,
    SafetyEventKind,
    TemperatureMeasurement,
)
from tests.gateway.alerts.scenario_driver import drive
from tests.test_architecture import ROOT

DOC = ROOT / "docs" / "data-model.md"
ROW = re.compile(
    r"^\| `(?P<name>[a-z_]+)` \| (?P<tags>[^|]+) \| (?P<lane>\w+) \| (?P<channel>\w+) \|"
)


def documented(path: Path = DOC) -> dict[str, tuple[Scope, tuple[str, ...], Lane, Channel]]:
    rows = {}
    for line in path.read_text().splitlines():
        if match := ROW.match(line):
            tags = match["tags"]
            scope = Scope(tags.split()[0])
            extra = tuple(re.findall(r"`([a-z_]+)`", tags))
            lane = Lane[match["lane"].upper()]
            rows[match["name"]] = (scope, extra, lane, Channel(match["channel"]))
    return rows


def test_the_documented_table_is_the_code_table() -> None:
    in_code = {m.name: (m.scope, m.extra_tags, m.lane, m.channel) for m in MEASUREMENTS.values()}
    assert documented() == in_code


def test_the_doc_parser_reads_a_row(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "| `safety_event` | device + `event` | event | telemetry | `sequence` | x | y |\n"
    )
    assert documented(page) == {
        "safety_event": (Scope.DEVICE, ("event",), Lane.EVENT, Channel.TELEMETRY)
    }


def follows_the_table(point: Point) -> list[str]:
    measurement = MEASUREMENTS.get(point.measurement)
    if measurement is None:
        return [f"{point.measurement}: not in the table"]
    problems = []
    required = set(SCOPE_TAGS[measurement.scope])
    if not required <= set(point.tags) <= set(measurement.tag_keys):
        problems.append(f"{point.measurement}: tags {sorted(point.tags)}")
    if point.lane is not measurement.lane:
        problems.append(f"{point.measurement}: lane {point.lane.name}")
    return problems


UNIT = UnitRef("pd", "car-1")
VEST = DeviceRef(UNIT, "officer-01", "officer-01-vest", DeviceModel.BLUEWATCH_VEST)
READINGS = [
    HeartRateMeasurement(heart_rate_bpm=70, rr_intervals_s=(0.8,)),
    TemperatureMeasurement(temperature_c=34.0),
    LocationAndSpeed(latitude_deg=40.0, longitude_deg=-75.0, position_status="ok"),
    BatteryLevel(battery_pct=80),
    DeviceStatus(
        firmware_version="1.0.0",
        device_ticks_ms=1,
        boot_count=1,
        charging=False,
        sensor_fault=False,
    ),
    SafetyEvent(event=SafetyEventKind.PANIC_PRESS, sequence=1, device_ticks_ms=1),
]


@pytest.mark.parametrize("reading", READINGS, ids=lambda r: type(r).__name__)
def test_readings_become_points_that_follow_the_table(reading: object) -> None:
    points = points_for(reading, VEST, 1_000)  # type: ignore[arg-type]
    assert points
    assert [problem for point in points for problem in follows_the_table(point)] == []


def test_rules_and_alerts_make_points_that_follow_the_table() -> None:
    run = drive(load_scenario("every-rule"), officers=8, seconds=90)
    assert {"alert", "physiology"} <= {point.measurement for point in run.points}
    assert [problem for point in run.points for problem in follows_the_table(point)] == []


def test_the_check_catches_a_wrong_lane_and_a_missing_tag() -> None:
    wrong = Point("alert", UNIT.officer_tags("o1"), {}, 1, Lane.TELEMETRY)
    assert follows_the_table(wrong) == ["alert: lane TELEMETRY"]
    bare = Point("heart_rate", UNIT.tags, {}, 1)
    assert follows_the_table(bare) == ["heart_rate: tags ['agency', 'unit']"]
