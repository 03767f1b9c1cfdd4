"""The HTTP listener's limits, with real sockets against the running server: half-sent requests
are closed after the header timeout, slow bodies get 408, connections over the cap are refused,
and the process keeps serving (and keeps its file descriptors) through a flood."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Final

from aiohttp import web

from gateway.http_server import LINGER_S, OVER_CAP_ANSWER, HttpLimits, HttpServer

HEAD: Final = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n"  # no blank line: the head is unfinished


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def echo_length(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


ROUTES: Final = [web.get("/healthz", healthz), web.post("/echo", echo_length)]


@asynccontextmanager
async def serving(limits: HttpLimits) -> AsyncIterator[HttpServer]:
    server = HttpServer(ROUTES, "127.0.0.1", 0, limits)
    task = asyncio.create_task(server.run())
    try:
        async with asyncio.timeout(5):
            while server.port is None:
                await asyncio.sleep(0.01)
        yield server
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def connect(server: HttpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert server.port is not None
    return await asyncio.open_connection("127.0.0.1", server.port)


async def closed_after(reader: asyncio.StreamReader, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sent until it closed, and when it closed (fails past `limit_s`)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(limit_s):
        data = await reader.read()
    return data, loop.time() - start


async def get_healthz(server: HttpServer) -> bytes:
    reader, writer = await connect(server)
    writer.write(HEAD + b"Connection: close\r\n\r\n")
    data, _ = await closed_after(reader, 5)
    writer.close()
    return data


async def test_a_half_sent_request_head_is_closed_after_the_header_timeout() -> None:
    async with serving(HttpLimits(0.5, 5, 8)) as server:
        silent_reader, silent = await connect(server)
        reader, writer = await connect(server)
        writer.write(HEAD)
        data, after_s = await closed_after(reader, 3)
        assert data == b""  # closed without a response: there was no request to answer
        assert 0.4 < after_s < 2
        assert (await closed_after(silent_reader, 3))[0] == b""
        for w in (writer, silent):
            w.close()
        assert (await get_healthz(server)).startswith(b"HTTP/1.1 200 ")


async def test_bytes_trickling_in_do_not_push_the_header_deadline_back() -> None:
    async with serving(HttpLimits(0.5, 5, 8)) as server:
        reader, writer = await connect(server)

        async def trickle() -> None:
            with suppress(ConnectionError):
                for byte in HEAD * 10:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.05)

        sender = asyncio.create_task(trickle())
        _, after_s = await closed_after(reader, 3)
        assert after_s < 2  # well before the trickle (some 35 s) would have ended
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_the_timeout() -> None:
    async with serving(HttpLimits(0.5, 5, 8)) as server:
        reader, writer = await connect(server)
        writer.write(HEAD + b"\r\n")
        data, after_s = await closed_after(reader, 3)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert 0.4 < after_s < 2
        writer.close()


async def test_a_body_that_does_not_arrive_in_time_gets_408() -> None:
    async with serving(HttpLimits(5, 0.5, 8)) as server:
        reader, writer = await connect(server)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100\r\n\r\n")
        writer.write(b"x" * 10)
        data, after_s = await closed_after(reader, 5)
        assert data.startswith(b"HTTP/1.1 408 ")
        assert b"within 0.5 s" in data
        assert 0.4 < after_s < 0.5 + LINGER_S + 1
        writer.close()


async def test_connections_over_the_cap_are_refused_and_the_server_keeps_serving() -> None:
    async with serving(HttpLimits(30, 5, 4)) as server:
        held = [await connect(server) for _ in range(4)]
        for _, writer in held:
            writer.write(HEAD)  # each holds its place until the 30 s header timeout
        async with asyncio.timeout(5):
            while server.open_connections < 4:
                await asyncio.sleep(0.01)
        extra = await asyncio.gather(*(connect(server) for _ in range(20)))
        for reader, writer in extra:
            assert (await closed_after(reader, 3))[0] == OVER_CAP_ANSWER
            writer.close()
        assert (server.open_connections, server.refused_connections) == (4, 20)
        assert (await get_healthz(server)).startswith(b"HTTP/1.1 503 ")
        # One place freed: served again at once.
        held.pop()[1].close()
        async with asyncio.timeout(5):
            while server.open_connections > 3:
                await asyncio.sleep(0.01)
        assert (await get_healthz(server)).startswith(b"HTTP/1.1 200 ")
        for _, writer in held:
            writer.close()


# A listener in a process limited to 64 file descriptors that opens a file every 10 ms, as
# the outbox and the evidence store do; on SIGTERM it prints how many opens failed.
LOW_FD_SERVER: Final = """
import asyncio, json, resource, signal, sys
from aiohttp import web
from gateway.http_server import HttpLimits, HttpServer

async def main(cap: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")
    server = HttpServer([web.get("/healthz", healthz)], "127.0.0.1", 0, HttpLimits(30, 5, cap))
    task = asyncio.create_task(server.run())
    while server.port is None:
        await asyncio.sleep(0.01)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(server.port, flush=True)
    failed = 0
    while not stop.is_set():
        try:
            open("/dev/null").close()
        except OSError:
            failed += 1
        await asyncio.sleep(0.01)
    print(json.dumps({"failed_opens": failed, "refused": server.refused_connections}))
    task.cancel()

asyncio.run(main(int(sys.argv[1])))
"""


async def flood(cap: int, connections: int) -> dict[str, int]:
    """Hold `connections` half-sent requests open against a low-fd server with `cap`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOW_FD_SERVER, str(cap),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        port = int(await asyncio.wait_for(process.stdout.readline(), 20))
        held = []
        for _ in range(connections):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HEAD)
            held.append((reader, writer))
        await asyncio.sleep(1.0)  # the server accepts what it can and keeps opening files
        answer = b""
        if cap < connections:
            # The process answers at once even at the cap: told to come back, not starved.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answer = (await closed_after(reader, 5))[0]
            writer.close()
            assert answer == OVER_CAP_ANSWER
        for _, writer in held:
            writer.close()
        process.send_signal(signal.SIGTERM)
        result: dict[str, int] = json.loads(await asyncio.wait_for(process.stdout.read(), 20))
        return result
    finally:
        with suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def test_at_a_low_fd_limit_a_flood_of_connections_does_not_starve_the_process() -> None:
    capped = await flood(cap=16, connections=150)
    assert capped["failed_opens"] == 0
    assert capped["refused"] >= 150 - 16
    # The same flood without an effective cap: the connections take every descriptor, and
    # the process can no longer open a file (what the cap is for).
    uncapped = await flood(cap=1024, connections=150)
    assert uncapped["failed_opens"] > 0
