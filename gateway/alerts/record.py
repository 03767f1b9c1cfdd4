"""The alert record: one alert state change as an `alert` row carries it, read and checked.

The alert engine writes these rows (`Alert.to_point`); the sinks that deliver alerts to people
(webhooks) and the engine itself after a restart read them back here, through one parser that
names the first bad field. An unknown kind is kept (`AlertKind` is open): a kind added by a
newer gateway must still reach dispatch from an outbox an older one reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from gateway.alerts.model import KIND_PATTERN, Alert, AlertKind, AlertState, Severity
from gateway.domain import ID_PATTERN, FieldValue, Point, UnitRef

ALERT_ID: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
E = TypeVar("E", Severity, AlertState)


class AlertRecordError(ValueError):
    """An alert point that does not follow the alert record; the message names the field."""


def idempotency_key(alert_id: str, sequence: int) -> str:
    """The same for every delivery of one change of one alert, different for every other."""
    return f"{alert_id}:{sequence}"


def change_key(point: Point) -> str | None:
    """The idempotency key of an alert point, without reading the rest of the record; None
    when it has no text `alert_id` or integer `sequence` (AlertChange.from_point says why)."""
    alert_id, sequence = point.fields.get("alert_id"), point.fields.get("sequence")
    if not isinstance(alert_id, str) or not isinstance(sequence, int) or isinstance(sequence, bool):
        return None
    return idempotency_key(alert_id, sequence)


def _tag(tags: Mapping[str, str], name: str) -> str:
    value = tags.get(name)
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise AlertRecordError(f"tag {name!r} must be an id matching {ID_PATTERN}, got {value!r}")
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


def _member(fields: Mapping[str, FieldValue], name: str, enum: type[E]) -> E:
    value = _text(fields, name)
    try:
        return enum(value)
    except ValueError:
        names = ", ".join(member.value for member in enum)
        raise AlertRecordError(f"field {name!r} must be one of {names}, got {value!r}") from None


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
    """One alert state change as the alert engine records it (an `alert` point, lane ALERT):
    the alert as of this change, and the unit that raised it."""

    unit: UnitRef
    alert: Alert

    @property
    def idempotency_key(self) -> str:
        """The same for every redelivery of this change, different for every other change."""
        return idempotency_key(self.alert.alert_id, self.alert.sequence)

    @classmethod
    def from_point(cls, point: Point) -> AlertChange:
        """Read and check an alert point; AlertRecordError names the first bad field or tag."""
        fields, tags = point.fields, point.tags
        severity = _member(fields, "severity", Severity)
        state = _member(fields, "state", AlertState)
        latitude = _degrees(fields, "latitude_deg", 90.0)
        longitude = _degrees(fields, "longitude_deg", 180.0)
        if (latitude is None) != (longitude is None):
            raise AlertRecordError("fields 'latitude_deg' and 'longitude_deg' come together")
        alert = Alert(
            alert_id=_text(fields, "alert_id", ALERT_ID),
            officer_id=_tag(tags, "officer"),
            kind=AlertKind(_text(fields, "kind", KIND_PATTERN)),
            severity=severity,
            state=state,
            reason=_text(fields, "reason"),
            rule=_text(fields, "rule"),
            rule_version=_text(fields, "rule_version"),
            config_hash=_text(fields, "config_hash"),
            started_ns=_integer(fields, "started_ns", 0),
            changed_ns=point.time_ns,
            sequence=_integer(fields, "sequence", 1),
            device_id=_optional_tag(tags, "device"),
            latitude_deg=latitude,
            longitude_deg=longitude,
            evidence_id=_optional_text(fields, "evidence_id"),
            acknowledged_by=_optional_text(fields, "acknowledged_by"),
            escalated=fields.get("escalated") is True,
            activated_ns=(
                None if fields.get("activated_ns") is None else _integer(fields, "activated_ns", 0)
            ),
        )
        return cls(UnitRef(_tag(tags, "agency"), _tag(tags, "unit")), alert)
