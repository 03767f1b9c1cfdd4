"""The local HTTP endpoint's routes: Prometheus metrics, a health check and the dispatch API.

Metrics are read from the running objects at scrape time by one collector, registered in a
registry the composition root creates: no global registry, nothing for tests to patch. The
listener and its limits are in gateway/http_server.py.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.alerts.engine import AlertEngine, TransitionError
from gateway.alerts.model import Alert
from gateway.ble.link import LINK_STATE_CODES
from gateway.ble.manager import DeviceManager
from gateway.delivery import Delivery
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
        yield GaugeMetricFamily(
            "bluewatch_unknown_advertisers", "wearables heard but not on the roster",
            value=len(o.manager.unknown_advertisers),
        )  # fmt: skip
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
        latency = GaugeMetricFamily("bluewatch_sink_latency_seconds", "last batch", labels=["sink"])
        up = GaugeMetricFamily(
            "bluewatch_sink_up", "1 when the last attempt succeeded", labels=["sink"]
        )
        for delivery in self.observed.deliveries:
            name, c = [delivery.sink.name], delivery.counters
            delivered.add_metric(name, c.delivered)
            retries.add_metric(name, c.retries)
            quarantined.add_metric(name, c.quarantined)
            latency.add_metric(name, c.last_latency_s)
            up.add_metric(name, 1 if c.connected else 0)
        yield from (delivered, retries, quarantined, latency, up)
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
        for delivery in self.observed.deliveries:
            stats = delivery.sink.alert_delivery()
            if stats is None:
                continue
            sent.add_metric([delivery.sink.name], stats.sent)
            for quantile in (0.5, 0.99):
                value = stats.latency.percentile(quantile)
                if value is not None:
                    summary.add_metric([delivery.sink.name, str(quantile)], value)
        yield from (summary, sent)

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

    def __init__(self, engine: AlertEngine, token: str | None) -> None:
        self.engine = engine
        self._token = token

    def _authorised(self, request: web.Request) -> bool:
        if not self._token:
            return False
        # aiohttp decodes header bytes that are not UTF-8 as surrogates; encoding them back
        # the same way compares the bytes as sent instead of failing on them.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, f"Bearer {self._token}".encode())

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
        return web.json_response(_alert_json(alert))


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
