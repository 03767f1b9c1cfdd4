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
from typing import Final

from gateway.alerts.model import AlertKind, AlertState, Severity
from gateway.alerts.record import AlertChange
from gateway.domain import iso_utc, utc_datetime

JSON_SCHEMA_ID: Final = "bluewatch.alert/1"
JSON_CONTENT_TYPE: Final = "application/json"
CAP_CONTENT_TYPE: Final = "application/cap+xml"
CAP_NAMESPACE: Final = "urn:oasis:names:tc:emergency:cap:1.2"

# CAP 1.2 3.2.2 `event` text and `category` values (Security: law enforcement; Rescue: rescue
# and recovery; Health: medical) per alert kind. Unknown kinds are still delivered.
KIND_EVENTS: Final[Mapping[AlertKind, tuple[str, tuple[str, ...]]]] = {
    AlertKind.OFFICER_DOWN: ("Officer down", ("Security", "Rescue")),
    AlertKind.FALL: ("Officer fall", ("Security", "Rescue")),
    AlertKind.HELMET_IMPACT: ("Helmet impact", ("Security", "Rescue")),
    AlertKind.HEAT_STRAIN: ("Heat strain", ("Security", "Health")),
    AlertKind.TACHYCARDIA: ("Abnormal heart rate (high)", ("Security", "Health")),
    AlertKind.BRADYCARDIA: ("Abnormal heart rate (low)", ("Security", "Health")),
    AlertKind.PANIC: ("Panic button", ("Security",)),
    AlertKind.WEAPON_DRAWN: ("Weapon drawn", ("Security",)),
    AlertKind.SENSOR_CONTACT_LOST: ("Sensor contact lost", ("Security",)),
    AlertKind.DEVICE_LOST: ("Wearable lost", ("Security",)),
    AlertKind.LOW_BATTERY: ("Wearable battery low", ("Security",)),
    AlertKind.OFFICER_LEFT_VEHICLE: ("Officer left vehicle", ("Security",)),
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


def cap_datetime(ns: int) -> str:
    """CAP 1.2 3.3.2 dateTime: whole seconds and an explicit offset, "-00:00" for UTC ("Z" is
    not allowed)."""
    return utc_datetime(ns).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def render_json(change: AlertChange) -> bytes:
    """The JSON body (docs/alert-webhook.schema.json), UTF-8, the same bytes on every resend."""
    alert = change.alert
    location = None
    if alert.latitude_deg is not None and alert.longitude_deg is not None:
        location = {"latitude_deg": alert.latitude_deg, "longitude_deg": alert.longitude_deg}
    payload = {
        "schema": JSON_SCHEMA_ID,
        "alert_id": alert.alert_id,
        "sequence": alert.sequence,
        "idempotency_key": change.idempotency_key,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "reason": alert.reason,
        "agency": change.unit.agency,
        "unit": change.unit.unit,
        "officer": alert.officer_id,
        "device": alert.device_id,
        "location": location,
        "started_at": iso_utc(alert.started_ns),
        "changed_at": iso_utc(alert.changed_ns),
        "rule": {"name": alert.rule, "version": alert.rule_version},
        "config_hash": alert.config_hash,
        "evidence_id": alert.evidence_id,
        "acknowledged_by": alert.acknowledged_by,
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
    alert = change.alert
    # A kind this gateway does not know still reaches dispatch, named from its own text.
    fallback = (alert.kind.value.replace("_", " "), ("Security",))
    event, categories = KIND_EVENTS.get(alert.kind, fallback)
    for category in categories:
        _cap(info, "category", category)
    _cap(info, "event", event)
    if alert.state is AlertState.RESOLVED:
        _cap(info, "responseType", "AllClear")
    urgency, severity = CAP_URGENCY_SEVERITY[alert.severity]
    _cap(info, "urgency", "Past" if alert.state in ENDED_STATES else urgency)
    _cap(info, "severity", severity)
    _cap(info, "certainty", CAP_CERTAINTY[alert.state])
    code = _cap(info, "eventCode")
    _cap(code, "valueName", "bluewatch:kind")
    _cap(code, "value", alert.kind.value)
    _cap(info, "onset", cap_datetime(alert.started_ns))
    _cap(info, "senderName", f"Bluewatch gateway, {change.unit.agency} {change.unit.unit}")
    _cap(info, "headline", f"{event}: {alert.officer_id} ({alert.state.value.replace('_', ' ')})")
    _cap(info, "description", alert.reason)
    parameters = {
        "officer": alert.officer_id,
        "device": alert.device_id,
        "state": alert.state.value,
        "severity": alert.severity.value,
        "sequence": str(alert.sequence),
        "rule": alert.rule,
        "rule_version": alert.rule_version,
        "config_hash": alert.config_hash,
        "evidence_id": alert.evidence_id,
        "acknowledged_by": alert.acknowledged_by,
    }
    for name, value in parameters.items():
        if value is not None:
            parameter = _cap(info, "parameter")
            _cap(parameter, "valueName", f"bluewatch:{name}")
            _cap(parameter, "value", value)
    if alert.latitude_deg is not None and alert.longitude_deg is not None:
        area = _cap(info, "area")
        _cap(area, "areaDesc", f"Last known position of {alert.officer_id}")
        # CAP 1.2 3.2.4 circle: "lat,lon radius", WGS 84 degrees and kilometres.
        point = f"{alert.latitude_deg:.6f},{alert.longitude_deg:.6f}"
        _cap(area, "circle", f"{point} {options.radius_km:g}")


def render_cap(change: AlertChange, options: CapOptions, previous_ns: int | None = None) -> bytes:
    """A CAP 1.2 `<alert>` for one state change, elements in the XSD's sequence order.

    msgType is Alert for the first change, Update after it and Cancel for a cancelled alert
    (CAP 1.2 3.2.1). An update references the previous change (`sequence` - 1), whose time
    `previous_ns` the caller knows when it saw that change; without it (after a restart) it
    references the alert's first message, dated by `started_ns`, the best time the record holds.
    """
    record = change.alert
    sender = options.sender or f"bluewatch.{change.unit.agency}.{change.unit.unit}"
    first = record.sequence == 1
    if first:
        msg_type = "Alert"  # a Cancel must reference something, so a first message never is
    elif record.state is AlertState.CANCELLED:
        msg_type = "Cancel"
    else:
        msg_type = "Update"
    alert = ET.Element(f"{{{CAP_NAMESPACE}}}alert")
    _cap(alert, "identifier", change.idempotency_key)
    _cap(alert, "sender", sender)
    _cap(alert, "sent", cap_datetime(record.changed_ns))
    _cap(alert, "status", "Actual")
    _cap(alert, "msgType", msg_type)
    _cap(alert, "scope", "Restricted")
    _cap(alert, "restriction", options.restriction)
    if not first:
        # CAP 1.2 3.2.1 references: "sender,identifier,sent" of the earlier message.
        if previous_ns is None:
            earlier, earlier_ns = f"{record.alert_id}:1", record.started_ns
        else:
            earlier, earlier_ns = f"{record.alert_id}:{record.sequence - 1}", previous_ns
        _cap(alert, "references", f"{sender},{earlier},{cap_datetime(earlier_ns)}")
    _cap(alert, "incidents", record.alert_id)

    _cap_info(_cap(alert, "info"), change, options)
    document: bytes = ET.tostring(
        alert, encoding="UTF-8", xml_declaration=True, default_namespace=CAP_NAMESPACE
    )
    return document
