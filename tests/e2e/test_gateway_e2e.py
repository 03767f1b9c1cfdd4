"""`bluewatch simulate` and `bluewatch run` as separate processes, into real InfluxDB and MQTT.

Counting is exact: after the gateway stops, what its outbox accepted (`bluewatch export`) must
all be in InfluxDB, once (InfluxDB keeps one row per series and timestamp, so a duplicate
delivery cannot inflate the count, and a loss shows as a shortfall).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiomqtt
import pytest

from tests.e2e.harness import (
    create_database,
    exported_counts,
    gateway_config,
    influx_query,
    start_fleet,
    start_gateway,
    wait_until,
)
from tests.integration.private_services import influxdb as private_influxdb
from tests.service_fixtures import InfluxV1, Mqtt

# A field every row of the measurement carries, so COUNT(field) counts rows.
ROW_FIELDS = {
    "heart_rate": "bpm",
    "rr_interval": "rr_s",
    "activity": "mean_g",
    "location": "position_status",
    "battery": "pct",
    "device_status": "firmware",
    "link": "state_code",
    "skin_temperature": "celsius",
}


def influx_counts(url: str, database: str) -> dict[str, int]:
    counts = {}
    for measurement, field in ROW_FIELDS.items():
        rows = influx_query(url, database, f'SELECT COUNT("{field}") FROM "{measurement}"')
        counts[measurement] = int(rows[0][1]) if rows else 0  # type: ignore[call-overload]
    return counts


def assert_all_delivered(config: Path, url: str, database: str) -> dict[str, int]:
    accepted = {m: n for m, n in exported_counts(config).items() if m in ROW_FIELDS}
    stored = influx_counts(url, database)
    assert accepted["heart_rate"] > 0
    assert accepted["activity"] > 0
    assert {m: stored[m] for m in accepted} == accepted
    return accepted


async def test_fleet_to_influxdb_and_mqtt(tmp_path: Path, influxdb: InfluxV1, mqtt: Mqtt) -> None:
    database = create_database(influxdb.url)
    fleet = start_fleet(officers=2, scenario="patrol-shift")
    messages: list[aiomqtt.Message] = []
    try:
        config = gateway_config(
            tmp_path,
            fleet,
            influx_url=influxdb.url,
            database=database,
            mqtt=(mqtt.host, mqtt.plain_port),
            topic_prefix=f"e2e-{database}",
        )
        async with aiomqtt.Client(mqtt.host, mqtt.plain_port) as client:
            await client.subscribe(f"e2e-{database}/#", qos=1)
            gateway = start_gateway(config, tmp_path / "gateway.log", seconds=12)

            async def collect() -> None:
                async for message in client.messages:
                    messages.append(message)

            collector = asyncio.create_task(collect())
            await asyncio.to_thread(gateway.wait, 60)
            await asyncio.sleep(0.5)
            collector.cancel()
        assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-3000:]
    finally:
        fleet.stop()
    accepted = assert_all_delivered(config, influxdb.url, database)
    officers = {
        row[1]
        for row in influx_query(
            influxdb.url, database, 'SHOW TAG VALUES FROM "heart_rate" WITH KEY = "officer"'
        )
    }
    assert officers == {entry["officer_id"] for entry in fleet.roster}
    topics = {str(m.topic) for m in messages}
    for entry in fleet.roster:
        assert f"e2e-{database}/test-pd/car-7/{entry['officer_id']}/telemetry" in topics
        assert f"e2e-{database}/test-pd/car-7/{entry['officer_id']}/status" in topics
    statuses = [json.loads(m.payload) for m in messages if str(m.topic).endswith("gateway/status")]  # type: ignore[arg-type]
    assert {"state": "online"}.items() <= statuses[0].items()
    assert accepted["link"] > 0
    status = influx_query(
        influxdb.url,
        database,
        'SELECT LAST("status_code"), "status", "open_alerts", "last_seen_s" FROM "officer_status" '
        'GROUP BY "officer"',
    )
    assert len(status) == len(fleet.roster)
    for _time, code, label, open_alerts, last_seen_s in status:
        assert (code, label, open_alerts) == (0, "ok", 0)  # a quiet patrol: nobody is alarming
        assert 0 <= last_seen_s < 5  # type: ignore[operator]


async def test_influxdb_outage_loses_nothing(tmp_path: Path) -> None:
    (tmp_path / "influx").mkdir()
    server = private_influxdb(tmp_path / "influx")
    await asyncio.to_thread(server.start)
    url = f"http://127.0.0.1:{server.port}"
    fleet = start_fleet(officers=1, scenario="patrol-shift")
    try:
        config = gateway_config(tmp_path, fleet, influx_url=url, database="bluewatch")
        gateway = start_gateway(config, tmp_path / "gateway.log")
        try:
            await asyncio.to_thread(
                wait_until, lambda: influx_counts(url, "bluewatch")["heart_rate"] >= 3, 30, "rows"
            )
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(6)  # the gateway keeps accepting into its outbox meanwhile
            outage_backlog = exported_counts(config)["heart_rate"] - influx_counts_or_zero(url)
            await asyncio.to_thread(server.start)

            def drained() -> bool:
                # What the outbox had accepted first, then what InfluxDB holds: the other order
                # races the export (seconds on a loaded machine) against new rows arriving.
                accepted = exported_counts(config)["heart_rate"]
                return influx_counts_or_zero(url) >= accepted - 2

            await asyncio.to_thread(wait_until, drained, 40, "the backlog to drain")
        finally:
            gateway.send_signal(signal.SIGTERM)
            await asyncio.to_thread(gateway.wait, 30)
        assert outage_backlog > 0
        assert_all_delivered(config, url, "bluewatch")
    finally:
        fleet.stop()
        # Whatever failed above, the private server never outlives the test.
        await asyncio.to_thread(server.stop)


def influx_counts_or_zero(url: str) -> int:
    """Rows InfluxDB holds, or 0 while it is down."""
    try:
        return influx_counts(url, "bluewatch")["heart_rate"]
    except OSError:
        return 0


async def test_gateway_killed_with_sigkill_loses_nothing(
    tmp_path: Path, influxdb: InfluxV1
) -> None:
    database = create_database(influxdb.url)
    fleet = start_fleet(officers=1, scenario="patrol-shift")
    try:
        config = gateway_config(tmp_path, fleet, influx_url=influxdb.url, database=database)
        first = start_gateway(config, tmp_path / "gateway.log")
        await asyncio.to_thread(
            wait_until,
            lambda: influx_counts(influxdb.url, database)["heart_rate"] >= 3,
            30,
            "first rows",
        )
        await asyncio.sleep(2)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        # The restarted gateway finds its devices again (they were connected to the dead one)
        # and delivers whatever the first one had accepted but not yet delivered.
        second = start_gateway(config, tmp_path / "gateway.log", seconds=10)
        await asyncio.to_thread(second.wait, 60)
        assert second.returncode == 0
    finally:
        fleet.stop()
    assert_all_delivered(config, influxdb.url, database)
    log = (tmp_path / "gateway.log").read_text()
    assert log.count("officer-01-vest: connected and subscribed") >= 2


@pytest.mark.parametrize("scenario", ["malformed-packets"])
async def test_malformed_notifications_are_counted_and_the_stream_goes_on(
    tmp_path: Path, influxdb: InfluxV1, scenario: str
) -> None:
    database = create_database(influxdb.url)
    fleet = start_fleet(officers=1, scenario=scenario, time_scale=20)  # faults from 60 s: 3 s
    try:
        config = gateway_config(tmp_path, fleet, influx_url=influxdb.url, database=database)
        gateway = start_gateway(config, tmp_path / "gateway.log", seconds=15)
        await asyncio.to_thread(gateway.wait, 60)
    finally:
        fleet.stop()
    rows = influx_query(influxdb.url, database, 'SELECT LAST("decode_errors") FROM "gateway"')
    assert rows
    assert int(rows[0][1]) > 0  # type: ignore[call-overload]
    log = (tmp_path / "gateway.log").read_text()
    assert "malformed notification" in log
    # Rate-limited: far fewer log lines than errors.
    assert log.count("malformed notification") <= 2 * 2
    assert influx_counts(influxdb.url, database)["heart_rate"] > 10
