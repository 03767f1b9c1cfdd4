"""The HTTP listener (aiohttp) with the limits a client cannot get around: a deadline for each
request head and body, and a cap on open connections.

aiohttp has no header-read timeout by that name. Its `keepalive_timeout` is the closest real
mechanism: the request handler arms it when a connection opens and again after each response,
and when it fires closes the connection if it is still waiting for a complete request head
(aiohttp's `RequestHandler._process_keepalive`). Bytes that arrive do not push it back, so it
bounds connecting-and-sending-the-head as a whole, and the idle time between requests. The
body and the handler get their own deadline (a middleware); the body's size is capped by
aiohttp's `client_max_size`. aiohttp has no connection cap either: the listener's protocol
factory counts connections and answers those above the cap with a 503 and closes them, so
a flood of connections cannot use up the file descriptors the outbox and BLE need.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

# The dispatch API's bodies are a few hundred bytes; aiohttp's default allows 1 MiB.
MAX_BODY_BYTES: Final = 64 * 1024
# After an early answer (a 401, a 408), aiohttp reads and drops what remains of the body for
# this long, so the client reads the answer instead of a reset; its default, 10 s, would let a
# slow body hold the connection well past the request deadline.
LINGER_S: Final = 1.0
# Sent to a connection over the cap, before closing it: a client sees why, not a reset.
OVER_CAP_ANSWER: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n"
    b"\r\ntoo many connections\n"
)


@dataclass(frozen=True)
class HttpLimits:
    """What one listener allows (configured as `[http]`; gateway/config.py has the defaults)."""

    # From a connection's opening, or its last response, to a complete request head.
    header_timeout_s: float
    # From a complete request head to the response: the body's arrival and the handler.
    request_timeout_s: float
    # Connections open at once on this listener; more are answered 503 and closed.
    max_connections: int


class _Connection(web.RequestHandler):
    """aiohttp's request handler, which gives its place under the cap back when it closes."""

    def __init__(self, manager: web.Server, *, release: Callable[[], None], **options: Any) -> None:
        super().__init__(manager, **options)
        self._release: Callable[[], None] | None = release

    def connection_lost(self, exc: BaseException | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()


class _OverCap(asyncio.Protocol):
    """A connection above the cap: told so and closed at once, holding nothing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(OVER_CAP_ANSWER)
        transport.close()


class _Admission:
    """The listener's protocol factory: a counted aiohttp handler, or a refusal over the cap.

    Counted when the protocol is made, not when the connection is: asyncio makes the
    protocols of a burst of accepted connections before it reports any of them connected.
    """

    def __init__(
        self, server: web.Server, limits: HttpLimits, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._server = server
        self._limits = limits
        self._loop = loop
        self.open = 0
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if self.open >= self._limits.max_connections:
            self.refused += 1
            return _OverCap()
        self.open += 1
        return _Connection(
            self._server,
            release=self._release,
            loop=self._loop,
            keepalive_timeout=self._limits.header_timeout_s,
            lingering_time=LINGER_S,
            access_log=None,
        )

    def _release(self) -> None:
        self.open -= 1


def _deadline(timeout_s: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: 408 when the body and handler take longer than `timeout_s` (a slow body)."""

    @web.middleware
    async def deadline(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        timer = asyncio.timeout(timeout_s)
        try:
            async with timer:
                return await handler(request)
        except TimeoutError:
            if not timer.expired():
                raise
            return web.json_response(
                {"error": f"request not completed within {timeout_s:g} s"},
                status=408,
                headers={"Connection": "close"},
            )

    return deadline


class HttpServer:
    """Serves `routes` on the address until cancelled, within `limits`; `port` once bound."""

    def __init__(
        self, routes: Sequence[web.RouteDef], host: str, port: int, limits: HttpLimits
    ) -> None:
        self._routes = routes
        self._host = host
        self._requested_port = port
        self.limits = limits
        self.port: int | None = None
        self._admission: _Admission | None = None

    @property
    def open_connections(self) -> int:
        return self._admission.open if self._admission else 0

    @property
    def refused_connections(self) -> int:
        return self._admission.refused if self._admission else 0

    async def run(self) -> None:
        app = web.Application(
            middlewares=[_deadline(self.limits.request_timeout_s)],
            client_max_size=MAX_BODY_BYTES,
        )
        app.add_routes(self._routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        assert runner.server is not None  # set by setup()
        loop = asyncio.get_running_loop()
        self._admission = _Admission(runner.server, self.limits, loop)
        listener = await loop.create_server(self._admission, self._host, self._requested_port)
        try:
            # Port 0 asks the kernel for a free one: read back what was bound (tests, demos).
            self.port = int(listener.sockets[0].getsockname()[1])
            await asyncio.Event().wait()
        finally:
            self.port = None
            listener.close()
            await runner.cleanup()
            await listener.wait_closed()
