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

Payloads: JSON described by docs/alert-webhook.schema.json, or CAP 1.2 XML (OASIS Common
Alerting Protocol) per endpoint. The contract for receivers is in docs/alerts.md.
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from gateway.delivery import DeliveryError, RejectedDeliveryError, RetryableDeliveryError
from gateway.dispatch import (
    IDEMPOTENCY_HEADER,
    check_secret,
    is_loopback,
    read_secret_file,
    sign_headers,
)
from gateway.outbox import FieldValue, Lane, Point, Stored
from gateway.sinks.influx import parse_retry_after
from gateway.tls import client_context

logger = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")

Severity = Literal["info", "warning", "high", "critical"]
SEVERITY_RANK: Final[Mapping[str, int]] = {"info": 0, "warning": 1, "high": 2, "critical": 3}
STATES: Final = frozenset({"pre_alert", "active", "acknowledged", "resolved", "cancelled"})
ALERT_MEASUREMENT: Final = "alert"
JSON_SCHEMA_ID: Final = "bluewatch.alert/1"
JSON_CONTENT_TYPE: Final = "application/json"
CAP_CONTENT_TYPE: Final = "application/cap+xml"
CAP_NAMESPACE: Final = "urn:oasis:names:tc:emergency:cap:1.2"
USER_AGENT: Final = "bluewatch-webhook/1"

# Ids travel into headers, CAP identifiers (CAP 1.2 3.2.1: no spaces, commas, "<" or "&") and
# log lines; the alphabets below keep all three safe.
SAFE_ID: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ALERT_ID: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
KIND: Final = r"^[a-z][a-z0-9_]{0,63}$"

# 408 Request Timeout (RFC 9110 15.5.9), 425 Too Early (RFC 8470 5.2) and 429 Too Many
# Requests (RFC 6585 4) are the 4xx codes that mean "later", not "never".
RETRYABLE_CLIENT_STATUSES: Final = frozenset({408, 425, 429})
# 401 and 403 (our signature or clock refused) and 404 (a wrong url) are faults of the
# configuration, not of one alert: every alert would be refused alike, so quarantining them one
# by one would lose them all. They are retried (loudly) and the alerts wait in the outbox, in
# order, until the fault is fixed, as the InfluxDB sink does. Receivers refuse an alert they
# cannot take with 400 or 422.
CONFIGURATION_STATUSES: Final = frozenset({401, 403, 404})
# A Retry-After of hours would hold an officer-safety alert for hours: honoured up to a minute
# (stricter than the delivery loop's cap for telemetry), then the loop's own backoff decides.
MAX_RETRY_AFTER_S: Final = 60.0
# Enough of an answer to hold a receiver's explanation, bounded against a misbehaving one.
MAX_ANSWER_BYTES: Final = 4096
# Outbox ids already handled, so a batch retried after a partial failure does not POST again
# what was answered 2xx; comfortably above batch_max so a whole batch fits.
HANDLED_MEMORY: Final = 2048
# Alerts seen lately: when each change happened (for CAP references) and whether the alert was
# sent to this endpoint (then its later changes follow, whatever their severity).
ALERT_MEMORY: Final = 10_000

# CAP 1.2 3.2.2 `event` text and `category` values (Security: law enforcement; Rescue: rescue
# and recovery; Health: medical) per alert kind. Unknown kinds are still delivered.
KIND_EVENTS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "officer_down": ("Officer down", ("Security", "Rescue")),
    "fall": ("Officer fall", ("Security", "Rescue")),
    "helmet_impact": ("Helmet impact", ("Security", "Rescue")),
    "heat_strain": ("Heat strain", ("Security", "Health")),
    "tachycardia": ("Abnormal heart rate (high)", ("Security", "Health")),
    "bradycardia": ("Abnormal heart rate (low)", ("Security", "Health")),
    "panic": ("Panic button", ("Security",)),
    "weapon_drawn": ("Weapon drawn", ("Security",)),
    "sensor_contact_lost": ("Sensor contact lost", ("Security",)),
    "device_lost": ("Wearable lost", ("Security",)),
    "low_battery": ("Wearable battery low", ("Security",)),
}
# Our severity -> CAP 1.2 3.2.2 urgency and severity (documented in docs/alerts.md).
CAP_URGENCY_SEVERITY: Final[Mapping[str, tuple[str, str]]] = {
    "critical": ("Immediate", "Extreme"),
    "high": ("Immediate", "Severe"),
    "warning": ("Expected", "Moderate"),
    "info": ("Future", "Minor"),
}
# Our state -> CAP certainty: a pre-alert still waits for the officer's "I'm OK"; a cancelled
# alert was a false alarm. Ended alerts take urgency "Past" (no responsive action needed).
CAP_CERTAINTY: Final[Mapping[str, str]] = {
    "pre_alert": "Likely",
    "active": "Observed",
    "acknowledged": "Observed",
    "resolved": "Observed",
    "cancelled": "Unlikely",
}
ENDED_STATES: Final = frozenset({"resolved", "cancelled"})


# --- the alert record -----------------------------------------------------------------------


class AlertRecordError(ValueError):
    """An alert point that does not follow the alert record; the message names the field."""


def _tag(tags: Mapping[str, str], name: str) -> str:
    value = tags.get(name)
    if not isinstance(value, str) or not re.fullmatch(SAFE_ID, value):
        raise AlertRecordError(f"tag {name!r} must be an id matching {SAFE_ID}, got {value!r}")
    return value


def _optional_tag(tags: Mapping[str, str], name: str) -> str | None:
    return None if tags.get(name) is None else _tag(tags, name)


def _text(fields: Mapping[str, FieldValue], name: str, pattern: str | None = None) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise AlertRecordError(f"field {name!r} must be a non-empty string, got {value!r}")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise AlertRecordError(f"field {name!r} must match {pattern}, got {value!r}")
    return value


def _optional_text(fields: Mapping[str, FieldValue], name: str) -> str | None:
    return None if fields.get(name) is None else _text(fields, name)


def _integer(fields: Mapping[str, FieldValue], name: str, minimum: int) -> int:
    value = fields.get(name)
    # bool is an int to Python, never to the record.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise AlertRecordError(f"field {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _degrees(fields: Mapping[str, FieldValue], name: str, limit: float) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or abs(value) > limit
    ):
        raise AlertRecordError(f"field {name!r} must be a number within ±{limit:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One alert state change as the alert engine records it (an `alert` point, lane ALERT)."""

    alert_id: str
    sequence: int
    kind: str
    severity: str
    state: str
    reason: str
    rule: str
    rule_version: str
    config_hash: str
    started_ns: int
    changed_ns: int
    agency: str
    unit: str
    officer: str
    device: str | None = None
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    evidence_id: str | None = None
    acknowledged_by: str | None = None

    @property
    def idempotency_key(self) -> str:
        """The same for every redelivery of this change, different for every other change."""
        return f"{self.alert_id}:{self.sequence}"

    @classmethod
    def from_point(cls, point: Point) -> AlertChange:
        """Read and check an alert point; AlertRecordError names the first bad field or tag."""
        fields, tags = point.fields, point.tags
        severity = _text(fields, "severity")
        if severity not in SEVERITY_RANK:
            raise AlertRecordError(
                f"field 'severity' must be one of {', '.join(SEVERITY_RANK)}, got {severity!r}"
            )
        state = _text(fields, "state")
        if state not in STATES:
            raise AlertRecordError(
                f"field 'state' must be one of {', '.join(sorted(STATES))}, got {state!r}"
            )
        latitude = _degrees(fields, "latitude_deg", 90.0)
        longitude = _degrees(fields, "longitude_deg", 180.0)
        if (latitude is None) != (longitude is None):
            raise AlertRecordError("fields 'latitude_deg' and 'longitude_deg' come together")
        return cls(
            alert_id=_text(fields, "alert_id", ALERT_ID),
            sequence=_integer(fields, "sequence", 1),
            kind=_text(fields, "kind", KIND),
            severity=severity,
            state=state,
            reason=_text(fields, "reason"),
            rule=_text(fields, "rule"),
            rule_version=_text(fields, "rule_version"),
            config_hash=_text(fields, "config_hash"),
            started_ns=_integer(fields, "started_ns", 0),
            changed_ns=point.time_ns,
            agency=_tag(tags, "agency"),
            unit=_tag(tags, "unit"),
            officer=_tag(tags, "officer"),
            device=_optional_tag(tags, "device"),
            latitude_deg=latitude,
            longitude_deg=longitude,
            evidence_id=_optional_text(fields, "evidence_id"),
            acknowledged_by=_optional_text(fields, "acknowledged_by"),
        )


# --- payloads -------------------------------------------------------------------------------


def _utc(ns: int) -> datetime:
    # Integer arithmetic: a float of nanoseconds since 1970 has no exact milliseconds left.
    seconds, remainder = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=remainder // 1000)


def iso_utc(ns: int) -> str:
    """RFC 3339 UTC with milliseconds, as the rest of the gateway writes times."""
    return _utc(ns).isoformat(timespec="milliseconds")


def cap_datetime(ns: int) -> str:
    """CAP 1.2 3.3.2 dateTime: whole seconds and an explicit offset, "-00:00" for UTC ("Z" is
    not allowed)."""
    return _utc(ns).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def render_json(change: AlertChange) -> bytes:
    """The JSON body (docs/alert-webhook.schema.json), UTF-8, the same bytes on every resend."""
    location = None
    if change.latitude_deg is not None and change.longitude_deg is not None:
        location = {"latitude_deg": change.latitude_deg, "longitude_deg": change.longitude_deg}
    payload = {
        "schema": JSON_SCHEMA_ID,
        "alert_id": change.alert_id,
        "sequence": change.sequence,
        "idempotency_key": change.idempotency_key,
        "kind": change.kind,
        "severity": change.severity,
        "state": change.state,
        "reason": change.reason,
        "agency": change.agency,
        "unit": change.unit,
        "officer": change.officer,
        "device": change.device,
        "location": location,
        "started_at": iso_utc(change.started_ns),
        "changed_at": iso_utc(change.changed_ns),
        "rule": {"name": change.rule, "version": change.rule_version},
        "config_hash": change.config_hash,
        "evidence_id": change.evidence_id,
        "acknowledged_by": change.acknowledged_by,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class CapOptions:
    """What CAP needs beyond the record: who sends it and who may see it."""

    sender: str | None = None  # None: "bluewatch.<agency>.<unit>"
    restriction: str = "Officer safety alert: for authorized dispatch personnel only."
    radius_km: float = 0.05


def _cap(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
    element.text = text
    return element


def _cap_info(info: ET.Element, change: AlertChange, options: CapOptions) -> None:
    """The `<info>` block (CAP 1.2 3.2.2): what happened, how bad, to whom, where."""
    event, categories = KIND_EVENTS.get(change.kind, (change.kind.replace("_", " "), ("Security",)))
    for category in categories:
        _cap(info, "category", category)
    _cap(info, "event", event)
    if change.state == "resolved":
        _cap(info, "responseType", "AllClear")
    urgency, severity = CAP_URGENCY_SEVERITY[change.severity]
    _cap(info, "urgency", "Past" if change.state in ENDED_STATES else urgency)
    _cap(info, "severity", severity)
    _cap(info, "certainty", CAP_CERTAINTY[change.state])
    code = _cap(info, "eventCode")
    _cap(code, "valueName", "bluewatch:kind")
    _cap(code, "value", change.kind)
    _cap(info, "onset", cap_datetime(change.started_ns))
    _cap(info, "senderName", f"Bluewatch gateway, {change.agency} {change.unit}")
    _cap(info, "headline", f"{event}: {change.officer} ({change.state.replace('_', ' ')})")
    _cap(info, "description", change.reason)
    parameters = {
        "officer": change.officer,
        "device": change.device,
        "state": change.state,
        "severity": change.severity,
        "sequence": str(change.sequence),
        "rule": change.rule,
        "rule_version": change.rule_version,
        "config_hash": change.config_hash,
        "evidence_id": change.evidence_id,
        "acknowledged_by": change.acknowledged_by,
    }
    for name, value in parameters.items():
        if value is not None:
            parameter = _cap(info, "parameter")
            _cap(parameter, "valueName", f"bluewatch:{name}")
            _cap(parameter, "value", value)
    if change.latitude_deg is not None and change.longitude_deg is not None:
        area = _cap(info, "area")
        _cap(area, "areaDesc", f"Last known position of {change.officer}")
        # CAP 1.2 3.2.4 circle: "lat,lon radius", WGS 84 degrees and kilometres.
        point = f"{change.latitude_deg:.6f},{change.longitude_deg:.6f}"
        _cap(area, "circle", f"{point} {options.radius_km:g}")


def render_cap(change: AlertChange, options: CapOptions, previous_ns: int | None = None) -> bytes:
    """A CAP 1.2 `<alert>` for one state change, elements in the XSD's sequence order.

    msgType is Alert for the first change, Update after it and Cancel for a cancelled alert
    (CAP 1.2 3.2.1). An update references the previous change (`sequence` - 1), whose time
    `previous_ns` the caller knows when it saw that change; without it (after a restart) it
    references the alert's first message, dated by `started_ns`, the best time the record holds.
    """
    sender = options.sender or f"bluewatch.{change.agency}.{change.unit}"
    first = change.sequence == 1
    if first:
        msg_type = "Alert"  # a Cancel must reference something, so a first message never is
    elif change.state == "cancelled":
        msg_type = "Cancel"
    else:
        msg_type = "Update"
    alert = ET.Element(f"{{{CAP_NAMESPACE}}}alert")
    _cap(alert, "identifier", change.idempotency_key)
    _cap(alert, "sender", sender)
    _cap(alert, "sent", cap_datetime(change.changed_ns))
    _cap(alert, "status", "Actual")
    _cap(alert, "msgType", msg_type)
    _cap(alert, "scope", "Restricted")
    _cap(alert, "restriction", options.restriction)
    if not first:
        # CAP 1.2 3.2.1 references: "sender,identifier,sent" of the earlier message.
        if previous_ns is None:
            earlier, earlier_ns = f"{change.alert_id}:1", change.started_ns
        else:
            earlier, earlier_ns = f"{change.alert_id}:{change.sequence - 1}", previous_ns
        _cap(alert, "references", f"{sender},{earlier},{cap_datetime(earlier_ns)}")
    _cap(alert, "incidents", change.alert_id)

    _cap_info(_cap(alert, "info"), change, options)
    document: bytes = ET.tostring(
        alert, encoding="UTF-8", xml_declaration=True, default_namespace=CAP_NAMESPACE
    )
    return document


# --- settings -------------------------------------------------------------------------------


class WebhookEndpoint(BaseModel):
    """`[[webhooks]]`: one dispatch endpoint, its signing secret and what it receives."""

    # hide_input_in_errors: a refused value may be the secret itself.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: Annotated[str, StringConstraints(pattern=SAFE_ID)]
    url: str
    secret: SecretStr | None = None
    secret_file: FilePath | None = None
    min_severity: Severity = "high"
    format: Literal["json", "cap"] = "json"
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    verify_tls: bool = True
    ca_file: FilePath | None = None
    cap_sender: str | None = Field(default=None, pattern=r"^[^\s,<&]{1,200}$")
    cap_restriction: str = Field(default=CapOptions.restriction, min_length=1, max_length=500)
    cap_radius_km: float = Field(default=CapOptions.radius_km, gt=0, le=100)

    @field_validator("url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be https:// followed by a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not carry credentials (requests are signed instead)")
        if parts.fragment:
            raise ValueError("url must not have a fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(
                "url must use https:// (alerts carry officers' locations); plain http:// is "
                "allowed only for a loopback host: localhost, 127.0.0.1 or ::1"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_secret(value.get_secret_value().encode(), "secret")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if (self.secret is None) == (self.secret_file is None):
            raise ValueError("give exactly one of secret and secret_file")
        return self

    def signing_secret(self) -> bytes:
        """The HMAC key: inline, or read from `secret_file` now (SecretError names the file)."""
        if self.secret_file is not None:
            return read_secret_file(self.secret_file)
        assert self.secret is not None  # _one_secret
        return self.secret.get_secret_value().encode()

    def ssl_context(self) -> ssl.SSLContext:
        """Verification on unless turned off; the CA file, when given, replaces the system's."""
        return client_context(self.ca_file, self.verify_tls)

    def cap_options(self) -> CapOptions:
        return CapOptions(self.cap_sender, self.cap_restriction, self.cap_radius_km)


# --- answers --------------------------------------------------------------------------------


def classify(
    status: int, text: str, *, target: str, key: str, retry_after_s: float | None = None
) -> DeliveryError | None:
    """None for a 2xx; otherwise the delivery error for this status, by its code alone."""
    if 200 <= status < 300:
        return None
    message = text.strip()[:MAX_ANSWER_BYTES] or "(no text)"
    wait = None if retry_after_s is None else min(retry_after_s, MAX_RETRY_AFTER_S)
    if status in CONFIGURATION_STATUSES:
        return RetryableDeliveryError(
            f"{target} answered HTTP {status} for {key}; check the webhook's url and shared "
            f"secret, and this computer's clock: {message}",
            wait,
        )
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES:
        return RejectedDeliveryError(f"{target} refused {key} with HTTP {status}: {message}")
    if 300 <= status < 400:
        return RetryableDeliveryError(
            f"{target} answered HTTP {status} for {key}; redirects are not followed, so set the "
            "endpoint's url to the new address",
            wait,
        )
    return RetryableDeliveryError(f"{target} answered HTTP {status} for {key}: {message}", wait)


class LatencyWindow:
    """The last `size` delivery latencies (seconds), for the latest value and percentiles."""

    def __init__(self, size: int = 256) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.last_s: float | None = None
        self.count = 0

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.last_s = seconds
        self.count += 1

    def percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile (`fraction` in [0, 1]) over the window; None when empty."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {fraction}")
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class WebhookCounters:
    """What the metrics read: requests answered 2xx, points skipped, failures and latency."""

    sent: int = 0
    skipped: int = 0
    failures: int = 0
    refused: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(4096):
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


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


class WebhookSink:
    """A delivery sink that POSTs alert state changes to one dispatch endpoint, one at a time."""

    # Alerts are read first and sent one by one; the rest of a batch (telemetry) is skipped,
    # so a large batch only makes skipping cheap.
    batch_max = 500
    # Dispatch receives alerts only: the delivery loop never reads telemetry for this sink.
    lanes = (Lane.ALERT,)
    # Never wait for a batch to fill: a loop lingering on telemetry notices a new alert only
    # when woken, and an alert must not wait.
    linger_s = 0.0

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
        self._threshold = SEVERITY_RANK[endpoint.min_severity]
        self._clock_ns = wall_clock_ns
        self._session: aiohttp.ClientSession | None = None
        self._handled: OrderedDict[int, None] = OrderedDict()
        self._alerts: OrderedDict[str, _Seen] = OrderedDict()
        self.counters = WebhookCounters(latency=LatencyWindow(latency_window))
        parts = urlsplit(endpoint.url)
        # Never the query: it is the one part of a URL that might hold a token.
        self.target = f"webhook {endpoint.name} ({parts.scheme}://{parts.netloc}{parts.path})"

    def __repr__(self) -> str:
        return f"WebhookSink({self.target}, min_severity={self.endpoint.min_severity})"

    def _wanted(self, item: Stored) -> tuple[AlertChange, _Seen] | None:
        """The change to send for `item` and what is known of its alert; None to skip it."""
        point = item.point
        if point.lane is not Lane.ALERT or point.measurement != ALERT_MEASUREMENT:
            return None
        try:
            change = AlertChange.from_point(point)
        except AlertRecordError as exc:
            self.counters.refused += 1
            raise RejectedDeliveryError(f"{self.name}: alert point {item.id}: {exc}") from exc
        seen = self._alerts.get(change.alert_id) or _Seen()
        seen.changed_ns[change.sequence] = change.changed_ns
        _remember(self._alerts, change.alert_id, seen, ALERT_MEMORY)
        # Once an alert reached this endpoint, its acknowledgement, resolution or cancellation
        # must reach it too, even should that change carry a lower severity.
        if seen.sent or SEVERITY_RANK[change.severity] >= self._threshold:
            return change, seen
        return None

    async def deliver(self, batch: Sequence[Stored]) -> None:
        """POST each wanted alert change in order; raise on the first that is not delivered."""
        for item in batch:
            if item.id in self._handled:  # answered 2xx before a later one in the batch failed
                continue
            wanted = self._wanted(item)
            if wanted is None:
                self.counters.skipped += 1
            else:
                change, seen = wanted
                await self._post(change)
                seen.sent = True
            _remember(self._handled, item.id, None, HANDLED_MEMORY)

    def render(self, change: AlertChange) -> tuple[bytes, str]:
        """Body and content type in this endpoint's format."""
        if self.endpoint.format == "cap":
            seen = self._alerts.get(change.alert_id)
            previous = None if seen is None else seen.changed_ns.get(change.sequence - 1)
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
            **sign_headers(self._secret, self._clock_ns() // 1_000_000_000, body),
        }
        try:
            async with self._open().post(
                self.endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                # Read the answer either way: a connection left with unread bytes is not reused.
                text = (await _read_bounded(response, MAX_ANSWER_BYTES)).decode("utf-8", "replace")
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.counters.failures += 1
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {self.endpoint.timeout_s:g} s"
            else:
                reason = f"{type(exc).__name__}: {exc}"
            raise RetryableDeliveryError(f"{self.target}: {key}: {reason}") from exc
        error = classify(
            status,
            text,
            target=self.target,
            key=key,
            retry_after_s=parse_retry_after(retry_after, now_epoch_s=self._clock_ns() / 1e9),
        )
        if error is None:
            self.counters.sent += 1
            self.counters.latency.add((self._clock_ns() - change.changed_ns) / 1e9)
            logger.debug("%s: %s delivered (HTTP %d)", self.name, key, status)
            return
        if isinstance(error, RejectedDeliveryError):
            self.counters.refused += 1
        else:
            self.counters.failures += 1
        raise error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
