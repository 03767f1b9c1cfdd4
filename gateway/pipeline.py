"""Notification to committed points: decode, attribute, timestamp, summarise, batch, commit.

BLE callbacks only enqueue (`submit` never blocks and never raises), so a slow disk or a slow
consumer cannot stall BLE intake. The queue is bounded; when it is full, telemetry is dropped
and counted, while safety events go to their own queue, processed first and committed in small
batches. Their priority is not unbounded either: a device's events beyond a rate no officer
reaches are dropped at intake, and repeats of an event are dropped once decoded, both counted
(gateway/safety_events.py).
Sinks read from the outbox, not from here, so a stalled sink stalls nothing upstream.

A full outbox (nothing left to trim, gateway/outbox.py) stops nothing either: safety events and
alert rows are held in memory and retried every FULL_RETRY_S until they commit, telemetry that
cannot be stored is dropped and counted, and `outbox_full_since` says so (/healthz, the gateway
row) until a commit succeeds again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.acceleration import ACC_SCALES, AccelerationSamples, acc_frame_g
from gateway.activity import ActivitySummary, ActivityTracker, SampleClock
from gateway.aio import wait_event
from gateway.analytics.rr_filter import RejectionReason, RrFilter, notification_start
from gateway.ble.pmd_session import StartedStream
from gateway.domain import ACTIVITY, ECG, DeviceRef, Lane, Point
from gateway.normalize import core_temperature_points, heart_rate_points, points_for, rr_points
from gateway.outbox import AsyncOutbox, OutboxFullError
from gateway.safety_events import RateLimit, Repeats
from gateway.stand_ins import ADVERTISEMENT_SOURCE, Route, broadcast, route
from sensors import (
    SAMPLE_INDEX_MODULO,
    Characteristic,
    CoreBodyTemperature,
    DecodeError,
    DeviceModel,
    HeartRateMeasurement,
    ImuBatch,
    PmdDataFrame,
    SafetyEvent,
    SensorContact,
    codec_for,
)
from sensors.pmd import MeasurementType

logger = logging.getLogger(__name__)

QUEUE_LIMIT: Final = 20_000  # ~10 s of a full vehicle's notifications; beyond that, shed load
BATCH_MAX: Final = 1000
# Telemetry is committed at least every 100 ms; safety events commit at once.
BATCH_DELAY_S: Final = 0.1
# Safety events queued together commit together, up to this many rows: one transaction (and
# one fsync) for a burst instead of one each, still small enough to commit in milliseconds.
URGENT_BATCH_MAX: Final = 32
# Telemetry is processed in slices of about this long (0.5 ms), yielding to the event loop in
# between: a backlog that built up during a commit (2-8 ms of fsync) would otherwise run as one
# long callback, and everything else on the loop, an alert's delivery included, waits behind it.
SLICE_S: Final = 0.0005
# Between two slices of a backlog the pipeline waits up to this long for work queued on the
# outbox's thread (a delivery's read or acknowledgement, a housekeeping commit): while the loop
# runs Python, that thread gets the GIL back only after a switch interval, at every SQLite call,
# so beside a busy pipeline its calls took longer than beside an idle loop
# (bench/commit_latency.py). Ten slices: the pipeline keeps at least a tenth of the loop while
# the thread is busy, far more than a vehicle's notifications need.
GIVE_WAY_S: Final = 0.005
# After committing a safety event or an alert, only safety events are processed for this long:
# the loop is left to the alert's delivery (signing, HTTP), which takes a few ms.
# Telemetry loses nothing by it (it waits up to BATCH_DELAY_S for its commit anyway).
HOLD_AFTER_URGENT_S: Final = 0.02
# While the outbox is full, the safety events and alert rows it refused are retried this often:
# each retry trims what telemetry is left, or finds the room another process freed.
FULL_RETRY_S: Final = 1.0
# At most one log line per device per this many seconds for decode errors (and for safety
# events over the rate limit): a device spewing malformed packets or events must not flood
# the log (every one is still counted).
DECODE_LOG_INTERVAL_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Notification:
    device: DeviceRef
    uuid: str  # empty for a broadcast
    data: bytes
    received_ns: int
    # The manufacturer data of an advertisement (the profile's broadcast), not a notification.
    broadcast: bool = False


@dataclass
class PipelineCounters:
    received: int = 0
    decoded: int = 0
    decode_errors: int = 0
    dropped: int = 0
    points_committed: int = 0
    observer_errors: int = 0
    # Safety events dropped at intake, over their device's rate (gateway/safety_events.py).
    safety_events_rate_limited: int = 0
    # Safety events dropped as repeats of an event already taken (the same sequence).
    safety_event_repeats: int = 0
    decode_errors_by_kind: dict[str, int] = field(default_factory=dict)
    # RR intervals the plausibility filter refused (gateway/analytics/rr_filter.py), by reason.
    rr_rejected: int = 0
    rr_rejected_by_reason: dict[str, int] = field(default_factory=dict)
    # PMD frames that could not be used (no started stream, an unknown ACC frame kind), by why.
    pmd_frames_unused: dict[str, int] = field(default_factory=dict)
    # Telemetry rows not stored because the outbox was full with nothing left to trim.
    full_dropped: int = 0


# What observers (analytics, live view) receive: the device, the reading, the receive time.
Observer = Callable[[DeviceRef, Characteristic, int], None]
ActivityObserver = Callable[[DeviceRef, ActivitySummary], None]
# Accelerometer samples with each sample's gateway time: the vest's IMU batches (from its
# sample counter) and PMD ACC frames (anchored on their receipt, gateway/acceleration.py).
ImuObserver = Callable[[DeviceRef, AccelerationSamples, list[int]], None]
# A device's started PMD stream (settings and FACTOR), from the device manager.
PmdStreamLookup = Callable[[str, MeasurementType], StartedStream | None]
# A PPI record with its blocker bit set is no interval (PpiData.kt); counted under this reason.
PPI_BLOCKED: Final = "ppi_blocked"


def _no_pmd_streams(device_id: str, measurement: MeasurementType) -> StartedStream | None:
    del device_id, measurement
    return None


class Pipeline:
    """Takes notifications from BLE callbacks and points from the rules; commits them in order.

    Observers (analytics, alert rules, the live view, link health) are given at construction
    and see every decoded reading; `on_commit` is called after every commit, so delivery loops
    wake at once instead of polling.
    """

    def __init__(
        self,
        outbox: AsyncOutbox,
        *,
        monotonic: Callable[[], float],
        observers: Sequence[Observer] = (),
        activity_observers: Sequence[ActivityObserver] = (),
        imu_observers: Sequence[ImuObserver] = (),
        pmd_streams: PmdStreamLookup = _no_pmd_streams,
        on_commit: Callable[[], None] | None = None,
        queue_limit: int = QUEUE_LIMIT,
        batch_max: int = BATCH_MAX,
        batch_delay_s: float = BATCH_DELAY_S,
    ) -> None:
        self._outbox = outbox
        self._monotonic = monotonic
        self._queue: deque[Notification] = deque()
        # Points made by analytics and the alert engine, committed with the next batch.
        self._made: list[Point] = []
        self._made_urgent = False
        self._urgent: deque[Notification] = deque()
        self.queue_limit = queue_limit
        self._batch_max = batch_max
        self._batch_delay_s = batch_delay_s
        self._wakeup = asyncio.Event()
        # Set for safety events and alert rows only: ends a hold on telemetry at once.
        self._urgent_wakeup = asyncio.Event()
        self._codecs: dict[str, type[Characteristic]] = {}
        # Per model and characteristic: the source a reading names and any stand-in conversion.
        self._routes: dict[tuple[DeviceModel, str], Route] = {}
        self._trackers: dict[str, ActivityTracker] = {}
        self._clocks: dict[str, SampleClock] = {}
        self._rr_filters: dict[str, RrFilter] = {}
        self._last_decode_log: dict[str, float] = {}
        self._event_rate = RateLimit()
        self._event_repeats = Repeats()
        self._last_rate_log: dict[str, float] = {}
        self.counters = PipelineCounters()
        self._on_commit = on_commit
        self._observers = tuple(observers)
        self._activity_observers = tuple(activity_observers)
        self._imu_observers = tuple(imu_observers)
        self._pmd_streams = pmd_streams
        # Per device and PMD stream: samples counted so far (the frames' stand-in for the vest's
        # sample counter) and the sensor time of the last frame (a jump back is a power cycle).
        self._pmd_index: dict[tuple[str, MeasurementType], int] = {}
        self._pmd_sensor_ns: dict[tuple[str, MeasurementType], int] = {}
        self._last_observer_log: float | None = None
        # Safety events and alert rows a full outbox refused, retried from `_retry_at` on.
        self._held: list[Point] = []
        self._in_flight = 0  # of them, being committed now
        self._retry_at = 0.0
        # When (monotonic) the outbox was first found full; None while commits succeed.
        self.outbox_full_since: float | None = None
        # Alert rows handed over by `add_points`, taken into a commit, and committed, each
        # counted by call: `alerts_stored` waits on them (the dispatch API's acknowledge).
        self._alerts_added = 0
        self._alerts_taken = 0
        self._alerts_stored = 0
        self._store_waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def backlog(self) -> int:
        return len(self._queue) + len(self._urgent) + len(self._made)

    @property
    def held(self) -> int:
        """Safety events and alert rows held in memory because the outbox is full."""
        return len(self._held) + self._in_flight

    async def alerts_stored(self) -> None:
        """Return once every alert row added so far is committed (held rows included)."""
        target = self._alerts_added
        if self._alerts_stored >= target:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._store_waiters.append((target, waiter))
        await waiter

    def tracker(self, device_id: str) -> ActivityTracker | None:
        return self._trackers.get(device_id)

    def forget(self, device_id: str) -> None:
        """Drop what was learned from a device's wearer (the upright reference, recent beats):
        a pool device released now goes to another officer next."""
        self._trackers.pop(device_id, None)
        self._rr_filters.pop(device_id, None)
        self._rr_filters.pop(f"{device_id}/ppi", None)

    def add_points(self, points: list[Point]) -> None:
        """Commit points made downstream (alert state changes commit at once)."""
        self._made.extend(points)
        if any(point.lane is Lane.ALERT for point in points):
            self._alerts_added += 1
            self._made_urgent = True
            self._urgent_wakeup.set()
        self._wakeup.set()

    def submit(self, device: DeviceRef, uuid: str, data: bytes, received_ns: int) -> None:
        """Enqueue one notification (called from BLE callbacks: never blocks, never raises)."""
        self.counters.received += 1
        notification = Notification(device, uuid, data, received_ns)
        if uuid == SafetyEvent.UUID:
            now = self._monotonic()
            if not self._event_rate.allow(device.device_id, now):
                self.counters.safety_events_rate_limited += 1
                self._log_rate_limited(device, now)
                return
            self._urgent.append(notification)
            self._urgent_wakeup.set()
        elif len(self._queue) >= self.queue_limit:
            self.counters.dropped += 1
            return
        else:
            self._queue.append(notification)
        self._wakeup.set()

    def submit_broadcast(self, device: DeviceRef, data: bytes, received_ns: int) -> None:
        """Enqueue the manufacturer data a roster device advertised (its profile's broadcast,
        e.g. a CORE's core temperature while it is not connected); never blocks or raises."""
        self.counters.received += 1
        if len(self._queue) >= self.queue_limit:
            self.counters.dropped += 1
            return
        self._queue.append(Notification(device, "", data, received_ns, broadcast=True))
        self._wakeup.set()

    async def run(self) -> None:
        """Process and commit until cancelled; commits what is pending before it stops."""
        batch: list[Point] = []
        deadline = 0.0
        try:
            while True:
                # Safety events and alerts commit alone: a small transaction, and the
                # telemetry gathered so far keeps its own deadline.
                self._held += self._drain_into(batch)
                if self._held and self._monotonic() >= self._retry_at:
                    # The webhooks' delivery loops were handed the alert changes among these
                    # as they were raised (gateway/early_alerts.py): one pass of the event loop
                    # lets them write their requests before this commit's worker thread
                    # competes with them for the GIL.
                    await asyncio.sleep(0)
                    if await self._commit_urgent():
                        await self._hold_telemetry()
                    continue
                if batch:
                    if not deadline:
                        deadline = self._monotonic() + self._batch_delay_s
                    if len(batch) >= self._batch_max or self._monotonic() >= deadline:
                        await self._commit_telemetry(batch)
                        batch, deadline = [], 0.0
                        continue
                self._wakeup.clear()
                if self.backlog:
                    # One slice done: the outbox's thread, then the loop's other work, go next.
                    await self._outbox.settled(GIVE_WAY_S)
                    await asyncio.sleep(0)
                    continue
                await wait_event(self._wakeup, self._timeout(deadline))
        finally:
            rows = self._held + self._drain_into(batch, limit=None) + batch
            if rows:
                await asyncio.shield(self._commit_last(rows))

    def _timeout(self, deadline: float) -> float | None:
        """How long to wait for work: until the batch's deadline or the held rows' retry."""
        due = [at for at in (deadline, self._retry_at if self._held else 0.0) if at]
        return max(0.0, min(due) - self._monotonic()) if due else None

    async def _commit_urgent(self) -> bool:
        """Commit the held safety events and alert rows; False (they stay held) when full."""
        taken = self._alerts_taken
        # Out of `_held` while in flight: a stop during the commit must not commit them twice.
        rows, self._held = self._held, []
        self._in_flight = len(rows)
        try:
            await self._commit(rows)
        except OutboxFullError as exc:
            self._held[:0] = rows
            self._retry_at = self._monotonic() + FULL_RETRY_S
            self._full(exc)
            return False
        finally:
            self._in_flight = 0
        self._alerts_stored = taken
        ready = [waiter for target, waiter in self._store_waiters if target <= taken]
        self._store_waiters = [(t, w) for t, w in self._store_waiters if t > taken]
        for waiter in ready:
            if not waiter.done():
                waiter.set_result(None)
        return True

    async def _commit_telemetry(self, batch: list[Point]) -> None:
        """Commit a telemetry batch; when the outbox is full, drop it (counted)."""
        if self._held:
            # Room that appears goes to the held safety events and alerts first, at their next
            # retry: a telemetry commit could take it from under them.
            self.counters.full_dropped += len(batch)
            return
        try:
            await self._commit(batch)
        except OutboxFullError as exc:
            self.counters.full_dropped += len(batch)
            self._full(exc)

    async def _commit_last(self, rows: list[Point]) -> None:
        """The last commit, as the pipeline stops: what a full outbox refuses now is lost."""
        try:
            await self._commit(rows)
        except OutboxFullError as exc:
            urgent = sum(point.lane is not Lane.TELEMETRY for point in rows)
            logger.error(
                "%s: %d rows (%d urgent) lost as the gateway stops", exc, len(rows), urgent
            )

    def _full(self, error: OutboxFullError) -> None:
        """Say once that the outbox is full, until a commit succeeds again."""
        if self.outbox_full_since is None:
            self.outbox_full_since = self._monotonic()
            logger.error(
                "%s: safety events and alerts are held in memory and retried every %g s, "
                "telemetry is dropped until there is room",
                error,
                FULL_RETRY_S,
            )

    async def _hold_telemetry(self) -> None:
        """Process no telemetry for HOLD_AFTER_URGENT_S, unless a safety event or alert comes."""
        until = self._monotonic() + HOLD_AFTER_URGENT_S
        self._urgent_wakeup.clear()
        while not (self._urgent or self._made_urgent):
            remaining = until - self._monotonic()
            if remaining <= 0:
                return
            await wait_event(self._urgent_wakeup, remaining)
            self._urgent_wakeup.clear()

    def _drain_into(self, batch: list[Point], limit: int | None = BATCH_MAX) -> list[Point]:
        """Process queued notifications, safety events first; returns the rows to commit now.

        Telemetry rows go into `batch`; safety events and alert rows are returned, alert rows
        first. With a limit, telemetry stops after a slice of SLICE_S (the caller yields to the
        loop and comes back) and at the first urgent row.
        """
        urgent: list[Point] = []
        slice_ends = self._monotonic() + SLICE_S
        while self._urgent or self._queue:
            if limit is not None and (
                len(batch) >= self._batch_max
                or self._made_urgent
                or len(urgent) >= URGENT_BATCH_MAX
                or (urgent and not self._urgent)
            ):
                # Safety events and alerts commit now, the events queued together in one
                # small batch, not after the telemetry queued behind them: the rest waits for
                # the next pass, milliseconds later.
                break
            if self._urgent:
                urgent.extend(self._process(self._urgent.popleft()))
                continue
            batch.extend(self._process(self._queue.popleft()))
            if limit is not None and self._monotonic() >= slice_ends:
                break
        if self._made:
            # Alert rows go first: they are what dispatch waits for.
            if self._made_urgent:
                urgent[:0] = self._made
                self._alerts_taken = self._alerts_added
            else:
                batch[:0] = self._made
            self._made, self._made_urgent = [], False
        return urgent

    async def _commit(self, batch: list[Point]) -> None:
        await self._outbox.append(batch)
        self.counters.points_committed += len(batch)
        if self.outbox_full_since is not None:
            logger.warning(
                "outbox writable again after %.0f s (%d telemetry rows dropped meanwhile)",
                self._monotonic() - self.outbox_full_since,
                self.counters.full_dropped,
            )
            self.outbox_full_since = None
        if self._on_commit is not None:
            self._on_commit()

    def _process(self, notification: Notification) -> list[Point]:
        device = notification.device
        try:
            if notification.broadcast:
                reading = broadcast(device.profile, notification.data)
                source = ADVERTISEMENT_SOURCE
            else:
                uuid = notification.uuid
                codec = self._codecs.get(uuid)
                if codec is None:
                    codec = self._codecs[uuid] = codec_for(uuid)
                way = self._routes.get((device.model, uuid))
                if way is None:
                    way = self._routes[device.model, uuid] = route(device.profile, uuid, codec)
                reading = way.arrive(codec.decode(notification.data))
                source = way.source
        except DecodeError as exc:
            self._decode_error(device, exc)
            return []
        self.counters.decoded += 1
        if reading is None:  # it carried no reading (a stand-in's "not available")
            return []
        if isinstance(reading, SafetyEvent) and self._event_repeats.seen(
            device.device_id, reading.sequence, reading.device_ticks_ms
        ):
            self.counters.safety_event_repeats += 1  # the rules already had it
            return []
        for observer in self._observers:
            self._notify(observer, device, reading, notification.received_ns)
        return self._points(device, reading, notification.received_ns, source)

    def _points(
        self, device: DeviceRef, reading: Characteristic, received_ns: int, source: str
    ) -> list[Point]:
        """The rows one decoded reading makes; the streams with state of their own first."""
        if isinstance(reading, ImuBatch):
            return self._summarise(device, reading, reading.first_sample_index, received_ns)
        if isinstance(reading, PmdDataFrame):
            return self._pmd_frame(device, reading, received_ns)
        if isinstance(reading, HeartRateMeasurement):
            return self._heart_rate(device, reading, received_ns)
        if isinstance(reading, CoreBodyTemperature):
            return core_temperature_points(reading, device, received_ns, source)
        return points_for(reading, device, received_ns)

    def _heart_rate(
        self, device: DeviceRef, reading: HeartRateMeasurement, received_ns: int
    ) -> list[Point]:
        """Heart rate with the strap's RR intervals through its plausibility filter: real straps
        send spurious intervals (docs/devices.md), which are counted, not stored."""
        rr_filter = self._rr_filters.setdefault(device.device_id, RrFilter())
        if reading.sensor_contact is SensorContact.NOT_DETECTED:
            rr_filter.reset()  # off the skin: what follows is a new recording
        intervals = reading.rr_intervals_s
        rejected = self._judge_rr(rr_filter, intervals, range(len(intervals)))
        return heart_rate_points(reading, device, received_ns, rejected)

    def _judge_rr(
        self, rr_filter: RrFilter, intervals: Sequence[float], usable: Sequence[int]
    ) -> set[int]:
        """Indexes of `intervals` refused: those beyond the notification's bounds (never shown
        to the filter), and the filter's; the `usable` ones among them are counted by reason."""
        start = notification_start(intervals)
        judged = [index for index in usable if index >= start]
        if beyond := len(usable) - len(judged):
            self._count_rr_rejected(RejectionReason.BEYOND_NOTIFICATION, beyond)
        rejected = set(range(start))
        for verdict in rr_filter.push([intervals[index] for index in judged]).verdicts:
            if verdict.rejected_because is not None:
                rejected.add(judged[verdict.index])
                self._count_rr_rejected(verdict.rejected_because, 1)
        return rejected

    def _count_rr_rejected(self, reason: str, count: int) -> None:
        by_reason = self.counters.rr_rejected_by_reason
        by_reason[str(reason)] = by_reason.get(str(reason), 0) + count
        self.counters.rr_rejected += count

    def _pmd_frame(self, device: DeviceRef, frame: PmdDataFrame, received_ns: int) -> list[Point]:
        """ACC to the activity tracker and fall detector, PPI to RR, ECG to rows (docs/pmd.md).

        Each frame is placed on the gateway's clock with its last sample at its receipt, the
        samples before it one period apart, through the same `SampleClock` as the vest's
        counter, counting the frames' samples; the sensor's own time (ns since 2000, reset on
        power-off) is not used for placement, only to notice a power cycle.
        """
        key = (device.device_id, frame.measurement)
        previous_ns = self._pmd_sensor_ns.get(key)
        self._pmd_sensor_ns[key] = frame.sensor_time_ns
        if previous_ns is not None and frame.sensor_time_ns < previous_ns:
            self._pmd_index.pop(key, None)  # the sensor restarted: a new recording
            self._clocks.pop(f"{device.device_id}/{frame.measurement}", None)
        if frame.measurement is MeasurementType.PPI:
            return self._ppi(device, frame, received_ns)
        stream = self._pmd_streams(device.device_id, frame.measurement)
        if stream is None or stream.sample_rate_hz is None:
            return self._unused("no_started_stream")
        first = self._pmd_index.get(key, 0)
        count = len(frame.samples)
        self._pmd_index[key] = (first + count) % SAMPLE_INDEX_MODULO
        if frame.measurement is MeasurementType.ACC:
            if (frame.compressed, frame.frame_type) not in ACC_SCALES:
                return self._unused("unknown_acc_frame")
            acceleration = acc_frame_g(frame, stream.factor, stream.sample_rate_hz)
            return self._summarise(device, acceleration, first, received_ns)
        if frame.measurement is MeasurementType.ECG and device.ecg:
            clock = self._clock(f"{device.device_id}/{frame.measurement}", stream.sample_rate_hz)
            times = clock.place(first, count, received_ns)
            return [
                ECG.point(device.tags, {"uv": sample[0]}, time_ns)
                for sample, time_ns in zip(frame.channel_samples(), times, strict=True)
            ]
        return self._unused(f"{frame.measurement}_not_used")

    def _ppi(self, device: DeviceRef, frame: PmdDataFrame, received_ns: int) -> list[Point]:
        """A Verity's PPI records as RR intervals, through the strap's plausibility filter."""
        rr_filter = self._rr_filters.setdefault(f"{device.device_id}/ppi", RrFilter())
        records = frame.ppi_samples()
        if any(r.skin_contact_supported and not r.skin_contact for r in records):
            rr_filter.reset()  # off the skin: what follows is a new recording
        blocked = {index for index, record in enumerate(records) if record.blocker}
        if blocked:
            self._count_rr_rejected(PPI_BLOCKED, len(blocked))
        intervals = [record.ppi_ms / 1000 for record in records]
        usable = [index for index in range(len(records)) if index not in blocked]
        rejected = self._judge_rr(rr_filter, intervals, usable)
        return rr_points(intervals, device, received_ns, rejected | blocked)

    def _unused(self, why: str) -> list[Point]:
        unused = self.counters.pmd_frames_unused
        unused[why] = unused.get(why, 0) + 1
        return []

    def _clock(self, key: str, rate_hz: int) -> SampleClock:
        clock = self._clocks.setdefault(key, SampleClock(rate_hz))
        clock.rate_hz = rate_hz
        return clock

    def _summarise(
        self, device: DeviceRef, batch: AccelerationSamples, first_index: int, received_ns: int
    ) -> list[Point]:
        tracker = self._trackers.setdefault(device.device_id, ActivityTracker(batch.sample_rate_hz))
        clock = self._clock(device.device_id, batch.sample_rate_hz)
        times = clock.place(first_index, len(batch.samples_g), received_ns)
        for imu_observer in self._imu_observers:
            self._notify(imu_observer, device, batch, times)
        points = []
        for summary in tracker.add_batch(batch.samples_g, batch.sample_rate_hz, times):
            for observer in self._activity_observers:
                self._notify(observer, device, summary)
            fields: dict[str, float | int | str] = {
                "mean_g": summary.mean_g,
                "peak_g": summary.peak_g,
                "std_g": summary.std_g,
                "intensity": summary.intensity.value,
                "posture": summary.posture.value,
                "samples": summary.samples,
            }
            if summary.tilt_deg is not None:
                fields["tilt_deg"] = summary.tilt_deg
            points.append(ACTIVITY.point(device.tags, fields, summary.time_ns))
        return points

    def _notify(self, observer: Callable[..., None], *args: object) -> None:
        """Call an analytics or alert observer; its failure is logged, counted and contained.

        A bug in one rule must not stop the pipeline: telemetry keeps flowing to the outbox and
        every other rule keeps running.
        """
        try:
            observer(*args)
        except Exception:
            self.counters.observer_errors += 1
            now = self._monotonic()
            if (
                self._last_observer_log is None
                or now - self._last_observer_log >= DECODE_LOG_INTERVAL_S
            ):
                self._last_observer_log = now
                logger.exception(
                    "observer %s failed (error %d)", observer, self.counters.observer_errors
                )

    def _log_rate_limited(self, device: DeviceRef, now: float) -> None:
        last = self._last_rate_log.get(device.device_id)
        if last is None or now - last >= DECODE_LOG_INTERVAL_S:
            self._last_rate_log[device.device_id] = now
            logger.warning(
                "%s: safety events over the device's rate are dropped (%d so far, all devices)",
                device.device_id,
                self.counters.safety_events_rate_limited,
            )

    def _decode_error(self, device: DeviceRef, error: DecodeError) -> None:
        counters = self.counters
        counters.decode_errors += 1
        kind = error.kind.value
        counters.decode_errors_by_kind[kind] = counters.decode_errors_by_kind.get(kind, 0) + 1
        now = self._monotonic()
        last = self._last_decode_log.get(device.device_id)
        if last is None or now - last >= DECODE_LOG_INTERVAL_S:
            self._last_decode_log[device.device_id] = now
            logger.warning("%s: malformed notification: %s", device.device_id, error)
