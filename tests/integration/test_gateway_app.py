"""The composed gateway in-process, against a simulated fleet: metrics, health, systemd notify."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from pathlib import Path

import pytest

from firmware_mocks.fleet import Fleet
from firmware_mocks.radio import VirtualRadio
from firmware_mocks.scenario import load_scenario
from gateway.alerts.engine import Rule
from gateway.alerts.model import AlertKind, Severity
from gateway.app import build
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import DEFAULT_LINKS_PER_ADAPTER, BleakFactory
from gateway.config import GatewayConfig
from sensors import VEST
from tests.integration.ble_fixtures import add_peripheral


def config_for(fleet: Fleet, tmp_path: Path) -> GatewayConfig:
    officers = [
        {
            "id": entry.officer_id,
            "devices": [
                {"model": device.model, "address": device.address} for device in entry.devices
            ],
        }
        for entry in fleet.roster()
    ]
    return GatewayConfig(
        agency="test-pd",
        unit="car-1",
        officers=officers,
        outbox={"path": tmp_path / "outbox.sqlite3"},
        http={"port": 0},
    )  # type: ignore[arg-type]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_gateway_serves_metrics_health_and_notifies_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")

    radio = VirtualRadio()
    fleet = Fleet(radio, load_scenario("patrol-shift"), officers=2, seed=3, time_scale=1.0)
    await fleet.start()
    stack = await BumbleStack.attach(*radio.host_pipe())
    gateway = await build(config_for(fleet, tmp_path), [], BleakFactory.bumble(stack))
    stop = asyncio.Event()
    runner = asyncio.create_task(gateway.run(stop))
    ticker = asyncio.create_task(fleet.run(tick_s=0.05))
    try:
        async with asyncio.timeout(20):
            while gateway.http_port is None or gateway.pipeline.counters.points_committed < 20:
                await asyncio.sleep(0.1)
            while sum(m.health.connected for m in gateway.manager.devices.values()) < 4:
                await asyncio.sleep(0.1)
        base = f"http://127.0.0.1:{gateway.http_port}"
        status, body = await asyncio.to_thread(fetch, f"{base}/metrics")
        text = body.decode()
        assert status == 200
        assert "bluewatch_notifications_received_total" in text
        for entry in fleet.roster():
            device = f"{entry.officer_id}-vest"
            labels = f'device="{device}",model="bluewatch-vest",officer="{entry.officer_id}"'
            assert f"bluewatch_device_link_state{{{labels}}} 1.0" in text
        # One adapter holding the four links, of its default limit.
        assert 'bluewatch_adapter_links{adapter="bumble0"} 4.0' in text
        assert (
            f'bluewatch_adapter_link_limit{{adapter="bumble0"}} {DEFAULT_LINKS_PER_ADAPTER}.0'
            in text
        )
        assert 'bluewatch_adapter_up{adapter="bumble0"} 1.0' in text
        status, body = await asyncio.to_thread(fetch, f"{base}/healthz")
        assert (status, json.loads(body)["ok"]) == (200, True)
        await asyncio.sleep(0.5)
        messages = set()
        while True:
            try:
                messages.add(notify.recv(64).decode())
            except BlockingIOError:
                break
        assert {"READY=1", "WATCHDOG=1"} <= messages
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        notify.close()


async def test_a_possible_spoof_is_shown_on_metrics_and_in_the_gateway_row(tmp_path: Path) -> None:
    radio = VirtualRadio()
    fleet = Fleet(radio, load_scenario("patrol-shift"), officers=1, seed=3, time_scale=1.0)
    await fleet.start()
    vest = next(d for d in fleet.roster()[0].devices if d.model == "bluewatch-vest")
    spoofer = await add_peripheral(radio, VEST, vest.name, "C9:00:00:00:00:09")
    stack = await BumbleStack.attach(*radio.host_pipe())
    gateway = await build(config_for(fleet, tmp_path), [], BleakFactory.bumble(stack))
    stop = asyncio.Event()
    runner = asyncio.create_task(gateway.run(stop))
    device_id = f"{fleet.roster()[0].officer_id}-vest"
    try:
        async with asyncio.timeout(20):
            while gateway.http_port is None or not gateway.manager.possible_spoofs:
                await asyncio.sleep(0.1)
        status, body = await asyncio.to_thread(
            fetch, f"http://127.0.0.1:{gateway.http_port}/metrics"
        )
        assert status == 200
        assert f'bluewatch_possible_spoofs{{device="{device_id}"}} 1.0' in body.decode()
        (row,) = [p for p in gateway.status_rows.points() if p.measurement == "gateway"]
        assert row.fields["possible_spoofs"] == 1
        assert not spoofer.connections
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)


async def test_dispatch_acknowledges_and_resolves_through_the_authenticated_endpoint(
    tmp_path: Path,
) -> None:
    token = tmp_path / "dispatch.token"
    token.write_text("s3cret-token-for-tests-0123456789abcdef")
    bearer = "Bearer s3cret-token-for-tests-0123456789abcdef"
    radio = VirtualRadio()
    fleet = Fleet(radio, load_scenario("patrol-shift"), officers=1, seed=3, time_scale=1.0)
    await fleet.start()
    stack = await BumbleStack.attach(*radio.host_pipe())
    config = GatewayConfig.model_validate(
        config_for(fleet, tmp_path).model_dump() | {"dispatch_api": {"token_file": token}}
    )
    gateway = await build(config, [], BleakFactory.bumble(stack))
    stop = asyncio.Event()
    runner = asyncio.create_task(gateway.run(stop))
    try:
        async with asyncio.timeout(10):
            while gateway.http_port is None:
                await asyncio.sleep(0.05)
        officer = fleet.roster()[0].officer_id
        alert = gateway.engine.raise_alert(
            officer,
            AlertKind.PANIC,
            Severity.CRITICAL,
            "panic button pressed",
            Rule("panic-button", "1"),
        )
        base = f"http://127.0.0.1:{gateway.http_port}"

        def post(
            path: str, auth: str | None, body: dict[str, str]
        ) -> tuple[int, dict[str, object]]:
            headers = {"Content-Type": "application/json"}
            if auth:
                headers["Authorization"] = auth
            request = urllib.request.Request(
                base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        ack = f"/alerts/{alert.alert_id}/acknowledge"
        assert (await asyncio.to_thread(post, ack, None, {"by": "x"}))[0] == 401
        assert (await asyncio.to_thread(post, ack, "Bearer wrong", {"by": "x"}))[0] == 401
        status, body = await asyncio.to_thread(post, ack, bearer, {"by": "d-7"})
        assert (status, body["state"], body["acknowledged_by"]) == (200, "acknowledged", "d-7")
        status, body = await asyncio.to_thread(post, ack, bearer, {"by": "d-7"})
        assert status == 409  # already acknowledged
        resolve = f"/alerts/{alert.alert_id}/resolve"
        status, body = await asyncio.to_thread(
            post, resolve, bearer, {"by": "d-7", "reason": "officer safe"}
        )
        assert (status, body["state"]) == (200, "resolved")
        missing = await asyncio.to_thread(post, "/alerts/a-none/acknowledge", bearer, {})
        assert missing[0] == 404
        # Every change was committed on the alert lane, in order.
        async with asyncio.timeout(5):
            while len(rows := await gateway.outbox.alert_rows()) < 3:
                await asyncio.sleep(0.05)
        assert [r.fields["state"] for r in rows] == ["active", "acknowledged", "resolved"]
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)


async def test_the_dispatch_api_can_listen_apart_from_metrics_and_health(tmp_path: Path) -> None:
    token = "d" * 40
    radio = VirtualRadio()
    fleet = Fleet(radio, load_scenario("patrol-shift"), officers=1, seed=3, time_scale=1.0)
    await fleet.start()
    stack = await BumbleStack.attach(*radio.host_pipe())
    config = GatewayConfig.model_validate(
        config_for(fleet, tmp_path).model_dump() | {"dispatch_api": {"token": token, "port": 0}}
    )
    gateway = await build(config, [], BleakFactory.bumble(stack))
    stop = asyncio.Event()
    runner = asyncio.create_task(gateway.run(stop))
    try:
        async with asyncio.timeout(10):
            while gateway.http_port is None or gateway.dispatch_port is None:
                await asyncio.sleep(0.05)
        assert gateway.http_port != gateway.dispatch_port
        metrics = f"http://127.0.0.1:{gateway.http_port}"
        dispatch = f"http://127.0.0.1:{gateway.dispatch_port}"

        def alerts(base: str) -> int:
            request = urllib.request.Request(
                base + "/alerts", headers={"Authorization": f"Bearer {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        assert (await asyncio.to_thread(fetch, metrics + "/healthz"))[0] == 200
        assert (await asyncio.to_thread(fetch, metrics + "/metrics"))[0] == 200
        assert await asyncio.to_thread(alerts, metrics) == 404
        assert await asyncio.to_thread(alerts, dispatch) == 200
        assert (await asyncio.to_thread(fetch, dispatch + "/metrics"))[0] == 404
        assert (await asyncio.to_thread(fetch, dispatch + "/healthz"))[0] == 404
    finally:
        stop.set()
        await asyncio.wait_for(runner, 20)
