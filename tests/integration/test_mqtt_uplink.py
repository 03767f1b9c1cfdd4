"""The MQTT uplink against real Mosquitto: topics, payloads, TLS, passwords, broker restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import uuid
from pathlib import Path

import aiomqtt
import pytest

from gateway.delivery import Delivery
from gateway.domain import Lane, Point
from gateway.outbox import AsyncOutbox, Outbox, Stored
from gateway.sinks.errors import RetryableDeliveryError
from gateway.sinks.mqtt import GATEWAY_LEVEL, MqttSettings, MqttSink
from tests.gateway.assignment_rig import Desk, pool_ref
from tests.integration.private_services import mosquitto
from tests.service_fixtures import Mqtt

TAGS = {
    "agency": "metro-pd",
    "unit": "car-12",
    "officer": "officer-01",
    "device": "officer-01-vest",
    "kind": "vest",
}


def sample_points(n: int) -> list[Point]:
    points = [
        Point("heart_rate", TAGS, {"bpm": 60 + i}, 1_700_000_000_000_000_000 + i) for i in range(n)
    ]
    points.append(Point("battery", TAGS, {"pct": 80}, 1_700_000_001_000_000_000))
    points.append(
        Point(
            "alert",
            TAGS,
            {"state": "active", "kind": "officer_down"},
            1_700_000_002_000_000_000,
            Lane.ALERT,
        )
    )
    return points


async def collect(
    host: str, port: int, topic: str, count: int, **options: object
) -> list[aiomqtt.Message]:
    messages = []
    async with aiomqtt.Client(host, port, **options) as client:  # type: ignore[arg-type]
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(15):
            async for message in client.messages:
                messages.append(message)
                if len(messages) >= count:
                    break
    return messages


async def run_delivery(
    outbox: Outbox, sink: MqttSink
) -> tuple[asyncio.Task[None], asyncio.Task[None], Delivery]:
    loop = asyncio.get_running_loop()
    delivery = Delivery(AsyncOutbox(outbox), sink, wakeup=asyncio.Event(), monotonic=loop.time)
    return asyncio.create_task(sink.run()), asyncio.create_task(delivery.run()), delivery


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("listener", ["plain", "password", "tls"])
async def test_points_reach_the_topic_tree(tmp_path: Path, mqtt: Mqtt, listener: str) -> None:
    credentials = {"username": mqtt.username, "password": mqtt.password}
    options: dict[str, object] = {}
    if listener == "plain":
        settings = MqttSettings(
            host=mqtt.host, port=mqtt.plain_port, tls=False, topic_prefix="bw-test"
        )
    elif listener == "password":
        settings = MqttSettings(
            host=mqtt.host, port=mqtt.auth_port, tls=False, topic_prefix="bw-test", **credentials
        )
        options = dict(credentials)
    else:
        settings = MqttSettings(
            host="localhost",
            port=mqtt.tls_port,
            ca_file=Path(mqtt.ca_file),
            topic_prefix="bw-test",
            **credentials,
        )
        options = {**credentials, "tls_context": ssl.create_default_context(cafile=mqtt.ca_file)}
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("mqtt")
    host = settings.host
    port = settings.port
    receiver = asyncio.create_task(
        collect(host, port, "bw-test/metro-pd/car-12/officer-01/#", 5, **options)
    )
    await asyncio.sleep(0.3)
    outbox.append(sample_points(3))
    sink_task, delivery_task, delivery = await run_delivery(
        outbox, MqttSink(settings, "metro-pd", "car-12")
    )
    try:
        messages = await receiver
        async with asyncio.timeout(5):  # the cursor moves once every PUBACK is in
            while delivery.counters.delivered < 5:
                await asyncio.sleep(0.02)
    finally:
        await stop(sink_task, delivery_task)
    by_topic: dict[str, list[dict[str, object]]] = {}
    for message in messages:
        by_topic.setdefault(str(message.topic), []).append(json.loads(message.payload))  # type: ignore[arg-type]
    assert [m["measurement"] for m in by_topic["bw-test/metro-pd/car-12/officer-01/alert"]] == [
        "alert"
    ]
    assert [m["fields"] for m in by_topic["bw-test/metro-pd/car-12/officer-01/status"]] == [
        {"pct": 80}
    ]
    telemetry = by_topic["bw-test/metro-pd/car-12/officer-01/telemetry"]
    assert [m["fields"]["bpm"] for m in telemetry] == [60, 61, 62]  # type: ignore[index]
    assert telemetry[0]["tags"] == {"device": "officer-01-vest", "kind": "vest"}
    assert delivery.counters.delivered == 5
    assert outbox.pending("mqtt", 10) == []


async def test_a_wrong_password_delivers_nothing(tmp_path: Path, mqtt: Mqtt) -> None:
    settings = MqttSettings(
        host=mqtt.host, port=mqtt.auth_port, tls=False, username=mqtt.username, password="wrong"
    )
    sink = MqttSink(settings, "metro-pd", "car-12")
    task = asyncio.create_task(sink.run())
    await asyncio.sleep(1.0)
    with pytest.raises(RetryableDeliveryError, match="not connected"):
        await sink.deliver([Stored(1, sample_points(1)[0])])
    assert sink.connects == 0
    await stop(task)


async def test_delivery_resumes_after_a_broker_restart_without_loss(tmp_path: Path) -> None:
    broker = mosquitto(tmp_path)
    broker.start()
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("mqtt")
    settings = MqttSettings(
        host="127.0.0.1", port=broker.port, tls=False, topic_prefix="bw-restart"
    )
    sink = MqttSink(settings, "metro-pd", "car-12")
    sink_task, delivery_task, delivery = await run_delivery(outbox, sink)
    try:
        outbox.append(sample_points(10)[:10])
        async with asyncio.timeout(10):
            while delivery.counters.delivered < 10:
                await asyncio.sleep(0.05)
        await asyncio.to_thread(broker.stop)
        outbox.append(
            [
                Point("heart_rate", TAGS, {"bpm": 100 + i}, 1_800_000_000_000_000_000 + i)
                for i in range(20)
            ]
        )
        await asyncio.sleep(1.5)
        assert len(outbox.pending("mqtt", 100)) == 20  # held in the outbox while the broker is down
        receiver_ready = asyncio.Event()
        await asyncio.to_thread(broker.start)

        async def receive() -> list[aiomqtt.Message]:
            got = []
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.subscribe("bw-restart/#", qos=1)
                receiver_ready.set()
                async with asyncio.timeout(30):
                    async for message in client.messages:
                        if "telemetry" in str(message.topic):
                            got.append(message)
                        if len(got) >= 20:
                            break
            return got

        receiver = asyncio.create_task(receive())
        got = await receiver
        bpms = [json.loads(m.payload)["fields"]["bpm"] for m in got]  # type: ignore[arg-type]
        assert sorted(bpms) == list(range(100, 120))
        assert sink.connects >= 2
    finally:
        await stop(sink_task, delivery_task)
        await asyncio.to_thread(broker.stop)


async def retained(host: str, port: int, topic: str) -> dict[str, dict[str, object]]:
    """What a new subscriber finds retained under `topic` for officers, by topic (the broker
    sends those at once on subscribing; half a second of quiet after them ends the wait). The
    gateway's own status topic is left out."""
    found: dict[str, dict[str, object]] = {}
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic, qos=1)
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(0.5):
                    message = await anext(client.messages)
                assert message.retain
                if str(message.topic).split("/")[-2] != GATEWAY_LEVEL:
                    found[str(message.topic)] = json.loads(message.payload)
    return found


async def test_a_released_device_is_cleared_from_its_officers_retained_status(
    tmp_path: Path, mqtt: Mqtt
) -> None:
    prefix = (
        f"bw-release-{uuid.uuid4().hex[:8]}"  # its own topic tree: retained state outlives runs
    )
    settings = MqttSettings(host=mqtt.host, port=mqtt.plain_port, tls=False, topic_prefix=prefix)
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("mqtt")
    desk = Desk(tmp_path)
    sink_task, delivery_task, delivery = await run_delivery(
        outbox, MqttSink(settings, "metro-pd", "car-12")
    )
    officers = f"{prefix}/metro-pd/car-12/+/status"

    async def deliver(points: list[Point]) -> None:
        ids = outbox.append(points)
        async with asyncio.timeout(10):  # the cursor moves once every PUBACK is in
            while outbox.cursor("mqtt", Lane.TELEMETRY) != ids[-1]:
                await asyncio.sleep(0.02)

    try:
        await desk.desk.assign("officer-01", ["h10-01"], "sgt-4")
        strap = pool_ref("h10-01", "officer-01").tags
        await deliver([*desk.points, Point("battery", strap, {"pct": 12}, 1)])
        desk.points.clear()
        first = await retained(mqtt.host, mqtt.plain_port, officers)
        assert list(first) == [f"{prefix}/metro-pd/car-12/officer-01/status"]

        old_status = f"{prefix}/metro-pd/car-12/officer-01/status"
        live = asyncio.create_task(collect(mqtt.host, mqtt.plain_port, old_status, 5))
        await asyncio.sleep(0.3)
        await desk.desk.unassign("h10-01", "sgt-4")
        await deliver(desk.points)
        desk.points.clear()
        # A subscriber already there got the retained battery, then sees the release (battery
        # and link rows, not retained), each followed by the deletion (an empty payload).
        seen = [(m.retain, m.payload) for m in await live]
        assert seen[0][0] is True
        assert json.loads(seen[0][1])["fields"] == {"pct": 12}
        assert [(retain, payload == b"") for retain, payload in seen[1:]] == [
            (False, False),
            (False, True),
        ] * 2
        assert [json.loads(p)["fields"] for _, p in seen[1::2]] == [{"released": True}] * 2
        assert await retained(mqtt.host, mqtt.plain_port, officers) == {}

        await desk.desk.assign("officer-02", ["h10-01"], "sgt-4")
        strap = pool_ref("h10-01", "officer-02").tags
        await deliver([*desk.points, Point("battery", strap, {"pct": 95}, 2)])
        after = await retained(mqtt.host, mqtt.plain_port, officers)
        assert list(after) == [f"{prefix}/metro-pd/car-12/officer-02/status"]
        assert after[f"{prefix}/metro-pd/car-12/officer-02/status"]["fields"] == {"pct": 95}
    finally:
        await stop(sink_task, delivery_task)
    assert delivery.counters.connected
