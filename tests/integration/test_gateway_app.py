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
from gateway.app import build
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.config import GatewayConfig


def config_for(fleet: Fleet, tmp_path: Path) -> GatewayConfig:
    officers = [
        {
            "id": entry.officer_id,
            "devices": [
                {"kind": "vest", "address": entry.vest_address},
                {"kind": "helmet", "address": entry.helmet_address},
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
    gateway = await build(config_for(fleet, tmp_path), [], BleakFactory(stack))
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
            labels = f'device="{device}",kind="vest",officer="{entry.officer_id}"'
            assert f"bluewatch_device_link_state{{{labels}}} 1.0" in text
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
