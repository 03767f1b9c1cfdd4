"""Small asyncio helpers the daemon's long-running tasks share."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, timeout_s: float | None) -> None:
    """Wait until `event` is set or `timeout_s` has passed (None: no limit).

    Not `asyncio.wait_for`: on Python 3.11 it returns normally when the task is cancelled in the
    loop iteration that sets the event, so the cancellation is lost and a shutdown that waits
    for the task waits forever (seen as a gateway that never stopped). `asyncio.timeout` keeps
    the cancellation.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
