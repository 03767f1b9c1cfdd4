"""Loopback ports and a local HTTP server, for tests that need a peer to talk to."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web


def free_port() -> int:
    """A loopback port nothing listens on now (the probe is closed again before returning)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def serve_http(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    *,
    ssl_context: ssl.SSLContext | None = None,
    auto_decompress: bool = True,
) -> AsyncIterator[str]:
    """`handler` answers every request on a free loopback port; yields the server's base URL.

    With `ssl_context` it serves HTTPS; `auto_decompress=False` hands the handler request
    bodies as sent (a test of a compressing client sees the compressed bytes).
    """
    app = web.Application(handler_args={"auto_decompress": auto_decompress})
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        scheme = "http" if ssl_context is None else "https"
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
