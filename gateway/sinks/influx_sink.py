"""The InfluxDB delivery sink: outbox points to line protocol, through the configured writer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from gateway.outbox import Stored
from gateway.sinks.errors import RejectedDeliveryError
from gateway.sinks.influx import BatchPolicy, InfluxWriter
from gateway.sinks.lineprotocol import LineProtocolError, SeriesKey
from gateway.sinks.sink import Sink

# A vehicle has a few dozen series (officers x devices x measurements); the cache keeps their
# escaped prefixes so the hot path formats only fields and time.
SERIES_CACHE_SIZE: Final = 4096


class InfluxSink(Sink):
    """Every lane, in batches of up to `max_lines` lines that linger up to `max_age_s`."""

    name = "influx"

    def __init__(self, writer: InfluxWriter, policy: BatchPolicy | None = None) -> None:
        policy = policy or BatchPolicy()
        self.writer = writer
        self.batch_max = policy.max_lines
        self.linger_s = policy.max_age_s
        self._series: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], SeriesKey] = (
            OrderedDict()
        )

    def _key(self, measurement: str, tags: tuple[tuple[str, str], ...]) -> SeriesKey:
        cache_key = (measurement, tags)
        key = self._series.get(cache_key)
        if key is None:
            key = SeriesKey(measurement, dict(tags))
            self._series[cache_key] = key
            if len(self._series) > SERIES_CACHE_SIZE:
                self._series.popitem(last=False)
        return key

    def lines(self, batch: Sequence[Stored]) -> list[str]:
        try:
            return [
                self._key(item.point.measurement, tuple(sorted(item.point.tags.items()))).line(
                    item.point.fields, item.point.time_ns
                )
                for item in batch
            ]
        except LineProtocolError as exc:
            raise RejectedDeliveryError(f"cannot encode: {exc}") from exc

    async def deliver(self, batch: Sequence[Stored]) -> None:
        await self.writer.write(self.lines(batch))

    async def close(self) -> None:
        await self.writer.close()
