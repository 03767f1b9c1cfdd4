"""Device managers for tests: the timings that make link states and reconnects show in seconds."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from gateway.backoff import BackoffPolicy
from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DeviceManager, NotificationHandler
from gateway.domain import DeviceRef


def quick_manager(
    roster: Sequence[DeviceRef],
    factory: BleakFactory,
    on_notification: NotificationHandler,
    **options: Any,
) -> DeviceManager:
    """A manager on the running loop's clock: links stale after 1 s and lost after 3 s,
    reconnects within 0.05-0.2 s, jitter from a fixed seed; `options` override or add."""
    loop = asyncio.get_running_loop()
    settings: dict[str, Any] = {
        "stale_after_s": 1,
        "lost_after_s": 3,
        "clock_ns": lambda: int(loop.time() * 1e9),
        "monotonic": loop.time,
        "backoff": BackoffPolicy(first_s=0.05, cap_s=0.2),
        "rng": random.Random(1),
    }
    return DeviceManager(roster, factory, on_notification, **(settings | options))
