"""The rows dashboards read the fleet's state from: link per device, status per officer, and
the gateway's own counters, committed every 10 s (docs/data-model.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Final

from gateway.alerts.coverage import undetectable
from gateway.alerts.engine import AlertEngine
from gateway.alerts.model import Alert
from gateway.ble.link import LINK_STATE_CODES
from gateway.ble.manager import DeviceManager, ManagedDevice
from gateway.delivery import Delivery
from gateway.domain import GATEWAY, LINK, OFFICER_STATUS, FieldValue, Point, UnitRef
from gateway.jobs.vehicle_position import GpsdHealth
from gateway.officer_status import OfficerSnapshot
from gateway.outbox import AsyncOutbox, OutboxFullError, OutboxStats
from gateway.pipeline import Pipeline

# Enough resolution for dashboards that refresh every 10-30 s, and a small share of the rows.
STATUS_INTERVAL_S: Final = 10.0


class StatusRows:
    """Builds the status rows from the running objects, and commits them on a timer."""

    def __init__(
        self,
        unit: UnitRef,
        officers: Sequence[str],
        *,
        outbox: AsyncOutbox,
        manager: DeviceManager,
        pipeline: Pipeline,
        engine: AlertEngine,
        deliveries: Sequence[Delivery],
        outbox_stats: Callable[[], OutboxStats | None],
        clock_ns: Callable[[], int],
        monotonic: Callable[[], float],
        gpsd: GpsdHealth | None = None,
    ) -> None:
        self._unit = unit
        self._officers = tuple(officers)
        self._outbox = outbox
        self._manager = manager
        self._pipeline = pipeline
        self._engine = engine
        self._deliveries = tuple(deliveries)
        self._outbox_stats = outbox_stats
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._gpsd = gpsd

    async def run(self) -> None:
        while True:
            await self.commit()
            await asyncio.sleep(STATUS_INTERVAL_S)

    async def commit(self) -> None:
        """Commit one set of rows now (also at shutdown: the final counters, for the record).

        A full outbox skips the set: the pipeline says so (log, /healthz), and the next set
        that fits carries the counts of what was dropped meanwhile.
        """
        with contextlib.suppress(OutboxFullError):
            await self._outbox.append(self.points())

    def points(self) -> list[Point]:
        now_ns, now = self._clock_ns(), self._monotonic()
        points = [self._link(managed, now_ns, now) for managed in self._manager.devices.values()]
        points.extend(self._officer_status(now_ns, now))
        points.append(self._gateway(now_ns))
        return points

    def _link(self, managed: ManagedDevice, now_ns: int, now: float) -> Point:
        health = managed.health
        state = health.state(now)
        fields: dict[str, FieldValue] = {
            "state": state.value,
            "state_code": LINK_STATE_CODES[state],
            "notification_rate_hz": health.notification_rate_hz(now),
            "reconnects": health.reconnects,
            "samples_lost": health.samples_lost,
            "connected": health.connected,
        }
        if health.rssi_dbm is not None:
            fields["rssi_dbm"] = health.rssi_dbm
        if (ppm := health.clock_drift_ppm()) is not None:
            fields["clock_drift_ppm"] = round(ppm, 1)
        return LINK.point(managed.ref.tags, fields, now_ns)

    def _officer_status(self, now_ns: int, now: float) -> list[Point]:
        """One row per rostered officer, the fleet table's colour and sort key."""
        alerts: dict[str, list[Alert]] = {officer: [] for officer in self._officers}
        for alert in self._engine.open_alerts():
            alerts.setdefault(alert.officer_id, []).append(alert)
        devices: dict[str, list[ManagedDevice]] = {officer: [] for officer in alerts}
        for managed in self._manager.devices.values():
            devices.setdefault(managed.ref.officer_id, []).append(managed)
        points = []
        for officer, own in sorted(devices.items()):
            heard = [m.health.last_notification_s for m in own]
            last = max((t for t in heard if t is not None), default=None)
            snapshot = OfficerSnapshot(
                open_alerts=tuple(alerts.get(officer, ())),
                links=tuple(m.health.state(now) for m in own),
                last_seen_s=None if last is None else max(0.0, now - last),
                # From the kit of the moment: pool devices join and leave it during a shift.
                cannot_detect=undetectable([m.ref for m in own]),
            )
            tags = self._unit.officer_tags(officer)
            points.append(OFFICER_STATUS.point(tags, snapshot.fields(), now_ns))
        return points

    def _gateway(self, now_ns: int) -> Point:
        counters = self._pipeline.counters
        fields: dict[str, FieldValue] = {
            "notifications_received": counters.received,
            "decode_errors": counters.decode_errors,
            "rr_rejected": counters.rr_rejected,
            "intake_dropped": counters.dropped,
            "points_committed": counters.points_committed,
            "unknown_advertisers": len(self._manager.unknown_advertisers),
            "outbox_full": self._pipeline.outbox_full_since is not None,
            "urgent_held": self._pipeline.held,
            "full_dropped": counters.full_dropped,
            "possible_spoofs": len(self._manager.possible_spoofs),
        }
        stats = self._outbox_stats()
        if stats is not None:
            fields["outbox_rows"] = stats.rows
            fields["outbox_bytes"] = stats.bytes
            for sink, lanes in stats.pending.items():
                fields[f"pending_{sink}"] = sum(lane.pending for lane in lanes.values())
                ages = [
                    lane.oldest_age_s for lane in lanes.values() if lane.oldest_age_s is not None
                ]
                fields[f"oldest_age_s_{sink}"] = max(ages, default=0.0)
        for delivery in self._deliveries:
            fields[f"latency_s_{delivery.sink.name}"] = delivery.counters.last_latency_s
            fields[f"retries_{delivery.sink.name}"] = delivery.counters.retries
        if self._gpsd is not None:  # only with a [vehicle] section
            fields["gpsd_connected"] = self._gpsd.connected
            fields["gpsd_failures"] = self._gpsd.failures
        return GATEWAY.point(self._unit.tags, fields, now_ns)
