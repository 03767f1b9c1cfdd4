"""The InfluxDB delivery sink: outbox points to line protocol, through the configured writer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from typing import Final

from gateway.outbox import Stored
from gateway.sinks.errors import RejectedDeliveryError
from gateway.sinks.influx import BatchPolicy, InfluxWriter
from gateway.sinks.lineprotocol import LineProtocolError, SeriesKey
from gateway.sinks.sink import Send, Sink

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
        # Points read together share their series' tags dict (Outbox.pending): each dict is
        # sorted and looked up once per batch. Its id is stable while `batch` holds it.
        keys: dict[tuple[str, int], SeriesKey] = {}
        lines = []
        try:
            for item in batch:
                point = item.point
                shared = (point.measurement, id(point.tags))
                key = keys.get(shared)
                if key is None:
                    key = keys[shared] = self._key(
                        point.measurement, tuple(sorted(point.tags.items()))
                    )
                lines.append(key.line(point.fields, point.time_ns))
        except LineProtocolError as exc:
            raise RejectedDeliveryError(f"cannot encode: {exc}") from exc
        return lines

    async def prepare(self, batch: Sequence[Stored]) -> Send:
        """The batch as line protocol now; the writer compresses and posts it when called."""
        return partial(self.writer.write, self.lines(batch))

    async def deliver(self, batch: Sequence[Stored]) -> None:
        await (await self.prepare(batch))()

    async def close(self) -> None:
        await self.writer.close()
