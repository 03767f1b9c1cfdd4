"""Alerts: kinds, severities, states and the allowed transitions, as tables. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from gateway.domain import ALERT, NS_PER_S, FieldValue, Point, UnitRef

# A kind is a short lowercase word: it travels into CAP event codes, topics and dashboards.
KIND_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"


class AlertKind(StrEnum):
    """What an alert is about. Open: a kind this gateway does not know (written by a newer
    version into the outbox it reads) is kept as a pseudo-member, so it is still restored,
    delivered to dispatch and shown, never dropped; the rules only ever raise the members below.
    """

    OFFICER_DOWN = "officer_down"
    FALL = "fall"
    HEAT_STRAIN = "heat_strain"
    TACHYCARDIA = "tachycardia"
    BRADYCARDIA = "bradycardia"
    SENSOR_CONTACT_LOST = "sensor_contact_lost"
    PANIC = "panic"
    WEAPON_DRAWN = "weapon_drawn"
    HELMET_IMPACT = "helmet_impact"
    DEVICE_LOST = "device_lost"
    LOW_BATTERY = "low_battery"
    OFFICER_LEFT_VEHICLE = "officer_left_vehicle"

    @classmethod
    def _missing_(cls, value: object) -> AlertKind | None:
        if isinstance(value, str) and re.fullmatch(KIND_PATTERN, value):
            member = str.__new__(cls, value)
            member._name_ = value.upper()
            member._value_ = value
            return member
        return None


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self]


SEVERITY_RANK: Final = {
    Severity.INFO: 0,
    Severity.WARNING: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}


class AlertState(StrEnum):
    PRE_ALERT = "pre_alert"
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


# The state machine. A pre-alert is the officer's chance to cancel ("I'm OK") before dispatch is
# involved; once active, only dispatch acknowledges, and resolution needs a reason.
TRANSITIONS: Final[dict[AlertState, frozenset[AlertState]]] = {
    AlertState.PRE_ALERT: frozenset({AlertState.ACTIVE, AlertState.CANCELLED}),
    AlertState.ACTIVE: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.RESOLVED}),
    AlertState.RESOLVED: frozenset(),
    AlertState.CANCELLED: frozenset(),
}
OPEN_STATES: Final = frozenset({AlertState.PRE_ALERT, AlertState.ACTIVE, AlertState.ACKNOWLEDGED})


class TransitionError(ValueError):
    """A state change the state machine does not allow; the message says which and why."""


@dataclass(frozen=True)
class Alert:
    """One alert's current state. Every change makes a new value with `sequence` + 1."""

    alert_id: str
    officer_id: str
    kind: AlertKind
    severity: Severity
    state: AlertState
    reason: str
    rule: str
    rule_version: str
    config_hash: str
    started_ns: int
    changed_ns: int
    sequence: int = 1
    device_id: str | None = None
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    evidence_id: str | None = None
    acknowledged_by: str | None = None
    escalated: bool = False
    # When dispatch was first told (pre-alerts become active later than they start); time to
    # acknowledge is measured from here, since a pre-alert is still the officer's to cancel.
    activated_ns: int | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def moved_to(self, state: AlertState, reason: str, now_ns: int, by: str | None = None) -> Alert:
        if state not in TRANSITIONS[self.state]:
            raise TransitionError(
                f"alert {self.alert_id}: cannot go from {self.state.value} to {state.value}"
            )
        return replace(
            self,
            state=state,
            reason=reason,
            changed_ns=now_ns,
            sequence=self.sequence + 1,
            acknowledged_by=by if state is AlertState.ACKNOWLEDGED else self.acknowledged_by,
            activated_ns=now_ns if state is AlertState.ACTIVE else self.activated_ns,
        )

    @property
    def time_to_ack_s(self) -> float | None:
        """Seconds from activation (or start, for alerts raised active) to acknowledgement."""
        if self.state is not AlertState.ACKNOWLEDGED:
            return None
        since_ns = self.activated_ns if self.activated_ns is not None else self.started_ns
        return round((self.changed_ns - since_ns) / NS_PER_S, 3)

    def escalated_to(self, severity: Severity, reason: str, now_ns: int) -> Alert:
        return replace(
            self,
            severity=severity,
            reason=reason,
            changed_ns=now_ns,
            sequence=self.sequence + 1,
            escalated=True,
        )

    def to_point(self, unit: UnitRef) -> Point:
        """The alert-lane row every sink receives for this state change (docs/alerts.md).

        `gateway.alerts.record.AlertChange.from_point` reads it back.
        """
        tags = unit.officer_tags(self.officer_id)
        if self.device_id:
            tags["device"] = self.device_id
        fields: dict[str, FieldValue] = {
            "alert_id": self.alert_id,
            "sequence": self.sequence,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "state": self.state.value,
            "reason": self.reason,
            "rule": self.rule,
            "rule_version": self.rule_version,
            "config_hash": self.config_hash,
            "started_ns": self.started_ns,
            "escalated": self.escalated,
        }
        for name in (
            "latitude_deg",
            "longitude_deg",
            "evidence_id",
            "acknowledged_by",
            "activated_ns",
            "time_to_ack_s",
        ):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return ALERT.point(tags, fields, self.changed_ns)
