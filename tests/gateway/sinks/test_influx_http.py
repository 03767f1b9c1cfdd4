"""What the writers put on the wire, and how they read answers no real server here can be made
to give (503, 429 with Retry-After, silence, a dropped connection).

A tiny local aiohttp server records requests and plays back canned answers; it stands in for
nothing the data path relies on, which is tested against the real servers in
tests/integration/test_influx_writers.py.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from gateway.sinks.errors import DeliveryError, RejectedDeliveryError, RetryableDeliveryError
from gateway.sinks.influx import InfluxV1Writer, InfluxV2Writer, InfluxWriter
from tests.support.influx import Api, InfluxWriters, influx_settings
from tests.support.network import serve_http

LINES = ["heart_rate,officer=o-1 bpm=72i 1", 'alert,officer=o-1 note="panic" 2']
SECRET = "s3cr3t-P4ss"


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """Requests received, and the answers to give (status, headers, body), in order."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    delay_s: float = 0.0


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    state = Recorder(url="")

    async def handle(request: web.Request) -> web.Response:
        state.seen.append(
            Seen(request.path, dict(request.query), dict(request.headers), await request.read())
        )
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        status, headers, body = state.answers.pop(0) if state.answers else (204, {}, b"")
        return web.Response(status=status, headers=headers, body=body)

    # Bodies are kept as sent, so a test sees the compressed bytes.
    async with serve_http(handle, auto_decompress=False) as url:
        state.url = url
        yield state


async def test_v1_request_gzip_auth_and_parameters(
    recorder: Recorder, writers: InfluxWriters
) -> None:
    writer = writers.open(
        "v1",
        recorder.url,
        database="bluewatch",
        retention_policy="week",
        username="gw",
        password=SECRET,
    )
    await writer.write(LINES)
    (seen,) = recorder.seen
    assert seen.path == "/write"
    assert seen.query == {"db": "bluewatch", "rp": "week", "precision": "ns"}
    assert seen.headers["Content-Encoding"] == "gzip"
    assert seen.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert gzip.decompress(seen.body) == "\n".join(LINES).encode()
    assert (
        seen.headers["Authorization"]
        == "Basic " + base64.b64encode(f"gw:{SECRET}".encode()).decode()
    )
    assert SECRET not in json.dumps(seen.query)  # the password never rides in the URL


async def test_v1_without_gzip_or_credentials(recorder: Recorder, writers: InfluxWriters) -> None:
    writer = writers.open("v1", recorder.url, database="bluewatch", gzip=False)
    await writer.write(LINES)
    (seen,) = recorder.seen
    assert "Content-Encoding" not in seen.headers
    assert "Authorization" not in seen.headers
    assert seen.query == {"db": "bluewatch", "precision": "ns"}
    assert seen.body == "\n".join(LINES).encode()


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_a_prepared_write_posts_only_when_called(
    recorder: Recorder, writers: InfluxWriters, api: Api
) -> None:
    writer = writers.open(api, recorder.url)
    send = await writer.prepare(LINES)
    assert recorder.seen == []  # prepared while another batch is in flight: nothing sent yet
    await send()
    (seen,) = recorder.seen
    assert gzip.decompress(seen.body) == "\n".join(LINES).encode()


async def test_v2_request_gzip_token_and_parameters(
    recorder: Recorder, writers: InfluxWriters
) -> None:
    writer = writers.open("v2", recorder.url, org="metro", bucket="telemetry", token=SECRET)
    await writer.write(LINES)
    (seen,) = recorder.seen
    assert seen.path == "/api/v2/write"
    assert seen.query == {"org": "metro", "bucket": "telemetry", "precision": "ns"}
    assert seen.headers["Content-Encoding"] == "gzip"
    assert seen.headers["Authorization"] == f"Token {SECRET}"
    assert gzip.decompress(seen.body) == "\n".join(LINES).encode()


async def test_v2_without_gzip(recorder: Recorder, writers: InfluxWriters) -> None:
    writer = writers.open("v2", recorder.url, gzip=False)
    await writer.write(LINES)
    (seen,) = recorder.seen
    assert "Content-Encoding" not in seen.headers
    assert seen.body == "\n".join(LINES).encode()


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_an_empty_batch_sends_nothing(
    recorder: Recorder, writers: InfluxWriters, api: Api
) -> None:
    writer = writers.open(api, recorder.url)
    await writer.write([])
    assert recorder.seen == []


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_503_with_retry_after_is_retryable(
    recorder: Recorder, writers: InfluxWriters, api: Api
) -> None:
    recorder.answers.append((503, {"Retry-After": "7"}, b'{"error":"engine busy"}'))
    writer = writers.open(api, recorder.url)
    with pytest.raises(RetryableDeliveryError) as caught:
        await writer.write(LINES)
    assert caught.value.status == 503
    assert caught.value.retry_after_s == 7.0
    assert "engine busy" in str(caught.value)


@pytest.mark.parametrize(
    ("api", "make"), [("v1", InfluxV1Writer), ("v2", InfluxV2Writer)], ids=["v1", "v2"]
)
async def test_429_with_an_http_date_uses_the_injected_wall_clock(
    recorder: Recorder, writers: InfluxWriters, api: Api, make: Callable[..., InfluxWriter]
) -> None:
    recorder.answers.append((429, {"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, b""))
    writer = writers.adopt(make(influx_settings(api, recorder.url), wall_clock=lambda: 90.0))
    with pytest.raises(RetryableDeliveryError) as caught:
        await writer.write(LINES)
    assert caught.value.status == 429
    assert caught.value.retry_after_s == 10.0


@pytest.mark.parametrize(
    ("api", "body", "message"),
    [
        ("v1", b'{"error":"unable to parse \'x\': bad timestamp"}',
         "unable to parse 'x': bad timestamp"),
        ("v2", b'{"code":"invalid","message":"unable to parse \'x\': bad timestamp"}',
         "unable to parse 'x': bad timestamp"),
        ("v1", b"plain text refusal\n", "plain text refusal"),
        ("v2", b"plain text refusal\n", "plain text refusal"),
    ],
    ids=["v1-json", "v2-json", "v1-text", "v2-text"],
)  # fmt: skip
async def test_400_carries_the_servers_message(
    recorder: Recorder,
    writers: InfluxWriters,
    api: Api,
    body: bytes,
    message: str,
) -> None:
    recorder.answers.append((400, {"Content-Type": "application/json"}, body))
    writer = writers.open(api, recorder.url)
    with pytest.raises(RejectedDeliveryError) as caught:
        await writer.write(LINES)
    assert caught.value.status == 400
    assert caught.value.server_message == message


async def test_v1_reads_the_error_header_when_the_body_is_empty(
    recorder: Recorder, writers: InfluxWriters
) -> None:
    recorder.answers.append((400, {"X-Influxdb-Error": "partial write: max-values-per-tag"}, b""))
    writer = writers.open("v1", recorder.url)
    with pytest.raises(RejectedDeliveryError, match="partial write: max-values-per-tag"):
        await writer.write(LINES)


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_no_answer_within_the_timeout_is_retryable(
    recorder: Recorder, writers: InfluxWriters, api: Api
) -> None:
    recorder.delay_s = 1.0
    writer = writers.open(api, recorder.url, timeout_s=0.2)
    with pytest.raises(RetryableDeliveryError, match=r"no answer within 0\.2 s"):
        await writer.write(LINES)


@pytest.fixture
async def hang_up_url() -> AsyncIterator[str]:
    """A server that accepts a connection, reads a little and closes it: a reset mid-request."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_a_dropped_connection_is_retryable(
    hang_up_url: str, writers: InfluxWriters, api: Api
) -> None:
    writer = writers.open(api, hang_up_url)
    with pytest.raises(RetryableDeliveryError, match=r"ServerDisconnectedError|ClientOSError"):
        await writer.write(LINES)


@pytest.mark.parametrize("status", [401, 503])
@pytest.mark.parametrize(
    ("api", "credentials"),
    [("v1", {"username": "gw", "password": SECRET}), ("v2", {"token": SECRET})],
    ids=["v1", "v2"],
)
async def test_errors_and_their_tracebacks_never_show_secrets(
    recorder: Recorder, writers: InfluxWriters, status: int, api: Api, credentials: dict[str, str]
) -> None:
    recorder.answers.append((status, {}, b'{"error":"unauthorized"}'))
    writer = writers.open(api, recorder.url, **credentials)
    with pytest.raises(DeliveryError) as caught:
        await writer.write(LINES)
    assert SECRET not in "".join(traceback.format_exception(caught.value))
    assert SECRET not in repr(writer)
