"""The composition root: builds every object of the daemon from the configuration and runs them.

Nothing else in the gateway constructs collaborators; everything below receives what it needs.
Every background task is named and supervised in one TaskGroup: delivery and housekeeping tasks
are restarted after a failure (with backoff); a failure of the BLE side, the pipeline or the
alert timers brings the daemon down cleanly, with the task's name in the log, for systemd to
restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.acceleration import AccelerationSamples
from gateway.activity import ActivitySummary, ActivityTracker
from gateway.alerts.coverage import gaps
from gateway.alerts.engine import AlertEngine
from gateway.alerts.evidence import EvidenceRecorder
from gateway.alerts.proximity import VehicleView
from gateway.alerts.rules import OfficerMonitor, officer_profile
from gateway.assignment_desk import AssignmentDesk
from gateway.assignment_store import AssignmentStore, store_path
from gateway.assignments import Assignment, AssignmentRegistry
from gateway.backoff import BackoffPolicy
from gateway.ble.bonds import Bindings
from gateway.ble.factory import BleakFactory
from gateway.ble.link import LinkState
from gateway.ble.manager import DeviceManager
from gateway.config import GatewayConfig, config_hash
from gateway.delivery import Delivery
from gateway.domain import DeviceRef, Point
from gateway.early_alerts import EarlyAlerts
from gateway.evidence_store import EvidenceStore
from gateway.handoff import AlertHandoff
from gateway.http import (
    AlertApi,
    AssignmentApi,
    GatewayCollector,
    GpsdCollector,
    Observed,
    alert_routes,
    assignment_routes,
    monitoring_routes,
)
from gateway.http_server import HttpServer
from gateway.jobs.alert_timers import AlertTimers
from gateway.jobs.housekeeping import Housekeeping
from gateway.jobs.live_view import LiveView
from gateway.jobs.status_rows import StatusRows
from gateway.jobs.systemd import SystemdWatchdog
from gateway.jobs.vehicle_position import VehiclePosition
from gateway.live import LiveState
from gateway.outbox import AsyncOutbox, Outbox, OutboxFullError
from gateway.pipeline import Pipeline
from gateway.sinks.influx_sink import LineEncoder
from gateway.sinks.sink import Sink
from gateway.vehicle.track import VehicleTrack
from sensors import PROFILES, Characteristic

logger = logging.getLogger(__name__)

# systemd's default stop timeout is 90 s; a few seconds of draining fit well inside it.
SHUTDOWN_DRAIN_S: Final = 5.0
RESTART = BackoffPolicy(first_s=1.0, cap_s=30.0)
# How long another thread may hold the GIL before the event loop can take it back. Python's
# default, 5 ms, let the outbox's worker threads (SQLite, statistics) stall the loop by up to
# that much at each hand-off, twice per alert; 1 ms cut the alert-latency tail at 64 devices
# by about 40 % at no cost to the median (docs/performance.md, "Alert latency").
SWITCH_INTERVAL_S: Final = 0.001


# The outbox, its journal and the evidence bundles hold officers' locations and biometrics:
# every file the daemon creates is readable and writable by its own user only.
DAEMON_UMASK: Final = 0o077


def restrict_file_modes() -> None:
    """Give the process the daemon's umask; called by `bluewatch run`, which owns the process."""
    os.umask(DAEMON_UMASK)


def tune_interpreter() -> None:
    """Process-wide settings the daemon needs; called by `bluewatch run`, which owns the process."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


@dataclass(frozen=True)
class Job:
    """One supervised task: its name (in logs and task names), its loop, and its policy."""

    name: str
    run: Callable[[], Awaitable[None]]
    # A critical job's failure stops the daemon (systemd restarts it); any other job is
    # restarted in place with backoff, since losing it loses no data.
    critical: bool = False


@dataclass
class Gateway:
    """The wired daemon; `run` until `stop` is set."""

    outbox: AsyncOutbox
    factory: BleakFactory
    manager: DeviceManager
    pipeline: Pipeline
    engine: AlertEngine
    sinks: Sequence[Sink]
    deliveries: Sequence[Delivery]
    status_rows: StatusRows
    http: HttpServer
    # The dispatch API's own listener; None when it shares `http`.
    dispatch_http: HttpServer | None
    jobs: Sequence[Job]
    assignments: AssignmentDesk
    assignment_store: AssignmentStore
    live: LiveState

    @property
    def http_port(self) -> int | None:
        return self.http.port

    @property
    def dispatch_port(self) -> int | None:
        """Where the dispatch API listens: its own port, or the metrics' when it shares it."""
        return (self.dispatch_http or self.http).port

    async def run(self, stop: asyncio.Event) -> None:
        restored = self.engine.restore(await self.outbox.alert_rows())
        if restored:
            logger.warning("%d alert(s) still open from before the restart", restored)
        try:
            async with asyncio.TaskGroup() as group:
                for job in self.jobs:
                    group.create_task(_supervised(job), name=job.name)
                group.create_task(_raise_when(stop), name="stop")
        except* _StopRequestedError:
            logger.info("stopping")
        finally:
            await self.manager.close()
            await self.factory.close()
            await self.status_rows.commit()  # the final counters, for the record
            # The pipeline committed its last batch as it stopped; hand the sinks what they can
            # still take (bounded), and leave the rest in the outbox for the next start.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_DRAIN_S):
                    for delivery in self.deliveries:
                        await delivery.drain()
            for sink in self.sinks:
                await sink.close()
            await self.outbox.close()
            self.assignment_store.close()


async def _supervised(job: Job) -> None:
    attempt = 0
    while True:
        try:
            await job.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if job.critical:
                logger.exception("task %s failed: stopping the gateway", job.name)
                raise
            attempt += 1
            delay = RESTART.delay_s(attempt, random.random)
            logger.exception("task %s failed; restarting in %.1f s", job.name, delay)
            await asyncio.sleep(delay)


class _StopRequestedError(Exception):
    """Raised inside the TaskGroup to end it when the stop event is set."""


async def _raise_when(stop: asyncio.Event) -> None:
    await stop.wait()
    raise _StopRequestedError


def intake_health(pipeline: Pipeline) -> tuple[bool, str]:
    """What /healthz reports: degraded while the outbox is full, unhealthy when intake is about
    to shed telemetry."""
    if pipeline.outbox_full_since is not None:
        return False, (
            f"degraded: outbox full, {pipeline.held} safety events and alert rows held in "
            "memory, telemetry dropped"
        )
    if pipeline.backlog > 0.9 * pipeline.queue_limit:
        return False, "intake backlog near its limit"
    return True, "ok"


def _http_servers(
    config: GatewayConfig, monitoring: list[web.RouteDef], dispatch: list[web.RouteDef]
) -> tuple[HttpServer, HttpServer | None]:
    """The metrics' listener, and the dispatch API's own when it has a port of its own."""
    limits = config.http.limits()
    api = config.dispatch_api
    if api.port is None:
        return HttpServer(
            [*monitoring, *dispatch], config.http.host, config.http.port, limits
        ), None
    return (
        HttpServer(monitoring, config.http.host, config.http.port, limits),
        HttpServer(dispatch, api.host, api.port, limits),
    )


@dataclass(frozen=True)
class _Deliveries:
    """The delivery loops, what wakes each, and the early path of those that send alerts early."""

    loops: list[Delivery]
    wakeups: list[asyncio.Event]
    early: list[EarlyAlerts]

    def committed(self) -> None:
        """A commit: every loop has something to read (the pipeline's `on_commit`)."""
        for wakeup in self.wakeups:
            wakeup.set()

    def raised(self, points: list[Point]) -> None:
        """Points made downstream: alert changes among them go early where a sink can."""
        for early in self.early:
            early.raised(points)


def _deliveries(
    outbox: AsyncOutbox, sinks: Sequence[Sink], monotonic: Callable[[], float]
) -> _Deliveries:
    """One delivery loop per sink, each with the alert rows of every commit in hand: no read
    of the outbox between an alert's commit and its delivery (gateway/handoff.py); a sink that
    sends alerts early gets each change as it is raised (gateway/early_alerts.py)."""
    made = _Deliveries([], [], [])
    for sink in sinks:
        handoff = AlertHandoff(outbox)
        outbox.alert_listeners.append(handoff.committed)
        wakeup = asyncio.Event()
        early = EarlyAlerts(wakeup.set) if sink.sends_early else None
        if early is not None:
            made.early.append(early)
        made.wakeups.append(wakeup)
        made.loops.append(Delivery(handoff, sink, wakeup=wakeup, monotonic=monotonic, early=early))
    return made


def _open_outbox(config: GatewayConfig, sinks: Sequence[Sink]) -> AsyncOutbox:
    """The outbox, with the cursors of sinks no longer configured dropped (and said so)."""
    store = Outbox(
        config.outbox.path,
        max_bytes=config.outbox.max_bytes,
        max_age_s=config.outbox.max_age_days * 86400,
        quarantine_max_bytes=config.outbox.quarantine_max_bytes,
        # InfluxDB's line protocol is stored with each row at commit, when a sink sends it:
        # encoded once, not again on every read of a backlog.
        line_of=LineEncoder().stored if any(sink.sends_lines for sink in sinks) else None,
    )
    try:
        for gone in store.keep_sinks(sink.name for sink in sinks):
            logger.warning("sink %s is no longer configured: its outbox cursor is dropped", gone)
    except OutboxFullError as exc:
        # Starting matters more: the gateway holds alerts in memory while the disk is full.
        logger.warning("%s; their cursors are dropped at a later start", exc)
    return AsyncOutbox(store)


async def build(
    config: GatewayConfig,
    sinks: Sequence[Sink],
    factory: BleakFactory | None = None,
    live_out: TextIO | None = None,
) -> Gateway:
    """Wire the daemon's objects (opening the BLE stack, unless given one, and the outbox)."""
    loop = asyncio.get_running_loop()
    unit = config.unit_ref
    outbox = _open_outbox(config, sinks)
    deliveries = _deliveries(outbox, sinks, loop.time)
    if factory is None:
        factory = await BleakFactory.open(config.ble, config.key_store_path, config.gatt_cache_path)
    store, held, refs = _roster(config)
    live = LiveState(
        [officer.id for officer in config.officers],
        {
            officer.id: gaps([ref for ref in refs if ref.officer_id == officer.id])
            for officer in config.officers
        },
    )

    # The pipeline feeds the rules, the evidence recorder and the device manager, and takes
    # back what they make (alert rows, evidence rows, BLE notifications). These closures close
    # those loops; they run only once everything below is built.
    def emit(points: list[Point]) -> None:
        pipeline.add_points(points)
        deliveries.raised(points)

    def submit(device: DeviceRef, uuid: str, data: bytes, received_ns: int) -> None:
        pipeline.submit(device, uuid, data, received_ns)

    def submit_broadcast(device: DeviceRef, data: bytes, received_ns: int) -> None:
        pipeline.submit_broadcast(device, data, received_ns)

    def tracker_for(device_id: str) -> ActivityTracker | None:
        return pipeline.tracker(device_id)

    track = None if config.vehicle is None else VehicleTrack(config.vehicle)
    vehicle_view = (
        None
        if track is None or config.vehicle is None
        else VehicleView(config.vehicle_id, config.vehicle, lambda: track.last_fix)
    )
    evidence = EvidenceRecorder(unit, tracker_for, emit)
    engine = AlertEngine(
        unit,
        config_hash(config),
        clock_ns=time.time_ns,
        emit=lambda point: emit([point]),
        escalate_after_s=config.alerts.escalate_after_s,
        listeners=(live.observe_alert, evidence.on_alert),
    )
    monitors = {
        officer.id: OfficerMonitor(
            officer_profile(
                officer.id, officer.resting_hr_bpm, officer.age_years, officer.max_hr_bpm
            ),
            config.alerts,
            engine,
            emit,
            unit.officer_tags(officer.id),
            vehicle=vehicle_view,
        )
        for officer in config.officers
    }

    def on_reading(device: DeviceRef, reading: Characteristic, received_ns: int) -> None:
        monitors[device.officer_id].on_reading(device, reading, received_ns)

    def on_imu(device: DeviceRef, batch: AccelerationSamples, times_ns: list[int]) -> None:
        monitors[device.officer_id].on_imu(device, batch, times_ns)

    def on_activity(device: DeviceRef, summary: ActivitySummary) -> None:
        monitors[device.officer_id].on_activity(device, summary)

    def on_link(device: DeviceRef, state: LinkState) -> None:
        monitors[device.officer_id].on_link(device, state)

    manager = DeviceManager(
        refs,
        factory,
        submit,
        stale_after_s=config.link.stale_after_s,
        lost_after_s=config.link.lost_after_s,
        max_concurrent_connects=config.link.max_concurrent_connects,
        clock_ns=time.time_ns,
        monotonic=loop.time,
        on_link_change=on_link,
        on_broadcast=submit_broadcast,
        pool=[PROFILES[device.model] for device in config.pool],
        bindings=Bindings.open(config.bindings_path),
    )
    pipeline = Pipeline(
        outbox,
        monotonic=loop.time,
        observers=(manager.observe, live.observe, on_reading, evidence.observe),
        activity_observers=(live.observe_activity, on_activity),
        imu_observers=(on_imu,),
        pmd_streams=manager.pmd_stream,
        on_commit=deliveries.committed,
    )
    desk = _assignment_desk(
        config, store, held, manager, monitors=monitors, pipeline=pipeline, live=live, emit=emit
    )
    vehicle = (
        None
        if config.vehicle is None or track is None
        else VehiclePosition(
            config.vehicle.gpsd_host,
            config.vehicle.gpsd_port,
            {**unit.tags, "vehicle": config.vehicle_id},
            track,
            emit,
            clock_ns=time.time_ns,
            random=random.random,
        )
    )
    evidence_store = EvidenceStore(config.outbox.path.parent / "evidence", evidence)
    housekeeping = Housekeeping(outbox, evidence_store, monotonic=loop.time)
    status_rows = StatusRows(
        unit,
        [officer.id for officer in config.officers],
        outbox=outbox,
        manager=manager,
        pipeline=pipeline,
        engine=engine,
        deliveries=deliveries.loops,
        outbox_stats=lambda: housekeeping.stats,
        clock_ns=time.time_ns,
        monotonic=loop.time,
        gpsd=None if vehicle is None else vehicle.health,
    )
    alert_timers = AlertTimers(
        monitors.values(),
        engine,
        evidence_store,
        clock_ns=time.time_ns,
    )
    http, dispatch_http = _http_servers(
        config,
        monitoring_routes(
            _metrics(
                Observed(
                    pipeline, manager, deliveries.loops, lambda: housekeeping.stats, loop.time
                ),
                vehicle,
            ),
            lambda: intake_health(pipeline),
        ),
        _dispatch_routes(engine, desk, config.dispatch_api.secret(), pipeline.alerts_stored),
    )

    jobs = [
        Job("pipeline", pipeline.run, critical=True),
        Job("device-manager", manager.run, critical=True),
        Job("alert-timers", alert_timers.run, critical=True),
    ]
    for sink, delivery in zip(sinks, deliveries.loops, strict=True):
        jobs.append(Job(f"sink-{sink.name}", sink.run))
        jobs.append(Job(f"delivery-{sink.name}", delivery.run))
    jobs += [
        Job("housekeeping", housekeeping.run),
        Job("status-rows", status_rows.run),
        Job("http", http.run),
        Job("watchdog", SystemdWatchdog().run),
    ]
    if dispatch_http is not None:
        jobs.append(Job("dispatch-api", dispatch_http.run))
    if vehicle is not None:
        jobs.append(Job("vehicle-position", vehicle.run))
    if live_out is not None:
        view = LiveView(
            live_out,
            live,
            unit,
            manager=manager,
            pipeline=pipeline,
            monotonic=loop.time,
            vehicle=None if vehicle is None else (config.vehicle_id, vehicle),
        )
        jobs.append(Job("live-view", view.run))
    return Gateway(
        outbox=outbox,
        factory=factory,
        manager=manager,
        pipeline=pipeline,
        engine=engine,
        sinks=sinks,
        deliveries=deliveries.loops,
        status_rows=status_rows,
        http=http,
        dispatch_http=dispatch_http,
        jobs=jobs,
        assignments=desk,
        assignment_store=store,
        live=live,
    )


def _kept_assignments(config: GatewayConfig, store: AssignmentStore) -> list[Assignment]:
    """The stored assignments the configuration still allows; the others are ended, with a
    warning (a device taken out of the pool, an officer taken off the roster, since)."""
    pool = {device.id for device in config.pool}
    officers = {officer.id for officer in config.officers}
    kept = []
    for assignment in store.load():
        if assignment.device_id in pool and assignment.officer_id in officers:
            kept.append(assignment)
            continue
        logger.warning(
            "assignment of %s to %s ended: the device is no longer in the pool or the officer "
            "no longer configured",
            assignment.device_id, assignment.officer_id,
        )  # fmt: skip
        store.delete(assignment.device_id)
    return kept


def _dispatch_routes(
    engine: AlertEngine,
    desk: AssignmentDesk,
    token: str | None,
    alerts_stored: Callable[[], Awaitable[None]],
) -> list[web.RouteDef]:
    """The dispatch API: alerts and assignments, behind the one token (docs/security.md)."""
    return [
        *alert_routes(AlertApi(engine, token, alerts_stored)),
        *assignment_routes(AssignmentApi(desk, token)),
    ]


def _metrics(observed: Observed, vehicle: VehiclePosition | None) -> CollectorRegistry:
    """What /metrics shows, in a registry of its own (no global one): the gateway, and gpsd
    when the gateway reads one."""
    registry = CollectorRegistry()
    registry.register(GatewayCollector(observed))
    if vehicle is not None:
        registry.register(GpsdCollector(vehicle))
    return registry


def _roster(config: GatewayConfig) -> tuple[AssignmentStore, list[Assignment], list[DeviceRef]]:
    """The assignment store, the assignments kept from before a restart, and every device to
    connect: the configured roster's and the pool devices those assignments hold."""
    store = AssignmentStore(store_path(config.outbox.path))
    held = _kept_assignments(config, store)
    refs = config.device_refs() + [config.pool_ref(a.device_id, a.officer_id) for a in held]
    return store, held, refs


def _assignment_desk(
    config: GatewayConfig,
    store: AssignmentStore,
    held: list[Assignment],
    manager: DeviceManager,
    *,
    monitors: Mapping[str, OfficerMonitor],
    pipeline: Pipeline,
    live: LiveState,
    emit: Callable[[list[Point]], None],
) -> AssignmentDesk:
    """The desk for assignments at run time, and what follows a kit's change: the rules and the
    pipeline forget a released device's wearer (open alerts stay with the officer), the live
    view what the kit cannot detect."""

    def kit_changed(device: DeviceRef, joined: bool) -> None:
        officer = device.officer_id
        if not joined:
            monitors[officer].forget(device.device_id)
            pipeline.forget(device.device_id)
        kit = [m.ref for m in manager.devices.values() if m.ref.officer_id == officer]
        live.kit_changed(officer, gaps(kit))

    registry = AssignmentRegistry(
        [device.id for device in config.pool], [officer.id for officer in config.officers], held
    )
    return AssignmentDesk(
        config.unit_ref,
        registry,
        store,
        manager,
        config.pool_ref,
        emit=emit,
        clock_ns=time.time_ns,
        listeners=(kit_changed,),
    )
