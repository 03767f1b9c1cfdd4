"""The dispatch API over a real socket: bodies and headers it cannot use get 400 or 401, not 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from gateway.alerts.engine import AlertEngine, Rule
from gateway.alerts.model import Alert, AlertKind, Severity
from gateway.domain import Point, UnitRef
from gateway.http import MAX_TEXT_CHARS, AlertApi, alert_routes
from gateway.http_server import HttpLimits, HttpServer

TOKEN = "t" * 32


@dataclass
class Api:
    engine: AlertEngine
    points: list[Point]
    base: str
    port: int

    def raise_panic(self) -> Alert:
        return self.engine.raise_alert(
            "officer-01", AlertKind.PANIC, Severity.CRITICAL, "panic", Rule("panic-button", "1")
        )


async def stored() -> None:
    """The emitted rows are in `points` at once: nothing to wait for."""


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    points: list[Point] = []
    engine = AlertEngine(
        UnitRef("metro-pd", "car-12"), "hash", clock_ns=lambda: 1_000, emit=points.append
    )
    server = HttpServer(
        alert_routes(AlertApi(engine, TOKEN, stored)), "127.0.0.1", 0, HttpLimits(10.0, 10.0, 64)
    )
    task = asyncio.create_task(server.run())
    try:
        async with asyncio.timeout(5):
            while server.port is None:
                await asyncio.sleep(0.01)
        yield Api(engine, points, f"http://127.0.0.1:{server.port}", server.port)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def post(api: Api, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(api.base + path, data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize("body", [b"[]", b'"by"', b"null", b"17", b"{not json", b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_400(api: Api, body: bytes) -> None:
    alert = api.raise_panic()
    status, answer = await post(api, f"/alerts/{alert.alert_id}/acknowledge", body)
    assert status == 400
    assert "JSON object" in str(answer["error"])
    assert api.engine.alerts[alert.alert_id].acknowledged_by is None


async def test_an_empty_body_acknowledges_as_dispatch(api: Api) -> None:
    alert = api.raise_panic()
    status, answer = await post(api, f"/alerts/{alert.alert_id}/acknowledge", b"")
    assert (status, answer["acknowledged_by"]) == (200, "dispatch")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("by", "d-7\n<alert>"),  # a line break ends a line-protocol line
        ("by", "d-7\x00"),  # not a character XML 1.0 allows: CAP becomes malformed
        ("by", "d-7\x1b[2J"),
        ("by", "x" * (MAX_TEXT_CHARS + 1)),
        ("by", 7),
        ("reason", "safe\r\nnow"),
        ("reason", "\u2028"),
        ("reason", ["safe"]),
        ("reason", "y" * (MAX_TEXT_CHARS + 1)),
    ],
)
async def test_by_and_reason_must_be_short_printable_text(
    api: Api, field: str, value: object
) -> None:
    alert = api.raise_panic()
    action = "acknowledge" if field == "by" else "resolve"
    body = json.dumps({field: value}).encode()
    status, answer = await post(api, f"/alerts/{alert.alert_id}/{action}", body)
    assert status == 400
    assert f"{field} must be printable text" in str(answer["error"])
    assert f"at most {MAX_TEXT_CHARS} characters" in str(answer["error"])
    assert len(api.points) == 1  # only the raise: nothing was committed for the refused change


async def test_printable_text_at_the_limit_is_accepted(api: Api) -> None:
    alert = api.raise_panic()
    by = "Dispatcher Zoë 7 <ops> & co " + "x" * (MAX_TEXT_CHARS - 28)
    assert len(by) == MAX_TEXT_CHARS
    status, answer = await post(
        api, f"/alerts/{alert.alert_id}/acknowledge", json.dumps({"by": by}).encode()
    )
    assert (status, answer["acknowledged_by"]) == (200, by)
    reason = "officer safe, scene clear"
    status, answer = await post(
        api, f"/alerts/{alert.alert_id}/resolve", json.dumps({"reason": reason}).encode()
    )
    assert (status, answer["reason"]) == (200, f"{reason} (dispatch)")


async def raw_request(port: int, head: bytes) -> bytes:
    """Send `head` as is (header bytes no HTTP client would send) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("path", [b"/alerts", b"/alerts/a-1/acknowledge"])
async def test_an_authorization_header_that_is_not_utf8_is_401(api: Api, path: bytes) -> None:
    method = b"GET" if path == b"/alerts" else b"POST"
    answer = await raw_request(
        api.port,
        method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe" + TOKEN.encode() + b"\r\nContent-Length: 0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 401 ")
