"""The sink contract: what the delivery loop and the composition root may ask of every sink.

Declared whole, in the manner of bleak's `BaseBleakClient`: `deliver` is the one thing every
sink must do; the other members have defaults because most sinks need nothing there (only MQTT
keeps a connection up in `run`; only dispatch webhooks report alert latency), and a default
here is checked by mypy where a `getattr` probe at the call site would not be.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from gateway.domain import Lane, Point
from gateway.latency import LatencyWindow
from gateway.outbox import Stored

# A batch made ready for its sink: awaiting the call sends it (see Sink.prepare).
Send = Callable[[], Awaitable[None]]


@dataclass
class AlertDeliveryStats:
    """What a sink that delivers alerts to people reports: changes sent and how fast."""

    sent: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    # Of `sent`, the changes sent as they were raised, before their commit.
    sent_early: int = 0


class Sink(ABC):
    """Delivers committed points somewhere; raises a `DeliveryError` when it could not."""

    name: str
    # Points per batch the delivery loop reads for this sink.
    batch_max: int = 500
    # Seconds a partial telemetry batch may wait to fill up (0: send at once). Alerts never wait.
    linger_s: float = 0.0
    # The outbox lanes this sink reads; lanes it does not read hold nothing back from retention.
    lanes: tuple[Lane, ...] = tuple(Lane)
    # Whether the sink sends the InfluxDB line protocol the outbox stores with each row at
    # commit (Stored.line): its reads then take those rows' lines alone, not their points.
    sends_lines: bool = False
    # Whether the sink sends alert changes as they are raised, before their commit
    # (`deliver_early`, gateway/early_alerts.py): it must then know each such change again when
    # its committed row comes to `deliver`, and not send it twice.
    sends_early: bool = False

    @abstractmethod
    async def deliver(self, batch: Sequence[Stored]) -> None:
        """Deliver every point or raise a DeliveryError (nothing is acknowledged then)."""

    async def prepare(self, batch: Sequence[Stored]) -> Send:
        """Encode `batch` now and return what sends it; the send raises as `deliver` does.

        The delivery loop prepares the next batch while the one before is in flight, so a
        sink's encoding overlaps the network; a RejectedDeliveryError here is data the sink
        cannot encode. The default leaves all the work to `deliver`.
        """
        return partial(self.deliver, batch)

    async def deliver_early(self, points: Sequence[Point]) -> None:
        """Deliver alert changes not yet committed, or raise a DeliveryError; called only when
        `sends_early` (the default has nothing to send early with, so it refuses)."""
        raise NotImplementedError(f"{type(self).__name__} does not send alerts early")

    async def run(self) -> None:  # noqa: B027 - a default, not an abstract method
        """Keep what the sink needs up (a broker connection) until cancelled; most need nothing."""

    async def close(self) -> None:  # noqa: B027 - a default, not an abstract method
        """Release connections at shutdown, after the last delivery."""

    def alert_delivery(self) -> AlertDeliveryStats | None:
        """Alert changes sent and their latency, for sinks that deliver alerts to people."""
        return None
