"""The local HTTP endpoint: Prometheus metrics and a health check (aiohttp, loopback by default).

Metrics are read from the running objects at scrape time by one collector, registered in a
registry the composition root creates: no global registry, nothing for tests to patch.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode())

    async def list_open(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        return web.json_response([_alert_json(alert) for alert in self.engine.open_alerts()])

    async def change(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorised"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        by = str(body.get("by") or "dispatch")
        alert_id, action = request.match_info["alert_id"], request.match_info["action"]
        try:
            if action == "acknowledge":
                alert = self.engine.acknowledge(alert_id, by)
            else:
                alert = self.engine.resolve(alert_id, str(body.get("reason") or "resolved"), by)
        except KeyError:
            return web.json_response({"error": f"no alert {alert_id}"}, status=404)
        except TransitionError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response(_alert_json(alert))


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


def make_app(
    registry: CollectorRegistry,
    healthy: Callable[[], tuple[bool, str]],
    alerts: AlertApi | None = None,
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), content_type="text/plain", charset="utf-8"
        )

    async def healthz(_: web.Request) -> web.Response:
        ok, detail = healthy()
        return web.json_response({"ok": ok, "detail": detail}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    if alerts is not None:
        app.router.add_get("/alerts", alerts.list_open)
        app.router.add_post(r"/alerts/{alert_id}/{action:acknowledge|resolve}", alerts.change)
    return app


class HttpServer:
    """Serves the app on the configured address until cancelled; `port` once it is bound."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._requested_port = port
        self.port: int | None = None

    async def run(self) -> None:
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
            # Port 0 asks the kernel for a free one: read back what was bound (tests, demos).
            address = runner.addresses[0]
            self.port = int(address[1])
            await asyncio.Event().wait()
        finally:
            self.port = None
            await runner.cleanup()
