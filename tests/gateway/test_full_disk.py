"""A full disk while the gateway runs: alerts and safety events are held in memory and retried,
telemetry is dropped and counted, /healthz says degraded, the dispatch API answers an
acknowledge only once its row is committed, and everything recovers when room returns.

The full disk is a real SQLite full condition: `PRAGMA max_page_count` caps the database's
size, and SQLite refuses a write past it with SQLITE_FULL, as it does when the disk is full.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.alerts.engine import AlertEngine, Rule
from gateway.alerts.model import AlertKind, Severity
from gateway.app import intake_health
from gateway.domain import DeviceRef, Lane, Point, UnitRef
from gateway.http import AlertApi, alert_routes
from gateway.http_server import HttpLimits, HttpServer
from gateway.outbox import AsyncOutbox, Outbox, OutboxFullError
from gateway.pipeline import Pipeline
from sensors import DeviceModel, HeartRateMeasurement, SafetyEvent

UNIT = UnitRef("metro-pd", "car-12")
VEST = DeviceRef(UNIT, "officer-01", "officer-01-vest", DeviceModel.BLUEWATCH_VEST)
TOKEN = "t" * 32


def cap(outbox: Outbox, extra_pages: int = 0) -> None:
    """Let the database grow by `extra_pages` at most (the limit is per connection; the outbox
    writes through two)."""
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0] + extra_pages
    for db in (outbox._db, outbox._full_db):
        db.execute(f"PRAGMA max_page_count = {pages}")


@dataclass
class Running:
    outbox: Outbox
    pipeline: Pipeline
    engine: AlertEngine
    task: asyncio.Task[None]


@pytest.fixture
async def full(tmp_path: Path) -> AsyncIterator[Running]:
    """A running pipeline over an outbox holding only alert rows (nothing to trim), capped."""
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("dispatch")
    outbox.append(
        [Point("alert", {"officer": "o0"}, {"pad": "a" * 2000}, n, Lane.ALERT) for n in range(20)]
    )
    cap(outbox)
    with contextlib.suppress(OutboxFullError):  # the last page's room too: no row fits now
        while True:
            outbox.append([Point("alert", {"officer": "o0"}, {}, 0, Lane.ALERT)])
    pipeline = Pipeline(AsyncOutbox(outbox), monotonic=asyncio.get_running_loop().time)
    engine = AlertEngine(
        UNIT, "hash", clock_ns=lambda: 1_000, emit=lambda p: pipeline.add_points([p])
    )
    task = asyncio.create_task(pipeline.run())
    try:
        yield Running(outbox, pipeline, engine, task)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def raise_panic(engine: AlertEngine) -> str:
    rule = Rule("panic-button", "1")
    return engine.raise_alert(
        "officer-01", AlertKind.PANIC, Severity.CRITICAL, "panic", rule
    ).alert_id


def stored_alert_ids(outbox: Outbox) -> list[object]:
    return [p.fields.get("alert_id") for p in outbox.alert_rows() if "alert_id" in p.fields]


async def until(condition: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_an_alert_into_a_full_outbox_is_held_and_committed_when_room_returns(
    full: Running,
) -> None:
    alert_id = raise_panic(full.engine)
    event = SafetyEvent(event="panic_press", sequence=1, device_ticks_ms=1).encode()
    full.pipeline.submit(VEST, SafetyEvent.UUID, event, 5)
    heart = HeartRateMeasurement(heart_rate_bpm=70).encode()
    for n in range(20):
        full.pipeline.submit(VEST, HeartRateMeasurement.UUID, heart, 10 + n)
    await asyncio.sleep(0.3)  # three telemetry batch deadlines
    assert not full.task.done()  # the gateway keeps running
    await until(lambda: full.pipeline.counters.full_dropped > 0)  # a telemetry batch refused
    assert full.pipeline.held == 2  # the alert row and the safety event
    assert intake_health(full.pipeline)[0] is False
    assert "outbox full" in intake_health(full.pipeline)[1]
    assert stored_alert_ids(full.outbox) == []
    cap(full.outbox, extra_pages=100)  # room again
    await until(lambda: full.pipeline.held == 0)
    assert stored_alert_ids(full.outbox) == [alert_id]
    assert [p.measurement for p in full.outbox.alert_rows()][-1] == "alert"
    events = full.outbox.pending("dispatch", 100, lanes=(Lane.EVENT,))
    assert [item.point.measurement for item in events] == ["safety_event"]
    assert full.pipeline.outbox_full_since is None
    assert intake_health(full.pipeline) == (True, "ok")


async def api_server(api: AlertApi) -> AsyncGenerator[str]:
    server = HttpServer(alert_routes(api), "127.0.0.1", 0, HttpLimits(10.0, 10.0, 8))
    task = asyncio.create_task(server.run())
    try:
        await until(lambda: server.port is not None)
        yield f"http://127.0.0.1:{server.port}"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def acknowledge(base: str, alert_id: str) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/alerts/{alert_id}/acknowledge", headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_an_acknowledge_is_answered_only_once_its_row_is_committed(full: Running) -> None:
    alert_id = raise_panic(full.engine)
    servers = api_server(AlertApi(full.engine, TOKEN, full.pipeline.alerts_stored))
    base = await anext(servers)
    try:
        answer = asyncio.create_task(acknowledge(base, alert_id))
        await asyncio.sleep(0.5)
        assert not answer.done()  # the outbox is full: the acknowledgement is not stored yet
        cap(full.outbox, extra_pages=100)
        status, body = await answer
        assert (status, body["state"]) == (200, "acknowledged")
        states = [p.fields["state"] for p in full.outbox.alert_rows() if "state" in p.fields]
        assert states[-1] == "acknowledged"  # committed before the answer
    finally:
        await servers.aclose()


async def test_an_acknowledge_not_stored_in_time_is_503_and_still_retried(full: Running) -> None:
    alert_id = raise_panic(full.engine)
    api = AlertApi(full.engine, TOKEN, full.pipeline.alerts_stored, store_wait_s=0.3)
    servers = api_server(api)
    base = await anext(servers)
    try:
        status, body = await acknowledge(base, alert_id)
        assert status == 503
        assert "not yet stored" in str(body["error"])
        cap(full.outbox, extra_pages=100)
        await until(lambda: full.pipeline.held == 0)
        states = [p.fields["state"] for p in full.outbox.alert_rows() if "state" in p.fields]
        assert states[-2:] == ["active", "acknowledged"]
    finally:
        await servers.aclose()
