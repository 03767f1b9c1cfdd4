"""A client of gpsd's JSON protocol on asyncio: connect, WATCH, then yield TPV and SKY reports.

Written for the gateway rather than taken from PyPI (docs/vehicle.md says why): it skips the
classes it does not know, as the protocol asks, and it ends in one way when gpsd goes away,
`GpsdConnectionLostError`, which the vehicle job answers by reconnecting with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Final

from gateway.vehicle.protocol import WATCH_COMMAND, GpsdProtocolError, Sky, Tpv, parse_report

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 5.0
# gpsd's reports are a few hundred bytes; a SKY with many satellites a few kilobytes.
LINE_LIMIT: Final = 64 * 1024


class GpsdConnectionLostError(ConnectionError):
    """gpsd closed the connection (it stopped or restarted)."""


async def gpsd_reports(
    host: str, port: int, *, on_connect: Callable[[], None]
) -> AsyncIterator[Tpv | Sky]:
    """TPV and SKY reports from gpsd at host:port until it goes away; `on_connect` is called
    once connected (gpsd without a receiver is connected yet sends no report).

    Raises OSError (including TimeoutError) when gpsd cannot be reached, and
    `GpsdConnectionLostError` when it closes the connection.
    """
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(host, port, limit=LINE_LIMIT)
    try:
        writer.write(WATCH_COMMAND)
        await writer.drain()
        on_connect()
        async for report in read_reports(reader):
            yield report
        raise GpsdConnectionLostError(f"gpsd at {host}:{port} closed the connection")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_reports(reader: asyncio.StreamReader) -> AsyncIterator[Tpv | Sky]:
    """The TPV and SKY reports on `reader` until its end; anything else is skipped."""
    while True:
        try:
            line = await reader.readline()
        except ValueError:
            # A line over the reader's limit: readline has dropped it (up to its newline, or
            # the whole buffer); the stream goes on.
            logger.debug("gpsd sent a line over %d bytes; skipped", LINE_LIMIT)
            continue
        if not line:
            return
        try:
            report = parse_report(line)
        except GpsdProtocolError as exc:
            logger.debug("gpsd sent %s; skipped", exc)
            continue
        if report is not None:
            yield report
