"""The local HTTP endpoint's routes: Prometheus metrics, a health check and the dispatch API.

Metrics are read from the running objects at scrape time by one collector, registered in a
registry the composition root creates: no global registry, nothing for tests to patch. The
listener and its limits are in gateway/http_server.py.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.alerts.engine import AlertEngine, TransitionError
from gateway.alerts.model import Alert
from gateway.assignment_desk import AssignmentDesk
from gateway.assignments import (
    Assignment,
    AssignmentError,
    DeviceHeldError,
    NotAssignedError,
    UnknownDeviceError,
    UnknownOfficerError,
)
from gateway.ble.link import LINK_STATE_CODES
from gateway.ble.manager import DeviceManager
from gateway.delivery import Delivery
from gateway.domain import iso_utc
from gateway.jobs.vehicle_position import VehiclePosition
from gateway.outbox import OutboxStats
from gateway.pipeline import Pipeline


@dataclass
class Observed:
    """What the collector reads: the live objects and the latest outbox statistics."""

    pipeline: Pipeline
    manager: DeviceManager
    deliveries: Sequence[Delivery]
    outbox_stats: Callable[[], OutboxStats | None]
    monotonic: Callable[[], float]


class GatewayCollector(Collector):
    def __init__(self, observed: Observed) -> None:
        self.observed = observed

    def collect(self) -> Iterable[Metric]:
        o = self.observed
        counters = o.pipeline.counters
        for name, value, doc in (
            ("notifications_received", counters.received, "BLE notifications received"),
            ("readings_decoded", counters.decoded, "notifications decoded into readings"),
            ("intake_dropped", counters.dropped, "telemetry dropped because intake was full"),
            (
                "safety_events_rate_limited",
                counters.safety_events_rate_limited,
                "safety events dropped at intake, over their device's rate",
            ),
            (
                "safety_event_repeats",
                counters.safety_event_repeats,
                "safety events dropped as repeats of an event already taken",
            ),
            ("points_committed", counters.points_committed, "points committed to the outbox"),
        ):
            yield CounterMetricFamily(f"bluewatch_{name}", doc, value=value)
        errors = CounterMetricFamily(
            "bluewatch_decode_errors", "malformed notifications", labels=["kind"]
        )
        for kind, count in sorted(counters.decode_errors_by_kind.items()):
            errors.add_metric([kind], count)
        yield errors
        rr = CounterMetricFamily(
            "bluewatch_rr_rejected", "RR intervals refused as implausible", labels=["reason"]
        )
        for reason, count in sorted(counters.rr_rejected_by_reason.items()):
            rr.add_metric([reason], count)
        yield rr
        unused = CounterMetricFamily(
            "bluewatch_pmd_frames_unused", "PMD frames decoded but not used", labels=["reason"]
        )
        for reason, count in sorted(counters.pmd_frames_unused.items()):
            unused.add_metric([reason], count)
        yield unused
        yield GaugeMetricFamily(
            "bluewatch_intake_backlog", "notifications waiting", value=o.pipeline.backlog
        )
        yield from self._devices()
        yield from self._sinks()
        yield from self._outbox()

    def _devices(self) -> Iterable[Metric]:
        o = self.observed
        now = o.monotonic()
        labels = ["device", "officer", "model"]
        state = GaugeMetricFamily(
            "bluewatch_device_link_state",
            "0 connecting, 1 ok, 2 stale, 3 lost, 4 held elsewhere",
            labels=labels,
        )
        rssi = GaugeMetricFamily("bluewatch_device_rssi_dbm", "last advertised RSSI", labels=labels)
        rate = GaugeMetricFamily(
            "bluewatch_device_notification_rate_hz", "over 10 s", labels=labels
        )
        drift = GaugeMetricFamily(
            "bluewatch_device_clock_drift_ppm", "device clock error", labels=labels
        )
        reconnects = CounterMetricFamily(
            "bluewatch_device_reconnects", "reconnections", labels=labels
        )
        lost = CounterMetricFamily(
            "bluewatch_device_samples_lost", "IMU samples missed", labels=labels
        )
        pmd = CounterMetricFamily(
            "bluewatch_device_pmd_problems",
            "PMD error statuses and session problems, by name (docs/pmd.md)",
            labels=[*labels, "reason"],
        )
        for device_id, managed in o.manager.devices.items():
            values = [device_id, managed.ref.officer_id, managed.ref.model.value]
            health = managed.health
            state.add_metric(values, LINK_STATE_CODES[health.state(now)])
            if health.rssi_dbm is not None:
                rssi.add_metric(values, health.rssi_dbm)
            rate.add_metric(values, health.notification_rate_hz(now))
            if (ppm := health.clock_drift_ppm()) is not None:
                drift.add_metric(values, ppm)
            reconnects.add_metric(values, health.reconnects)
            lost.add_metric(values, health.samples_lost)
            for reason, count in sorted(managed.pmd_problems.items()):
                pmd.add_metric([*values, reason], count)
        yield from (state, rssi, rate, drift, reconnects, lost, pmd)
        strangers = o.manager.unknown_advertisers
        yield GaugeMetricFamily(
            "bluewatch_unknown_advertisers",
            "wearables heard but not on the roster (the most recent, at most a bounded number)",
            value=len(strangers),
        )
        yield CounterMetricFamily(
            "bluewatch_unknown_advertisers_heard",
            "addresses not on the roster first heard, or heard again once forgotten",
            value=strangers.heard,
        )
        yield CounterMetricFamily(
            "bluewatch_unknown_advertisers_evicted",
            "addresses not on the roster forgotten to keep the memory of them bounded",
            value=strangers.evicted,
        )
        spoofs = GaugeMetricFamily(
            "bluewatch_possible_spoofs",
            "advertisers posing as a bound roster device (its name at another address, or its "
            "address without its bond); never connected",
            labels=["device"],
        )
        for device_id, count in sorted(Counter(o.manager.possible_spoofs.values()).items()):
            spoofs.add_metric([device_id], count)
        yield spoofs
        yield from self._adapters()

    def _adapters(self) -> Iterable[Metric]:
        links = GaugeMetricFamily(
            "bluewatch_adapter_links", "links held (connecting or connected)", labels=["adapter"]
        )
        limit = GaugeMetricFamily(
            "bluewatch_adapter_link_limit", "links the adapter may hold", labels=["adapter"]
        )
        up = GaugeMetricFamily(
            "bluewatch_adapter_up", "1 while the adapter is present", labels=["adapter"]
        )
        for load in self.observed.manager.adapter_loads():
            links.add_metric([load.name], load.links)
            limit.add_metric([load.name], load.link_limit)
            up.add_metric([load.name], 1 if load.present else 0)
        yield from (links, limit, up)

    def _sinks(self) -> Iterable[Metric]:
        delivered = CounterMetricFamily(
            "bluewatch_sink_delivered", "points delivered", labels=["sink"]
        )
        retries = CounterMetricFamily("bluewatch_sink_retries", "failed attempts", labels=["sink"])
        quarantined = CounterMetricFamily(
            "bluewatch_sink_quarantined", "points refused", labels=["sink"]
        )
        full = CounterMetricFamily(
            "bluewatch_sink_outbox_full",
            "cursor moves or quarantines refused for a full disk (retried)",
            labels=["sink"],
        )
        latency = GaugeMetricFamily("bluewatch_sink_latency_seconds", "last batch", labels=["sink"])
        up = GaugeMetricFamily(
            "bluewatch_sink_up", "1 when the last attempt succeeded", labels=["sink"]
        )
        for delivery in self.observed.deliveries:
            name, c = [delivery.sink.name], delivery.counters
            delivered.add_metric(name, c.delivered)
            retries.add_metric(name, c.retries)
            quarantined.add_metric(name, c.quarantined)
            full.add_metric(name, c.outbox_full)
            latency.add_metric(name, c.last_latency_s)
            up.add_metric(name, 1 if c.connected else 0)
        yield from (delivered, retries, quarantined, full, latency, up)
        yield from self._alert_latency()

    def _alert_latency(self) -> Iterable[Metric]:
        """Alert state change to dispatch's 2xx, per webhook endpoint (recent window)."""
        summary = GaugeMetricFamily(
            "bluewatch_alert_delivery_latency_seconds",
            "from the alert state change to the endpoint's answer",
            labels=["sink", "quantile"],
        )
        sent = CounterMetricFamily(
            "bluewatch_alerts_sent", "alert changes delivered", labels=["sink"]
        )
        early = CounterMetricFamily(
            "bluewatch_alerts_sent_early",
            "of them, sent as raised, before their commit",
            labels=["sink"],
        )
        for delivery in self.observed.deliveries:
            stats = delivery.sink.alert_delivery()
            if stats is None:
                continue
            sent.add_metric([delivery.sink.name], stats.sent)
            early.add_metric([delivery.sink.name], stats.sent_early)
            for quantile in (0.5, 0.99):
                value = stats.latency.percentile(quantile)
                if value is not None:
                    summary.add_metric([delivery.sink.name, str(quantile)], value)
        yield from (summary, sent, early)

    def _outbox(self) -> Iterable[Metric]:
        stats = self.observed.outbox_stats()
        if stats is None:
            return
        yield GaugeMetricFamily("bluewatch_outbox_bytes", "outbox size on disk", value=stats.bytes)
        yield GaugeMetricFamily("bluewatch_outbox_rows", "points stored", value=stats.rows)
        pending = GaugeMetricFamily(
            "bluewatch_outbox_pending", "undelivered", labels=["sink", "lane"]
        )
        oldest = GaugeMetricFamily(
            "bluewatch_outbox_oldest_age_seconds",
            "age of the oldest undelivered",
            labels=["sink", "lane"],
        )
        for sink, lanes in stats.pending.items():
            for lane, lane_stats in lanes.items():
                pending.add_metric([sink, lane.name.lower()], lane_stats.pending)
                if lane_stats.oldest_age_s is not None:
                    oldest.add_metric([sink, lane.name.lower()], lane_stats.oldest_age_s)
        yield from (pending, oldest)


# How long an acknowledge or resolve waits for its alert row's commit before answering 503: a
# full outbox holds the row in memory and retries it (gateway/pipeline.py). Below the default
# request deadline (10 s), so the answer says what happened rather than that time ran out.
STORE_WAIT_S: Final = 5.0


class GpsdCollector(Collector):
    """The vehicle's gpsd: connected or not, the fix mode, the last fix's age, reconnections.

    Registered only with a `[vehicle]` section, so a gateway without one shows no gpsd at all
    rather than a gpsd that is forever down.
    """

    def __init__(self, vehicle: VehiclePosition) -> None:
        self.vehicle = vehicle

    def collect(self) -> Iterable[Metric]:
        health = self.vehicle.health
        tpv = self.vehicle.track.tpv
        yield GaugeMetricFamily(
            "bluewatch_gpsd_connected", "1 while connected to gpsd", value=int(health.connected)
        )
        yield GaugeMetricFamily(
            "bluewatch_gpsd_fix_mode",
            "the last TPV's mode: 0 nothing reported yet, 1 no fix, 2 2D, 3 3D",
            value=0 if tpv is None else int(tpv.mode),
        )
        if (age_s := self.vehicle.fix_age_s()) is not None:
            yield GaugeMetricFamily(
                "bluewatch_gpsd_fix_age_seconds",
                "since the last report with a position (a tunnel, a lost receiver)",
                value=age_s,
            )
        yield CounterMetricFamily(
            "bluewatch_gpsd_failures", "connections refused or lost", value=health.failures
        )
        yield CounterMetricFamily(
            "bluewatch_gpsd_reconnects", "connections made again after one was lost",
            value=health.reconnects,
        )  # fmt: skip


# Who acknowledged and why travel into the alert record, line protocol and CAP XML: printable
# text only (no control characters or line breaks), short enough for a dispatch console.
MAX_TEXT_CHARS: Final = 128


class BadRequestError(ValueError):
    """A request body the dispatch API cannot use; the message says what to send instead."""


class AlertApi:
    """Dispatch's side: list open alerts, acknowledge and resolve them, with a bearer token.

    Without a configured token the endpoints refuse everything: acknowledging an officer-down
    alarm must never be possible for anyone who merely reaches the port.
    """

    def __init__(
        self,
        engine: AlertEngine,
        token: str | None,
        stored: Callable[[], Awaitable[None]],
        *,
        store_wait_s: float = STORE_WAIT_S,
    ) -> None:
        """`stored` returns once every alert row emitted so far is committed to the outbox
        (Pipeline.alerts_stored): a change is answered only once its row is."""
        self.engine = engine
        self._token = token
        self._stored = stored
        self._store_wait_s = store_wait_s

    def _authorised(self, request: web.Request) -> bool:
        return _bears(request, self._token) if self._token else False

    async def list_open(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response([_alert_json(alert) for alert in self.engine.open_alerts()])

    async def change(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        try:
            body = _json_object(await request.read())
            by = _text(body, "by", "dispatch")
            reason = _text(body, "reason", "resolved")
        except BadRequestError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        alert_id, action = request.match_info["alert_id"], request.match_info["action"]
        try:
            if action == "acknowledge":
                alert = self.engine.acknowledge(alert_id, by)
            else:
                alert = self.engine.resolve(alert_id, reason, by)
        except KeyError:
            return web.json_response({"error": f"no alert {alert_id}"}, status=404)
        except TransitionError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        try:
            async with asyncio.timeout(self._store_wait_s):
                await self._stored()
        except TimeoutError:
            return web.json_response(
                {
                    "error": f"{action} recorded but not yet stored (the outbox is full); it is "
                    "retried and delivered once stored",
                    "alert": _alert_json(alert),
                },
                status=503,
            )
        return web.json_response(_alert_json(alert))


def _bears(request: web.Request, token: str) -> bool:
    """Whether the request's Authorization header is exactly `Bearer <token>`."""
    # aiohttp decodes header bytes that are not UTF-8 as surrogates; encoding them back the
    # same way compares the bytes as sent instead of failing on them.
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


# An assignment's refusal, by its kind: the answer's status (the message is the error's own).
REFUSALS: Final[Mapping[type[AssignmentError], int]] = {
    UnknownOfficerError: 404,
    UnknownDeviceError: 404,
    NotAssignedError: 404,
    DeviceHeldError: 409,
}
# A shift's kit is a handful of devices; a longer list is a mistake, not a kit.
MAX_DEVICES_PER_REQUEST: Final = 16


class AssignmentApi:
    """Devices of the pool assigned and released at run time, with the dispatch API's token.

    401: no `Authorization: Bearer` header, or not the token. 403: the gateway has no token
    configured, so nothing a client sends can be accepted. 404: no such officer or pool device,
    or a release of a device nobody holds. 409: the device is another officer's.
    """

    def __init__(self, desk: AssignmentDesk, token: str | None) -> None:
        self.desk = desk
        self._token = token

    def _refused(self, request: web.Request) -> web.Response | None:
        if not self._token:
            return web.json_response(
                {"error": "this gateway has no [dispatch_api] token: assignments are refused"},
                status=403,
            )
        if not _bears(request, self._token):
            return web.json_response(
                {"error": "unauthorised: send Authorization: Bearer <the dispatch API token>"},
                status=401,
            )
        return None

    async def list_held(self, request: web.Request) -> web.Response:
        if (refusal := self._refused(request)) is not None:
            return refusal
        return web.json_response([_assignment_json(a) for a in self.desk.held.values()])

    async def assign(self, request: web.Request) -> web.Response:
        if (refusal := self._refused(request)) is not None:
            return refusal
        try:
            body = _json_object(await request.read())
            officer = _required_text(body, "officer")
            devices = _device_list(body)
            by = _text(body, "by", "dispatch")
        except BadRequestError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            # Shielded: a client that hangs up must not leave a change half made (saved but
            # not connected, or released but still streaming).
            made = await asyncio.shield(self.desk.assign(officer, devices, by))
        except AssignmentError as exc:
            return web.json_response({"error": str(exc)}, status=REFUSALS[type(exc)])
        return web.json_response(
            {
                "assigned": [_assignment_json(a) for a in made],
                "held": [
                    _assignment_json(a) for a in self.desk.held.values() if a.officer_id == officer
                ],
            }
        )

    async def unassign(self, request: web.Request) -> web.Response:
        if (refusal := self._refused(request)) is not None:
            return refusal
        try:
            by = _text(_json_object(await request.read()), "by", "dispatch")
        except BadRequestError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            ended = await asyncio.shield(self.desk.unassign(request.match_info["device"], by))
        except AssignmentError as exc:
            return web.json_response({"error": str(exc)}, status=REFUSALS[type(exc)])
        return web.json_response({"unassigned": _assignment_json(ended)})


def _assignment_json(assignment: Assignment) -> dict[str, object]:
    return {
        "device": assignment.device_id,
        "officer": assignment.officer_id,
        "since": iso_utc(assignment.since_ns),
        "by": assignment.by,
    }


def _required_text(body: dict[str, object], key: str) -> str:
    value = _text(body, key, "")
    if not value:
        raise BadRequestError(f'{key} is required, e.g. {{"{key}": "officer-01"}}')
    return value


def _device_list(body: dict[str, object]) -> list[str]:
    value = body.get("devices")
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= MAX_DEVICES_PER_REQUEST
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise BadRequestError(
            f"devices must be a list of 1 to {MAX_DEVICES_PER_REQUEST} pool device ids, "
            'e.g. {"devices": ["h10-07"]}'
        )
    return [item for item in value if isinstance(item, str)]


def _json_object(raw: bytes) -> dict[str, object]:
    """The request body as a JSON object; an empty body is an empty object (nothing to say)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        body = None
    if not isinstance(body, dict):
        raise BadRequestError('the body must be a JSON object, e.g. {"by": "dispatcher-7"}')
    return body


def _text(body: dict[str, object], key: str, default: str) -> str:
    """`body[key]` if it is printable text of at most MAX_TEXT_CHARS; `default` when absent."""
    value = body.get(key)
    if value is None or value == "":
        return default
    if not (isinstance(value, str) and len(value) <= MAX_TEXT_CHARS and value.isprintable()):
        raise BadRequestError(
            f"{key} must be printable text (no control characters or line breaks) of at most "
            f"{MAX_TEXT_CHARS} characters"
        )
    return value


def _alert_json(alert: Alert) -> dict[str, object]:
    return {
        "alert_id": alert.alert_id,
        "officer": alert.officer_id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "reason": alert.reason,
        "sequence": alert.sequence,
        "acknowledged_by": alert.acknowledged_by,
    }


def monitoring_routes(
    registry: CollectorRegistry, healthy: Callable[[], tuple[bool, str]]
) -> list[web.RouteDef]:
    """`/metrics` and `/healthz`. Both name officers and devices (labels, the health detail):
    bind them where only the monitoring system reaches (docs/security.md)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), content_type="text/plain", charset="utf-8"
        )

    async def healthz(_: web.Request) -> web.Response:
        ok, detail = healthy()
        return web.json_response({"ok": ok, "detail": detail}, status=200 if ok else 503)

    return [web.get("/metrics", metrics), web.get("/healthz", healthz)]


def alert_routes(alerts: AlertApi) -> list[web.RouteDef]:
    """The dispatch API: `GET /alerts`, `POST /alerts/{id}/acknowledge|resolve`."""
    return [
        web.get("/alerts", alerts.list_open),
        web.post(r"/alerts/{alert_id}/{action:acknowledge|resolve}", alerts.change),
    ]


def assignment_routes(assignments: AssignmentApi) -> list[web.RouteDef]:
    """`GET /assignments`, `POST /assignments`, `DELETE /assignments/{device}`."""
    return [
        web.get("/assignments", assignments.list_held),
        web.post("/assignments", assignments.assign),
        web.delete("/assignments/{device}", assignments.unassign),
    ]
