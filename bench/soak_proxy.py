"""A counting proxy in front of the soak's InfluxDB: every line InfluxDB acknowledged, counted.

InfluxDB keeps one point per series and timestamp, so a point written twice leaves no trace in
the database; the proxy counts each line of every `/write` that InfluxDB answered 2xx, by series
and timestamp, before that overwrite. It goes down and up with InfluxDB (`pause`, `resume`), so
the gateway sees refused connections during an outage as it would without the proxy.
"""

from __future__ import annotations

from collections import Counter

import aiohttp
from aiohttp import web

# Hop-by-hop and body-encoding headers the proxy does not pass on: it forwards the body as
# aiohttp decoded it (the gateway gzips its writes).
DROPPED_HEADERS = frozenset({"host", "content-length", "content-encoding", "transfer-encoding"})


def series_and_time(line: str) -> tuple[str, str]:
    """A line protocol line's series key (measurement and tags) and timestamp: what InfluxDB
    de-duplicates on. The series ends at the first unescaped space, the timestamp is last."""
    index = 0
    while True:
        index = line.index(" ", index)
        if line[index - 1] != "\\":
            break
        index += 1
    return line[:index], line.rsplit(" ", 1)[1]


class CountingProxy:
    """HTTP proxy on a fixed loopback port to `upstream`; `written` counts acknowledged lines."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.written: Counter[tuple[str, str]] = Counter()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await self.resume()

    async def resume(self) -> None:
        assert self._runner is not None, "start() first"
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def pause(self) -> None:
        """Stop listening (InfluxDB is down): new connections are refused."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def stop(self) -> None:
        await self.pause()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_HEADERS}
        try:
            async with self._session.request(
                request.method,
                f"{self.upstream}{request.rel_url}",
                data=body,
                headers=headers,
            ) as answer:
                payload = await answer.read()
                status = answer.status
                content_type = answer.headers.get("Content-Type")
        except aiohttp.ClientError:
            # InfluxDB went away under a request: the gateway must see a broken connection,
            # so the connection is dropped and the answer below never sent.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)
        if request.path == "/write" and 200 <= status < 300:
            for line in body.decode().splitlines():
                if line:
                    self.written[series_and_time(line)] += 1
        response = web.Response(status=status, body=payload)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response
