"""Alerts to dispatch: one signed HTTPS POST per alert state change, in order, from the outbox.

One `WebhookSink` per configured endpoint. It reads the outbox like every sink (alerts first),
skips what is not an alert or is below the endpoint's `min_severity` (skipped points count as
delivered), and POSTs each alert state change on its own, waiting for the answer before the
next: the outbox holds alerts in commit order, so each officer's changes arrive in order.

Every request carries `Idempotency-Key: <alert_id>:<sequence>` and is signed as described in
gateway/dispatch.py (Stripe-style HMAC-SHA256 over the timestamp and the body). Delivery is at
least once: a receiver must drop a key it has already handled. The answer decides what
happens next, by status code and exception type only:

- 2xx: delivered.
- 408, 425, 429, 5xx, timeouts, refused, reset or failed connections: retried (Retry-After
  honoured, up to a minute).
- 401, 403, 404: retried. The receiver refused our signature or our clock, or the url is
  wrong: every alert would fail alike, and quarantining them one by one would lose them all.
- 3xx: retried. Redirects are not followed: a signed alert goes only where it was configured.
- Any other 4xx: refused; the delivery loop quarantines that alert with the receiver's text.
(gateway/sinks/http_outcome.py decides, with WEBHOOK_OUTCOMES.)

Payloads (gateway/sinks/alert_payloads.py): JSON described by docs/alert-webhook.schema.json,
or CAP 1.2 XML (OASIS Common Alerting Protocol) per endpoint. The contract for receivers is in
docs/alerts.md.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

import aiohttp

from gateway.alerts.record import AlertChange, AlertRecordError
from gateway.dispatch import IDEMPOTENCY_HEADER, sign_headers
from gateway.domain import ALERT, NS_PER_S, Lane, Point
from gateway.latency import LatencyWindow
from gateway.outbox import Stored
from gateway.sinks.alert_payloads import (
    CAP_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    render_cap,
    render_json,
)
from gateway.sinks.errors import RejectedDeliveryError
from gateway.sinks.http_outcome import (
    OutcomePolicy,
    outcome,
    parse_retry_after,
    read_bounded,
    transport_error,
)
from gateway.sinks.sink import AlertDeliveryStats, Sink
from gateway.sinks.webhook_settings import WebhookEndpoint

logger = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

USER_AGENT: Final = "bluewatch-webhook/1"
# A Retry-After of hours would hold an officer-safety alert for hours: honoured up to a minute
# (stricter than for telemetry), then the delivery loop's own backoff decides.
WEBHOOK_OUTCOMES: Final = OutcomePolicy(
    retry_after_cap_s=60.0,
    configuration_hint="check the webhook's url and shared secret, and this computer's clock",
)
# Enough of an answer to hold a receiver's explanation, bounded against a misbehaving one.
MAX_ANSWER_BYTES: Final = 4096
# Outbox ids already handled, so a batch retried after a partial failure does not POST again
# what was answered 2xx; comfortably above batch_max so a whole batch fits.
HANDLED_MEMORY: Final = 2048
# Changes sent before their commit (`deliver_early`), by idempotency key, until their committed
# rows come: seconds later, unless the commit waits for a full disk to make room.
EARLY_MEMORY: Final = 2048
# Alerts seen lately: when each change happened (for CAP references) and whether the alert was
# sent to this endpoint (then its later changes follow, whatever their severity).
ALERT_MEMORY: Final = 10_000


@dataclass
class WebhookCounters(AlertDeliveryStats):
    """What the metrics read: requests answered 2xx, points skipped, failures and latency."""

    skipped: int = 0
    failures: int = 0
    refused: int = 0


def _remember(memory: OrderedDict[K, V], key: K, value: V, size: int) -> None:
    """Store `key` as the newest entry, forgetting the oldest beyond `size`."""
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > size:
        memory.popitem(last=False)


# --- the sink -------------------------------------------------------------------------------


@dataclass
class _Seen:
    """What this sink knows of one alert: when each change happened, and if it sent any."""

    changed_ns: dict[int, int] = field(default_factory=dict)
    sent: bool = False


class WebhookSink(Sink):
    """A delivery sink that POSTs alert state changes to one dispatch endpoint, one at a time."""

    # Alerts are read first and sent one by one; the rest of a batch (telemetry) is skipped,
    # so a large batch only makes skipping cheap.
    batch_max = 500
    # Dispatch receives alerts only: the delivery loop never reads telemetry for this sink.
    lanes = (Lane.ALERT,)
    # Never wait for a batch to fill: a loop lingering on telemetry notices a new alert only
    # when woken, and an alert must not wait.
    linger_s = 0.0
    # Each change is sent as it is raised, while it is committed (gateway/early_alerts.py).
    sends_early = True

    def __init__(
        self,
        endpoint: WebhookEndpoint,
        *,
        wall_clock_ns: Callable[[], int] = time.time_ns,
        latency_window: int = 256,
    ) -> None:
        self.endpoint = endpoint
        self.name = f"webhook-{endpoint.name}"
        self._secret = endpoint.signing_secret()  # here, so a bad secret file fails at startup
        self._ssl = endpoint.ssl_context()
        self._cap = endpoint.cap_options()
        self._threshold = endpoint.min_severity.rank
        self._clock_ns = wall_clock_ns
        self._session: aiohttp.ClientSession | None = None
        self._handled: OrderedDict[int, None] = OrderedDict()
        self._sent_early: OrderedDict[str, None] = OrderedDict()
        self._alerts: OrderedDict[str, _Seen] = OrderedDict()
        self.counters = WebhookCounters(latency=LatencyWindow(latency_window))
        self.target = f"webhook {endpoint.name} ({endpoint.shown_url()})"

    def __repr__(self) -> str:
        return f"WebhookSink({self.target}, min_severity={self.endpoint.min_severity})"

    def _wanted(self, point: Point, where: str) -> tuple[AlertChange, _Seen] | None:
        """The change to send for `point` and what is known of its alert; None to skip it.
        `where` names the point in an error (its outbox id, or "raised")."""
        if point.lane is not Lane.ALERT or point.measurement != ALERT.name:
            return None
        try:
            change = AlertChange.from_point(point)
        except AlertRecordError as exc:
            self.counters.refused += 1
            raise RejectedDeliveryError(f"{self.name}: alert point {where}: {exc}") from exc
        seen = self._alerts.get(change.alert.alert_id) or _Seen()
        seen.changed_ns[change.alert.sequence] = change.alert.changed_ns
        _remember(self._alerts, change.alert.alert_id, seen, ALERT_MEMORY)
        # Once an alert reached this endpoint, its acknowledgement, resolution or cancellation
        # must reach it too, even should that change carry a lower severity.
        if seen.sent or change.alert.severity.rank >= self._threshold:
            return change, seen
        return None

    async def deliver(self, batch: Sequence[Stored]) -> None:
        """POST each wanted alert change in order; raise on the first that is not delivered."""
        for item in batch:
            if item.id in self._handled:  # answered 2xx before a later one in the batch failed
                continue
            wanted = self._wanted(item.point, str(item.id))
            if wanted is None:
                self.counters.skipped += 1
            elif wanted[0].idempotency_key in self._sent_early:
                del self._sent_early[wanted[0].idempotency_key]  # this is its committed row
            else:
                change, seen = wanted
                await self._post(change)
                seen.sent = True
            _remember(self._handled, item.id, None, HANDLED_MEMORY)

    async def deliver_early(self, points: Sequence[Point]) -> None:
        """POST each wanted change as it is raised, in order; remember each one sent, so that
        `deliver` knows its committed row."""
        for point in points:
            wanted = self._wanted(point, "raised")
            if wanted is None:
                continue  # its committed row is skipped (and counted) by `deliver`
            change, seen = wanted
            await self._post(change)
            seen.sent = True
            self.counters.sent_early += 1
            _remember(self._sent_early, change.idempotency_key, None, EARLY_MEMORY)

    def render(self, change: AlertChange) -> tuple[bytes, str]:
        """Body and content type in this endpoint's format."""
        if self.endpoint.format == "cap":
            seen = self._alerts.get(change.alert.alert_id)
            previous = None if seen is None else seen.changed_ns.get(change.alert.sequence - 1)
            return render_cap(change, self._cap, previous), CAP_CONTENT_TYPE
        return render_json(change), JSON_CONTENT_TYPE

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.endpoint.timeout_s),
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                cookie_jar=aiohttp.DummyCookieJar(),  # nothing a receiver sets is sent back
            )
        return self._session

    async def _post(self, change: AlertChange) -> None:
        body, content_type = self.render(change)
        key = change.idempotency_key
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            IDEMPOTENCY_HEADER: key,
            **sign_headers(self._secret, self._clock_ns() // NS_PER_S, body),
        }
        target = f"{self.target}: {key}"
        try:
            async with self._open().post(
                self.endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                # Read the answer either way: a connection left with unread bytes is not reused.
                answer = await read_bounded(response.content.iter_chunked(4096), MAX_ANSWER_BYTES)
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.counters.failures += 1
            raise transport_error(target, exc, self.endpoint.timeout_s) from exc
        error = outcome(
            status,
            answer.decode("utf-8", "replace"),
            target=target,
            policy=WEBHOOK_OUTCOMES,
            retry_after_s=parse_retry_after(retry_after, now_epoch_s=self._clock_ns() / NS_PER_S),
        )
        if error is None:
            self.counters.sent += 1
            self.counters.latency.add((self._clock_ns() - change.alert.changed_ns) / NS_PER_S)
            logger.debug("%s: %s delivered (HTTP %d)", self.name, key, status)
            return
        if isinstance(error, RejectedDeliveryError):
            self.counters.refused += 1
        else:
            self.counters.failures += 1
        raise error

    def alert_delivery(self) -> AlertDeliveryStats:
        return self.counters

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
