"""Alert payloads for dispatch: JSON (docs/alert-webhook.schema.json) and CAP 1.2 XML.

Pure renderers of one alert state change (`AlertChange`): the same change gives the same bytes
on every resend, which is what lets a receiver de-duplicate by the Idempotency-Key and verify
the signature over the body.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from gateway.alerts.model import AlertState, Severity
from gateway.alerts.record import AlertChange
from gateway.domain import NS_PER_S

JSON_SCHEMA_ID: Final = "bluewatch.alert/1"
JSON_CONTENT_TYPE: Final = "application/json"
CAP_CONTENT_TYPE: Final = "application/cap+xml"
CAP_NAMESPACE: Final = "urn:oasis:names:tc:emergency:cap:1.2"

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
CAP_URGENCY_SEVERITY: Final[Mapping[Severity, tuple[str, str]]] = {
    Severity.CRITICAL: ("Immediate", "Extreme"),
    Severity.HIGH: ("Immediate", "Severe"),
    Severity.WARNING: ("Expected", "Moderate"),
    Severity.INFO: ("Future", "Minor"),
}
# Our state -> CAP certainty: a pre-alert still waits for the officer's "I'm OK"; a cancelled
# alert was a false alarm. Ended alerts take urgency "Past" (no responsive action needed).
CAP_CERTAINTY: Final[Mapping[AlertState, str]] = {
    AlertState.PRE_ALERT: "Likely",
    AlertState.ACTIVE: "Observed",
    AlertState.ACKNOWLEDGED: "Observed",
    AlertState.RESOLVED: "Observed",
    AlertState.CANCELLED: "Unlikely",
}
ENDED_STATES: Final = frozenset({AlertState.RESOLVED, AlertState.CANCELLED})


def _utc(ns: int) -> datetime:
    # Integer arithmetic: a float of nanoseconds since 1970 has no exact milliseconds left.
    seconds, remainder = divmod(ns, NS_PER_S)
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
        "severity": change.severity.value,
        "state": change.state.value,
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
    if change.state is AlertState.RESOLVED:
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
    _cap(info, "headline", f"{event}: {change.officer} ({change.state.value.replace('_', ' ')})")
    _cap(info, "description", change.reason)
    parameters = {
        "officer": change.officer,
        "device": change.device,
        "state": change.state.value,
        "severity": change.severity.value,
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
    elif change.state is AlertState.CANCELLED:
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


