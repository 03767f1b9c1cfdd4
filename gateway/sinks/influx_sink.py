"""The InfluxDB delivery sink: outbox points to line protocol, through the configured writer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from gateway.domain import Point
from gateway.outbox import Stored
from gateway.sinks.errors import RejectedDeliveryError
from gateway.sinks.influx import BatchPolicy, InfluxWriter
from gateway.sinks.lineprotocol import LineProtocolError, SeriesKey
from gateway.sinks.sink import Send, Sink

# A vehicle has a few dozen series (officers x devices x measurements); the cache keeps their
# escaped prefixes so the hot path formats only fields and time.
SERIES_CACHE_SIZE: Final = 4096


class LineEncoder:
    """Points to line protocol, with the series keys of recent points cached.

    Not thread-safe: the outbox's commit (`stored`) and the sink (`lines`) each have their own.
    """

    def __init__(self) -> None:
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

    def lines(self, points: Sequence[Point]) -> list[str]:
        """Each point's line; raises LineProtocolError for the first that has none."""
        keys: dict[tuple[str, int], SeriesKey] = {}
        return [self._shared_key(keys, point).line(point.fields, point.time_ns) for point in points]

    def stored(self, points: Sequence[Point]) -> list[str | None]:
        """The lines the outbox stores with the points' rows (an `Outbox` `line_of`); None for a
        point line protocol cannot carry, which the sink refuses when it comes to deliver it."""
        keys: dict[tuple[str, int], SeriesKey] = {}
        lines: list[str | None] = []
        for point in points:
            try:
                lines.append(self._shared_key(keys, point).line(point.fields, point.time_ns))
            except LineProtocolError:
                lines.append(None)
        return lines

    def _shared_key(self, keys: dict[tuple[str, int], SeriesKey], point: Point) -> SeriesKey:
        """The point's series key, looked up once per tags dict in `keys`.

        Points of one device share its tags dict (DeviceRef.tags), and points read together
        share their series' (Outbox.pending): each dict is sorted and looked up once per call.
        Its id is stable while the caller holds the points.
        """
        shared = (point.measurement, id(point.tags))
        key = keys.get(shared)
        if key is None:
            key = keys[shared] = self._key(point.measurement, tuple(sorted(point.tags.items())))
        return key


class InfluxSink(Sink):
    """Every lane, in batches of up to `max_lines` lines that linger up to `max_age_s`."""

    name = "influx"
    sends_lines = True

    def __init__(self, writer: InfluxWriter, policy: BatchPolicy | None = None) -> None:
        policy = policy or BatchPolicy()
        self.writer = writer
        self.batch_max = policy.max_lines
        self.linger_s = policy.max_age_s
        self._encoder = LineEncoder()

    def lines(self, batch: Sequence[Stored]) -> list[str]:
        """The batch's lines: those stored at commit as they are, the others encoded now."""
        stored = [item.line for item in batch if item.line is not None]
        if len(stored) == len(batch):
            return stored
        try:
            encoded = iter(self._encoder.lines([item.point for item in batch if item.line is None]))
        except LineProtocolError as exc:
            raise RejectedDeliveryError(f"cannot encode: {exc}") from exc
        return [next(encoded) if item.line is None else item.line for item in batch]

    async def prepare(self, batch: Sequence[Stored]) -> Send:
        """The batch as line protocol, made ready by the writer (compressed) now; the call
        returned posts it."""
        return await self.writer.prepare(self.lines(batch))

    async def deliver(self, batch: Sequence[Stored]) -> None:
        await (await self.prepare(batch))()

    async def close(self) -> None:
        await self.writer.close()
