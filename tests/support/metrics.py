"""/metrics as the gateway shows it, for tests that check a counter reaches Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, generate_latest

from gateway.ble.factory import BleakFactory
from gateway.delivery import Delivery
from gateway.http import GatewayCollector, Observed
from gateway.pipeline import Pipeline
from tests.support.managers import quick_manager


def metrics_text(
    pipeline: Pipeline,
    deliveries: Sequence[Delivery] = (),
    monotonic: Callable[[], float] | None = None,
) -> str:
    """The text exposition of the gateway's collector over `pipeline` and `deliveries` (no
    devices, no outbox statistics); on the running loop's clock unless given one."""
    clock = monotonic or asyncio.get_running_loop().time
    manager = quick_manager([], BleakFactory.bluez(), lambda *_: None, monotonic=clock)
    registry = CollectorRegistry()
    observed = Observed(pipeline, manager, deliveries, lambda: None, clock)
    registry.register(GatewayCollector(observed))
    return generate_latest(registry).decode()
