"""Delivery from the outbox to one sink: in order, retried with backoff, bad data set aside.

Each sink runs one loop. It reads the next batch the sink has not delivered (alerts first),
hands it over, and only then moves the sink's cursor: a crash between the two re-sends the
batch, so delivery is at-least-once and consumers see the same points again (InfluxDB overwrites
identical points; MQTT consumers dedup by the point's time and tags). A cursor that cannot move
because the disk is full is not a reason to send again: the loop keeps the acknowledgement of
what it delivered and retries that alone, with backoff, before reading anything else. A batch
the sink refuses as bad data is split until the bad points are isolated; those are quarantined,
the rest delivered, so one malformed value never blocks the stream behind it.

Draining a backlog, the loop reads (and the sink encodes) the next batch while the current one
is in flight. That batch goes once the current one has landed, and is read again from the cursor
if the current one failed or an alert was committed meanwhile. The current batch's cursor move
then runs while the next one is in flight: each batch's move waits for the one before (cursors
move once per batch, in order), and nothing is read from the cursor while a move is under way.

A sink that sends alerts early (`Sink.sends_early`) gets each alert change from the loop as it is
raised, before its commit (gateway/early_alerts.py decides which may go); its committed row
then comes through the loop as any other, to move the cursor.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.aio import wait_event
from gateway.backoff import BackoffPolicy
from gateway.domain import Lane, Point
from gateway.early_alerts import EarlyAlerts
from gateway.outbox import OutboxFullError, Stored
from gateway.sinks.errors import DeliveryError, RejectedDeliveryError, RetryableDeliveryError
from gateway.sinks.sink import Send, Sink

logger = logging.getLogger(__name__)

# Sinks are slower to recover than BLE links (a server restart, an LTE handover): start at a
# second; cap at 15 s so the backlog starts draining within seconds of the server's return,
# while a down server sees only a few requests a minute from each vehicle.
SINK_RETRY = BackoffPolicy(first_s=1.0, cap_s=15.0)
IDLE_POLL_S = 0.25


class DeliveryOutbox(Protocol):
    """What a delivery loop reads and moves: an AsyncOutbox, or an AlertHandoff in front of one."""

    async def register_sink(self, sink: str, lanes: Iterable[Lane] = ...) -> None: ...

    async def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = ...,
        after: Mapping[Lane, int] | None = ...,
        lines: bool = ...,
    ) -> list[Stored]: ...

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None: ...

    async def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None: ...


@dataclass
class SinkCounters:
    """What the metrics and the gateway rows read of one delivery loop."""

    delivered: int = 0
    batches: int = 0
    retries: int = 0
    quarantined: int = 0
    last_latency_s: float = 0.0
    connected: bool = False
    # Cursor moves (or quarantines) the outbox refused for a full disk, each retried later.
    outbox_full: int = 0


@dataclass(frozen=True)
class _Batch:
    """Points read for a sink, where the read stopped in each lane, and the sink's send."""

    items: list[Stored]
    read_to: Mapping[Lane, int]
    # Prepared ahead of its turn; None: not yet, or the sink refused to encode it (delivery
    # then prepares it again and isolates the bad points).
    send: Send | None = None


class Delivery:
    """The loop that drains the outbox into one sink."""

    def __init__(
        self,
        outbox: DeliveryOutbox,
        sink: Sink,
        *,
        wakeup: asyncio.Event,
        monotonic: Callable[[], float],
        policy: BackoffPolicy = SINK_RETRY,
        rng: random.Random | None = None,
        early: EarlyAlerts | None = None,
    ) -> None:
        """`early`: the alert changes raised for a sink that `sends_early` (woken by `wakeup`)."""
        if early is not None and not sink.sends_early:
            raise ValueError(f"{sink.name} does not send alerts early")
        self._outbox = outbox
        self.sink = sink
        self._wakeup = wakeup
        self._early = early
        self._monotonic = monotonic
        self._policy = policy
        self._random = (rng or random.Random()).random  # noqa: S311 - jitter, not secrecy
        self.counters = SinkCounters()
        # The cursor move of the batch that landed last, while the next one is in flight.
        self._moving: asyncio.Task[None] | None = None
        # Points delivered whose cursor move the outbox refused (full disk): moved before the
        # next read, which would otherwise return them to be sent again.
        self.unacknowledged: list[Stored] = []
        self._full_attempt = 0

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            # Cancelled (a shutdown): a batch that landed still has its cursor moved.
            await self._moves_done()

    async def _run(self) -> None:
        await self._outbox.register_sink(self.sink.name, self.sink.lanes)
        attempt = 0
        partial_since: float | None = None
        ahead: _Batch | None = None
        while True:
            try:
                if ahead is None:
                    await self._moved()  # a full disk refusing that move shows here
                await self._acknowledge_held()
            except OutboxFullError as exc:
                ahead = None
                await self._wait_for_room(exc)
                continue
            if ahead is None and self._early is not None and (raised := self._early.take()):
                await self._deliver_early(raised)
                continue
            batch = ahead or await self._read()
            ahead = None
            if not batch.items:
                partial_since = None
                if self._early is not None:
                    self._early.caught_up()
                await self._idle(IDLE_POLL_S)
                continue
            if self._should_linger(batch.items, partial_since):
                partial_since = partial_since if partial_since is not None else self._monotonic()
                await self._idle(self.sink.linger_s - (self._monotonic() - partial_since))
                continue
            partial_since = None
            try:
                ahead = await self._deliver_reading_ahead(batch)
            except RetryableDeliveryError as exc:
                attempt += 1
                self.counters.retries += 1
                self.counters.connected = False
                # The server's Retry-After, already capped by the sink's policy, wins if longer.
                delay = max(self._policy.delay_s(attempt, self._random), exc.retry_after_s or 0.0)
                logger.warning(
                    "%s: delivery failed (%s); retry in %.1f s", self.sink.name, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            except OutboxFullError as exc:
                attempt = 0  # the sink took what was sent
                self.counters.connected = True
                await self._wait_for_room(exc)
                continue
            attempt = 0
            self.counters.connected = True

    async def _acknowledge_held(self) -> None:
        """Move the cursor over what was delivered but not yet acknowledged, if anything."""
        if not self.unacknowledged:
            return
        await self._outbox.acknowledge(self.sink.name, self.unacknowledged)
        self._delivered(self.unacknowledged)
        self.unacknowledged = []
        self._full_attempt = 0

    async def _wait_for_room(self, error: OutboxFullError) -> None:
        """Count a refusal for a full disk, say so once per episode, and back off."""
        self.counters.outbox_full += 1
        self._full_attempt += 1
        if self._full_attempt == 1:
            # One line per episode, no traceback: the disk is the problem, not this loop.
            logger.warning(
                "%s: %s; %d delivered point(s) wait for the cursor to move, not to be sent again",
                self.sink.name,
                error,
                len(self.unacknowledged),
            )
        await asyncio.sleep(self._policy.delay_s(self._full_attempt, self._random))

    async def _deliver_early(self, raised: list[Point]) -> None:
        """Send alert changes not yet committed; a failure leaves them to their committed rows
        (with this loop's retries and backoff), so it is said here, not retried."""
        assert self._early is not None
        try:
            await self.sink.deliver_early(raised)
        except DeliveryError as exc:
            self._early.failed(raised)
            logger.warning("%s: %s; it goes again once committed", self.sink.name, exc)
            return
        self._early.sent(raised)

    def _should_linger(self, batch: Sequence[Stored], partial_since: float | None) -> bool:
        """Wait for more telemetry while the batch is small and young; alerts go at once."""
        if self.sink.linger_s <= 0 or len(batch) >= self.sink.batch_max:
            return False
        if any(item.lane is Lane.ALERT for item in batch):
            return False
        return partial_since is None or self._monotonic() - partial_since < self.sink.linger_s

    async def _idle(self, timeout_s: float) -> None:
        self._wakeup.clear()
        await wait_event(self._wakeup, max(0.0, timeout_s))

    async def drain(self) -> None:
        """Deliver until nothing is pending or the sink fails once (shutdown: no retries)."""
        ahead: _Batch | None = None
        try:
            await self._moved()
            await self._acknowledge_held()
            while (batch := ahead or await self._read()).items:
                ahead = await self._deliver_reading_ahead(batch)
            await self._moved()
        except (RetryableDeliveryError, OutboxFullError) as exc:
            # A delivered batch whose cursor could not move goes again after the restart.
            logger.info("%s: %s; the rest stays in the outbox", self.sink.name, exc)
        finally:
            await self._moves_done()

    async def _moved(self) -> None:
        """Wait for the cursor move under way, if any; raises what it raised.

        A cancelled wait leaves the move to end (the batch landed): `run` waits for it then.
        """
        moving = self._moving
        if moving is None:
            return
        await asyncio.wait([moving])
        self._moving = None
        moving.result()

    async def _moves_done(self) -> None:
        """Wait for the cursor move under way to end, leaving its outcome to `_moved`."""
        if self._moving is not None:
            await asyncio.wait([self._moving])

    async def _read(self, after: Mapping[Lane, int] | None = None) -> _Batch:
        """The next batch past the cursor, or past `after` in the lanes it names."""
        if after is None:
            await self._moved()  # the cursor is where the batch before leaves it
        items = await self._outbox.pending(
            self.sink.name, self.sink.batch_max, after=after, lines=self.sink.sends_lines
        )
        read_to = dict(after or {})
        for item in items:  # in id order within each lane
            read_to[item.lane] = item.id
        return _Batch(items, read_to)

    async def _read_ahead(self, after: Mapping[Lane, int]) -> _Batch:
        """The batch past `after`, prepared by the sink unless it cannot encode it."""
        batch = await self._read(after)
        if not batch.items:
            return batch
        try:
            return _Batch(batch.items, batch.read_to, await self.sink.prepare(batch.items))
        except RejectedDeliveryError:
            return batch

    async def _deliver_reading_ahead(self, batch: _Batch) -> _Batch | None:
        """Deliver `batch`; if it is full (a backlog), read and prepare the next one meanwhile.

        Returns that next batch, to send now that `batch` has landed (its cursor move under
        way meanwhile); None when the next batch is to be read afresh from the cursor: none was
        read ahead, none was left, or a lane of higher priority got points since (an alert
        committed during a drain goes right after the batch in flight, not behind the telemetry
        read ahead as well).
        """
        if len(batch.items) < self.sink.batch_max:
            await self._deliver(batch.items, batch.send)
            return None
        ahead = asyncio.create_task(self._read_ahead(batch.read_to))
        started = self._monotonic()
        landed = False
        try:
            landed = await self._send(batch.items, batch.send)
            if landed:
                await self._moved()  # the batch before's, under way while this one was in flight
            following = await ahead
            # Asked before this batch's move is queued on the outbox's thread: not behind it.
            overtaken = not following.items or await self._overtaken(following)
        except BaseException:
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
            raise
        finally:
            # The batch landed: its cursor moves, unless the move before is still under way
            # (its wait was cancelled); one at most is, and the batch then goes again.
            if landed and self._moving is None:
                self._moving = asyncio.create_task(self._acknowledge(batch.items, started))
        return None if overtaken else following

    async def _overtaken(self, batch: _Batch) -> bool:
        """Whether a lane of higher priority than `batch`'s last point got points since."""
        last = batch.items[-1].lane  # lanes come in priority order
        higher = [lane for lane in Lane if lane < last]
        if not higher:
            return False
        return bool(await self._outbox.pending(self.sink.name, 1, higher, after=batch.read_to))

    async def _deliver(self, batch: Sequence[Stored], send: Send | None = None) -> None:
        """Send `batch` and move the cursor over it (or over its parts, if refused)."""
        started = self._monotonic()
        if await self._send(batch, send):
            await self._moved()  # the batch before's cursor move comes first
            await self._acknowledge(batch, started)

    async def _send(self, batch: Sequence[Stored], send: Send | None = None) -> bool:
        """Send `batch`: True once it landed whole, its cursor move left to the caller; False
        if the sink refused it, its parts then delivered or quarantined (cursor moved)."""
        try:
            await (send or await self.sink.prepare(batch))()
        except RejectedDeliveryError as exc:
            await self._moved()  # the batch before's cursor move comes first
            if len(batch) == 1:
                await self._outbox.quarantine(self.sink.name, batch, str(exc))
                logger.error(
                    "%s: point %d refused and quarantined: %s", self.sink.name, batch[0].id, exc
                )
                self.counters.quarantined += 1
                self._full_attempt = 0
                self._done(batch)
                return False
            middle = len(batch) // 2
            await self._deliver(batch[:middle])
            await self._deliver(batch[middle:])
            return False
        return True

    async def _acknowledge(self, batch: Sequence[Stored], started: float) -> None:
        self.counters.last_latency_s = self._monotonic() - started
        try:
            await self._outbox.acknowledge(self.sink.name, batch)
        except OutboxFullError:
            self.unacknowledged += batch  # delivered: only the cursor move is retried
            raise
        self._full_attempt = 0
        self._delivered(batch)

    def _delivered(self, batch: Sequence[Stored]) -> None:
        """The cursor moved over `batch`, which the sink took."""
        self.counters.delivered += len(batch)
        self.counters.batches += 1
        self._done(batch)

    def _done(self, batch: Sequence[Stored]) -> None:
        """The cursor moved over `batch` (delivered or set aside): its alert changes are done."""
        if self._early is not None:
            self._early.delivered([item.point for item in batch if item.lane is Lane.ALERT])
