"""The composition root: builds every object of the daemon from the configuration and runs them.

Nothing else in the gateway constructs collaborators; everything below receives what it needs.
Every background task is named and supervised in one TaskGroup: delivery and housekeeping tasks
are restarted after a failure (with backoff); a failure of the BLE side or the pipeline brings
the daemon down cleanly, with the task's name in the log, for systemd to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.alerts.engine import AlertEngine
from gateway.alerts.evidence import EvidenceRecorder
from gateway.alerts.model import Alert
from gateway.alerts.rules import OfficerMonitor, officer_profile
from gateway.backoff import BackoffPolicy
from gateway.ble.factory import BleakFactory
from gateway.ble.link import LINK_STATE_CODES, LinkState
from gateway.ble.manager import DeviceManager, DeviceRef, ManagedDevice
from gateway.config import GatewayConfig, config_hash
from gateway.delivery import Delivery, Sink
from gateway.http import AlertApi, GatewayCollector, Observed, make_app
from gateway.live import LiveState, render, show
from gateway.normalize import Source
from gateway.officer_status import OfficerSnapshot
from gateway.outbox import AsyncOutbox, FieldValue, Outbox, OutboxStats, Point
from gateway.pipeline import Pipeline
from sensors import Characteristic

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 10.0  # link and gateway health rows: enough resolution for dashboards
STATS_INTERVAL_S = 5.0
RETENTION_INTERVAL_S = 60.0
LIVE_INTERVAL_S = 1.0
# Man-down must alarm within 30 +/- 1 s of a fall: a 1 s timer resolution keeps that promise.
ALERT_TICK_S = 1.0
# systemd's default stop timeout is 90 s; a few seconds of draining fit well inside it.
SHUTDOWN_DRAIN_S = 5.0
RESTART = BackoffPolicy(first_s=1.0, cap_s=30.0)
# How long another thread may hold the GIL before the event loop can take it back. Python's
# default, 5 ms, let the outbox's worker threads (SQLite, statistics) stall the loop by up to
# that much at each hand-off, twice per alert; 1 ms cut the alert-latency tail at 64 devices
# by about 40 % at no cost to the median (docs/performance.md, "Alert latency").
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Process-wide settings the daemon needs; called by `bluewatch run`, which owns the process."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def roster(config: GatewayConfig) -> tuple[list[DeviceRef], dict[str, Source]]:
    """Device references and their point tags, one per assigned device."""
    refs: list[DeviceRef] = []
    sources: dict[str, Source] = {}
    for officer in config.officers:
        for index, device in enumerate(officer.devices):
            same_kind = [d for d in officer.devices if d.kind is device.kind]
            suffix = f"-{same_kind.index(device) + 1}" if len(same_kind) > 1 else ""
            device_id = f"{officer.id}-{device.kind.value}{suffix}"
            del index
            refs.append(DeviceRef(device_id, officer.id, device.kind, device.address, device.name))
            sources[device_id] = Source(
                config.agency, config.unit, officer.id, device_id, device.kind
            )
    return refs, sources


@dataclass
class Gateway:
    """The wired daemon; `run` until `stop` is set."""

    config: GatewayConfig
    outbox: AsyncOutbox
    factory: BleakFactory
    manager: DeviceManager
    pipeline: Pipeline
    deliveries: list[Delivery]
    sinks: Sequence[Sink]
    live: LiveState
    engine: AlertEngine
    monitors: dict[str, OfficerMonitor]
    evidence: EvidenceRecorder
    registry: CollectorRegistry
    monotonic: Callable[[], float]
    clock_ns: Callable[[], int]
    outbox_stats: OutboxStats | None = None
    committed: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int | None = None
    link_states: dict[str, LinkState] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event, live_out: TextIO | None = None) -> None:
        restored = self.engine.restore(await self.outbox.alert_rows())
        if restored:
            logger.warning("%d alert(s) still open from before the restart", restored)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._critical("pipeline", self.pipeline.run), name="pipeline")
                group.create_task(
                    self._critical("device-manager", self.manager.run), name="device-manager"
                )
                for sink, delivery in zip(self.sinks, self.deliveries, strict=True):
                    runner = getattr(sink, "run", None)
                    if runner is not None:
                        group.create_task(
                            self._restarting(f"sink-{sink.name}", runner), name=f"sink-{sink.name}"
                        )
                    group.create_task(
                        self._restarting(f"delivery-{sink.name}", delivery.run),
                        name=f"delivery-{sink.name}",
                    )
                group.create_task(
                    self._restarting("housekeeping", self._housekeeping), name="housekeeping"
                )
                group.create_task(
                    self._critical("alert-timers", self._alert_timers), name="alert-timers"
                )
                group.create_task(self._restarting("http", self._serve_http), name="http")
                if live_out is not None:
                    group.create_task(
                        self._restarting("live-view", lambda: self._live(live_out)),
                        name="live-view",
                    )
                group.create_task(self._restarting("watchdog", self._watchdog), name="watchdog")
                group.create_task(_raise_when(stop), name="stop")
        except* _StopRequestedError:
            logger.info("stopping")
        finally:
            await self.manager.close()
            await self.factory.close()
            await self.outbox.append(self.health_points())  # the final counters, for the record
            # The pipeline committed its last batch as it stopped; hand the sinks what they can
            # still take (bounded), and leave the rest in the outbox for the next start.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_DRAIN_S):
                    for delivery in self.deliveries:
                        await delivery.drain()
            for sink in self.sinks:
                close = getattr(sink, "close", None)
                if close is not None:
                    await close()
            await self.outbox.close()

    async def _critical(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        try:
            await factory()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("task %s failed: stopping the gateway", name)
            raise

    async def _restarting(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        attempt = 0
        while True:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                delay = RESTART.delay_s(attempt, random.random)
                logger.exception("task %s failed; restarting in %.1f s", name, delay)
                await asyncio.sleep(delay)

    async def _housekeeping(self) -> None:
        last_health = last_retention = -1e9
        while True:
            now = self.monotonic()
            self.outbox_stats = await self.outbox.stats()
            if now - last_health >= HEALTH_INTERVAL_S:
                last_health = now
                await self.outbox.append(self.health_points())
            if now - last_retention >= RETENTION_INTERVAL_S:
                last_retention = now
                deleted = await self.outbox.enforce_retention()
                if deleted:
                    logger.info("retention removed %d delivered or over-cap rows", deleted)
            await asyncio.sleep(STATS_INTERVAL_S)

    async def _alert_timers(self) -> None:
        """Once a second: man-down timers, device links, escalation (rules also run on data)."""
        while True:
            now_ns = self.clock_ns()
            for monitor in self.monitors.values():
                monitor.evaluate_man_down(now_ns)
            now = self.monotonic()
            for device_id, managed in self.manager.devices.items():
                state = managed.health.state(now)
                if state is not self.link_states.get(device_id):
                    self.link_states[device_id] = state
                    owner = self.monitors.get(managed.ref.officer_id)
                    if owner is not None:
                        owner.on_link(managed.ref, state)
            self.engine.tick()
            await self.evidence.write_due(now_ns)
            await asyncio.sleep(ALERT_TICK_S)

    async def _watchdog(self) -> None:
        """Tell systemd we are up, then keep petting its watchdog while the pipeline runs."""
        notify_systemd("READY=1")
        interval_s = int(os.environ.get("WATCHDOG_USEC", "0")) / 2e6
        if interval_s <= 0:
            return
        while True:
            notify_systemd("WATCHDOG=1")
            await asyncio.sleep(interval_s)

    def health_points(self) -> list[Point]:
        """Link health per device and the gateway's own counters, as rows for the dashboards."""
        now_ns, now = self.clock_ns(), self.monotonic()
        points = []
        sources = self.pipeline.sources
        for device_id, managed in self.manager.devices.items():
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
            points.append(Point("link", sources[device_id].tags, fields, now_ns))
        points.extend(self.officer_status_points(now_ns, now))
        counters = self.pipeline.counters
        gateway_fields: dict[str, FieldValue] = {
            "notifications_received": counters.received,
            "decode_errors": counters.decode_errors,
            "intake_dropped": counters.dropped,
            "points_committed": counters.points_committed,
            "unknown_advertisers": len(self.manager.unknown_advertisers),
        }
        if self.outbox_stats is not None:
            gateway_fields["outbox_rows"] = self.outbox_stats.rows
            gateway_fields["outbox_bytes"] = self.outbox_stats.bytes
            for sink, lanes in self.outbox_stats.pending.items():
                gateway_fields[f"pending_{sink}"] = sum(lane.pending for lane in lanes.values())
                ages = [
                    lane.oldest_age_s for lane in lanes.values() if lane.oldest_age_s is not None
                ]
                gateway_fields[f"oldest_age_s_{sink}"] = max(ages, default=0.0)
        for delivery in self.deliveries:
            gateway_fields[f"latency_s_{delivery.sink.name}"] = delivery.counters.last_latency_s
            gateway_fields[f"retries_{delivery.sink.name}"] = delivery.counters.retries
        tags = {"agency": self.config.agency, "unit": self.config.unit}
        points.append(Point("gateway", tags, gateway_fields, now_ns))
        return points

    def officer_status_points(self, now_ns: int, now: float) -> list[Point]:
        """One `officer_status` row per rostered officer, the fleet table's colour and sort key."""
        alerts: dict[str, list[Alert]] = {officer: [] for officer in self.monitors}
        for alert in self.engine.open_alerts():
            alerts.setdefault(alert.officer_id, []).append(alert)
        devices: dict[str, list[ManagedDevice]] = {officer: [] for officer in alerts}
        for managed in self.manager.devices.values():
            devices.setdefault(managed.ref.officer_id, []).append(managed)
        tags = {"agency": self.config.agency, "unit": self.config.unit}
        points = []
        for officer, own in sorted(devices.items()):
            heard = [m.health.last_notification_s for m in own]
            last = max((t for t in heard if t is not None), default=None)
            snapshot = OfficerSnapshot(
                open_alerts=tuple(alerts.get(officer, ())),
                links=tuple(m.health.state(now) for m in own),
                last_seen_s=None if last is None else max(0.0, now - last),
            )
            points.append(
                Point("officer_status", {**tags, "officer": officer}, snapshot.fields(), now_ns)
            )
        return points

    async def _serve_http(self) -> None:
        settings = self.config.http
        api = AlertApi(self.engine, self.config.dispatch_api.secret())
        runner = web.AppRunner(make_app(self.registry, self.healthy, api), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.http_port = server.sockets[0].getsockname()[1]
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    def healthy(self) -> tuple[bool, str]:
        if self.pipeline.backlog > 0.9 * self.pipeline.queue_limit:
            return False, "intake backlog near its limit"
        return True, "ok"

    async def _live(self, out: TextIO) -> None:
        header_base = f"Bluewatch - {self.config.agency} / {self.config.unit}"
        while True:
            links = {d: (m.ref, m.health) for d, m in self.manager.devices.items()}
            c = self.pipeline.counters
            header = (
                f"{header_base}  notifications {c.received}  decode errors {c.decode_errors}  "
                f"points committed {c.points_committed}"
            )
            show(out, render(self.live, links, self.monotonic(), header))
            await asyncio.sleep(LIVE_INTERVAL_S)


class _StopRequestedError(Exception):
    """Raised inside the TaskGroup to end it when the stop event is set."""


async def _raise_when(stop: asyncio.Event) -> None:
    await stop.wait()
    raise _StopRequestedError


async def build(
    config: GatewayConfig, sinks: Sequence[Sink], factory: BleakFactory | None = None
) -> Gateway:
    """Wire the daemon's objects (opening the BLE stack, unless given one, and the outbox)."""
    loop = asyncio.get_running_loop()
    refs, sources = roster(config)
    outbox = AsyncOutbox(
        Outbox(
            config.outbox.path,
            max_bytes=config.outbox.max_bytes,
            max_age_s=config.outbox.max_age_days * 86400,
        )
    )
    if factory is None:
        factory = await BleakFactory.open(config.ble)
    pipeline = Pipeline(sources, outbox, monotonic=loop.time)
    manager = DeviceManager(
        refs,
        factory,
        pipeline.submit,
        stale_after_s=config.link.stale_after_s,
        lost_after_s=config.link.lost_after_s,
        max_concurrent_connects=config.link.max_concurrent_connects,
        clock_ns=time.time_ns,
        monotonic=loop.time,
    )
    live = LiveState([officer.id for officer in config.officers])
    pipeline.observers += [manager.observe, live.observe]
    pipeline.activity_observers.append(live.observe_activity)
    engine = AlertEngine(
        config.agency,
        config.unit,
        config_hash(config),
        clock_ns=time.time_ns,
        emit=lambda point: pipeline.add_points([point]),
        escalate_after_s=config.alerts.escalate_after_s,
    )
    monitors = {
        officer.id: OfficerMonitor(
            officer_profile(
                officer.id, officer.resting_hr_bpm, officer.age_years, officer.max_hr_bpm
            ),
            config.alerts,
            engine,
            pipeline.add_points,
            {"agency": config.agency, "unit": config.unit, "officer": officer.id},
        )
        for officer in config.officers
    }

    def to_monitor(device: DeviceRef, reading: Characteristic, received_ns: int) -> None:
        monitors[device.officer_id].on_reading(device, reading, received_ns)

    pipeline.observers.append(to_monitor)
    pipeline.imu_observers.append(
        lambda device, batch, times: monitors[device.officer_id].on_imu(device, batch, times)
    )
    pipeline.activity_observers.append(
        lambda device, summary: monitors[device.officer_id].on_activity(device, summary)
    )
    engine.listeners.append(live.observe_alert)
    evidence = EvidenceRecorder(
        folder=config.outbox.path.parent / "evidence",
        tags=lambda officer: {"agency": config.agency, "unit": config.unit, "officer": officer},
        tracker_for=pipeline.tracker,
        emit=pipeline.add_points,
    )
    pipeline.observers.append(evidence.observe)
    engine.listeners.append(evidence.on_alert)
    committed = asyncio.Event()
    pipeline.committed = committed
    deliveries = [Delivery(outbox, sink, wakeup=committed, monotonic=loop.time) for sink in sinks]
    registry = CollectorRegistry()
    gateway = Gateway(
        config=config,
        outbox=outbox,
        factory=factory,
        manager=manager,
        pipeline=pipeline,
        deliveries=deliveries,
        sinks=sinks,
        live=live,
        engine=engine,
        monitors=monitors,
        evidence=evidence,
        registry=registry,
        monotonic=loop.time,
        clock_ns=time.time_ns,
        committed=committed,
    )
    registry.register(
        GatewayCollector(
            Observed(pipeline, manager, deliveries, lambda: gateway.outbox_stats, loop.time)
        )
    )
    return gateway


def notify_systemd(message: str) -> None:
    """sd_notify(3) over $NOTIFY_SOCKET, when systemd started us with Type=notify."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
