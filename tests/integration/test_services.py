"""The local services are real and behave as the project relies on (no mocks here)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.parse
import urllib.request
import uuid

import aiomqtt
import pytest
from influxdb_client import Point
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from tests.service_fixtures import InfluxV1, Mqtt

NOT_AUTHORIZED = 135  # MQTT 5 reason code; paho reports v3.1.1's CONNACK 5 with it too
VISIBILITY_TIMEOUT_S = 15.0


def _http(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_influxdb_v1_write_then_influxql_query(influxdb: InfluxV1) -> None:
    run = uuid.uuid4().hex
    stamp = time.time_ns()
    line = f'service_check,run={run} value=42i,note="ok" {stamp}'
    status, _ = _http(f"{influxdb.url}/write?db={influxdb.database}&precision=ns", line.encode())
    assert status == 204
    query = urllib.parse.urlencode(
        {"db": influxdb.database, "q": f"SELECT value, note FROM service_check WHERE run = '{run}'"}
    )
    status, body = _http(f"{influxdb.url}/query?{query}")
    assert status == 200
    series = json.loads(body)["results"][0]["series"][0]
    assert series["columns"] == ["time", "value", "note"]
    assert series["values"][0][1:] == [42, "ok"]


def test_influxdb_is_the_v1_server_without_v2_routes(influxdb: InfluxV1) -> None:
    request = urllib.request.Request(f"{influxdb.url}/ping")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["X-Influxdb-Version"].startswith("1.")


async def test_influxdb_client_v2_write_reaches_victoria_metrics(victoria_metrics_url: str) -> None:
    run = uuid.uuid4().hex
    async with InfluxDBClientAsync(
        url=victoria_metrics_url, token="unused", org="bluewatch"
    ) as client:
        point = Point("service_check").tag("run", run).field("value", 42.5)
        assert await client.write_api().write(bucket="bluewatch", record=point) is True
    match = urllib.parse.urlencode({"match[]": f'{{__name__="service_check_value",run="{run}"}}'})
    deadline = time.monotonic() + VISIBILITY_TIMEOUT_S
    body = b""
    while time.monotonic() < deadline:  # VictoriaMetrics makes new rows visible within ~1-2 s
        _, body = await asyncio.to_thread(_http, f"{victoria_metrics_url}/api/v1/export?{match}")
        if body.strip():
            break
        await asyncio.sleep(0.25)
    exported = json.loads(body.splitlines()[0])
    assert exported["metric"]["run"] == run
    assert exported["values"] == [42.5]


async def _round_trip(client: aiomqtt.Client) -> bytes:
    topic = f"bluewatch/test/{uuid.uuid4().hex}"
    await client.subscribe(topic, qos=1)
    payload = uuid.uuid4().bytes
    await client.publish(topic, payload, qos=1)
    async with asyncio.timeout(10):
        async for message in client.messages:
            assert message.topic.matches(topic)
            assert isinstance(message.payload, bytes)
            return message.payload
    raise AssertionError("no message")  # pragma: no cover - the timeout fires first


async def test_mqtt_plain_listener(mqtt: Mqtt) -> None:
    async with aiomqtt.Client(mqtt.host, mqtt.plain_port) as client:
        assert len(await _round_trip(client)) == 16


async def test_mqtt_password_listener(mqtt: Mqtt) -> None:
    async with aiomqtt.Client(
        mqtt.host, mqtt.auth_port, username=mqtt.username, password=mqtt.password
    ) as client:
        assert len(await _round_trip(client)) == 16


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_mqtt_tls_listener_verifies_against_the_project_ca(mqtt: Mqtt, host: str) -> None:
    context = ssl.create_default_context(cafile=mqtt.ca_file)
    async with aiomqtt.Client(
        host, mqtt.tls_port, username=mqtt.username, password=mqtt.password, tls_context=context
    ) as client:
        assert len(await _round_trip(client)) == 16


async def test_mqtt_tls_refuses_a_client_that_does_not_trust_the_ca(mqtt: Mqtt) -> None:
    context = ssl.create_default_context()  # system CAs only: our self-signed CA is not there
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "localhost", mqtt.tls_port, username=mqtt.username, password=mqtt.password,
            tls_context=context, timeout=5,
        ):  # fmt: skip
            pass


@pytest.mark.parametrize("port_kind", ["auth", "tls"])
@pytest.mark.parametrize("credentials", [("bluewatch", "wrong-password"), (None, None)])
async def test_mqtt_refuses_wrong_or_missing_password(
    mqtt: Mqtt, port_kind: str, credentials: tuple[str | None, str | None]
) -> None:
    port = mqtt.auth_port if port_kind == "auth" else mqtt.tls_port
    context = ssl.create_default_context(cafile=mqtt.ca_file) if port_kind == "tls" else None
    username, password = credentials
    with pytest.raises(aiomqtt.MqttCodeError) as caught:
        async with aiomqtt.Client(
            mqtt.host, port, username=username, password=password, tls_context=context
        ):
            pass
    assert caught.value.rc == NOT_AUTHORIZED
