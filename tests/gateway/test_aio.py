"""`wait_event`: a cancellation that arrives with the event is never lost.

With `asyncio.wait_for` in its place, the first test fails on Python 3.11 (the waiter returns
normally): that race left a gateway that never stopped after `--seconds`.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.aio import wait_event


async def test_a_cancel_in_the_same_iteration_as_the_event_is_kept() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(wait_event(event, 10))
    await asyncio.sleep(0)  # the task is now waiting on the event
    event.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_returns_on_the_event_or_the_timeout() -> None:
    event = asyncio.Event()
    await wait_event(event, 0.01)  # times out quietly
    event.set()
    await asyncio.wait_for(wait_event(event, None), 1)  # already set: at once
