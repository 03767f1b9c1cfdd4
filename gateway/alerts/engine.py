"""The alert engine: one open alert per officer and kind, state changes emitted as alert rows.

Rules (gateway/alerts/rules.py) call `raise_alert`, `cancel` and `clear`; dispatch calls
`acknowledge` and `resolve` through the HTTP endpoint. Every change is emitted as a `Point` on
the alert lane, committed to the outbox ahead of telemetry and delivered to every sink; the
engine rebuilds its open alerts from those rows after a restart. The clock is injected.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gateway.alerts.model import (
    Alert,
    AlertKind,
    AlertState,
    Severity,
    TransitionError,
)
from gateway.alerts.record import AlertChange, AlertRecordError
from gateway.domain import ALERT, NS_PER_S, Point, UnitRef

logger = logging.getLogger(__name__)

ESCALATION: dict[Severity, Severity] = {
    Severity.INFO: Severity.WARNING,
    Severity.WARNING: Severity.HIGH,
    Severity.HIGH: Severity.CRITICAL,
    Severity.CRITICAL: Severity.CRITICAL,
}


@dataclass(frozen=True)
class Rule:
    """Which rule fired, and which version of it: recorded with every alert for audits."""

    name: str
    version: str


def new_alert_id() -> str:
    return f"a-{uuid.uuid4().hex}"


class AlertEngine:
    def __init__(
        self,
        unit: UnitRef,
        config_hash: str,
        *,
        clock_ns: Callable[[], int],
        emit: Callable[[Point], None],
        escalate_after_s: float = 60.0,
        new_id: Callable[[], str] = new_alert_id,
        listeners: Sequence[Callable[[Alert], None]] = (),
    ) -> None:
        self.unit = unit
        self.config_hash = config_hash
        self._clock_ns = clock_ns
        self._emit_point = emit
        self._escalate_after_ns = int(escalate_after_s * NS_PER_S)
        self._new_id = new_id
        self.alerts: dict[str, Alert] = {}
        self._open: dict[tuple[str, AlertKind], str] = {}
        # Told of every change after it is emitted (the live view, evidence).
        self._listeners = tuple(listeners)

    # --- what rules call --------------------------------------------------------------------

    def raise_alert(
        self,
        officer_id: str,
        kind: AlertKind,
        severity: Severity,
        reason: str,
        rule: Rule,
        *,
        pre_alert: bool = False,
        device_id: str | None = None,
        location: tuple[float, float] | None = None,
        started_ns: int | None = None,
    ) -> Alert:
        """Open an alert, or update the open one of this officer and kind (never a duplicate).

        An open pre-alert becomes active when the rule now says "alarm"; a higher severity
        escalates the open alert; anything else is already known and emits nothing.
        """
        now = self._clock_ns()
        existing = self.open_alert(officer_id, kind)
        if existing is not None:
            if existing.state is AlertState.PRE_ALERT and not pre_alert:
                return self._change(existing.moved_to(AlertState.ACTIVE, reason, now))
            if severity.rank > existing.severity.rank:
                return self._change(existing.escalated_to(severity, reason, now))
            return existing
        latitude, longitude = location if location else (None, None)
        alert = Alert(
            alert_id=self._new_id(),
            officer_id=officer_id,
            kind=kind,
            severity=severity,
            state=AlertState.PRE_ALERT if pre_alert else AlertState.ACTIVE,
            reason=reason,
            rule=rule.name,
            rule_version=rule.version,
            config_hash=self.config_hash,
            started_ns=started_ns if started_ns is not None else now,
            changed_ns=now,
            device_id=device_id,
            latitude_deg=latitude,
            longitude_deg=longitude,
        )
        return self._change(alert)

    def cancel(self, officer_id: str, kind: AlertKind, reason: str) -> Alert | None:
        """Cancel a pre-alert (the officer answered); an active alert is dispatch's to close."""
        alert = self.open_alert(officer_id, kind)
        if alert is None or alert.state is not AlertState.PRE_ALERT:
            return None
        return self._change(alert.moved_to(AlertState.CANCELLED, reason, self._clock_ns()))

    def clear(
        self, officer_id: str, kind: AlertKind, reason: str, device_id: str | None = None
    ) -> Alert | None:
        """The condition is over (a battery recharged, a link back): cancel or resolve.

        With `device_id`, only an alert raised for that device (or for none) clears: a helmet's
        good battery says nothing about the vest whose low battery raised the alert.
        """
        alert = self.open_alert(officer_id, kind)
        if alert is None:
            return None
        if device_id is not None and alert.device_id not in (None, device_id):
            return None
        target = (
            AlertState.CANCELLED if alert.state is AlertState.PRE_ALERT else AlertState.RESOLVED
        )
        return self._change(alert.moved_to(target, reason, self._clock_ns()))

    # --- what dispatch calls ----------------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str) -> Alert:
        alert = self._known(alert_id)
        return self._change(
            alert.moved_to(AlertState.ACKNOWLEDGED, f"acknowledged by {by}", self._clock_ns(), by)
        )

    def resolve(self, alert_id: str, reason: str, by: str) -> Alert:
        alert = self._known(alert_id)
        return self._change(
            alert.moved_to(AlertState.RESOLVED, f"{reason} ({by})", self._clock_ns())
        )

    def _known(self, alert_id: str) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise KeyError(f"no alert {alert_id}")
        return alert

    # --- timers and state -------------------------------------------------------------------

    def tick(self) -> None:
        """Escalate high and critical alerts nobody acknowledged in time (once per alert).

        Warnings are information, not calls for action: escalating them would turn every
        warning into an alarm a minute later, the noise that teaches dispatch to ignore alarms.
        """
        now = self._clock_ns()
        for alert in list(self.alerts.values()):
            if (
                alert.severity.rank >= Severity.HIGH.rank
                and alert.state is AlertState.ACTIVE
                and not alert.escalated
                and now - alert.changed_ns >= self._escalate_after_ns
            ):
                waited = (now - alert.changed_ns) / NS_PER_S
                reason = f"{alert.reason}; not acknowledged after {waited:.0f} s"
                self._change(alert.escalated_to(ESCALATION[alert.severity], reason, now))

    def open_alert(self, officer_id: str, kind: AlertKind) -> Alert | None:
        alert_id = self._open.get((officer_id, kind))
        return self.alerts.get(alert_id) if alert_id else None

    def open_alerts(self) -> list[Alert]:
        return [alert for alert in self.alerts.values() if alert.open]

    def restore(self, rows: Iterable[Point]) -> int:
        """Rebuild state from alert rows (latest sequence per alert wins); returns open count."""
        for point in rows:
            if point.measurement != ALERT.name:
                continue
            try:
                alert = AlertChange.from_point(point).alert
            except AlertRecordError as exc:
                # A row this gateway cannot read must not stop it from starting: the rest of
                # the alerts are still restored.
                logger.error("alert row not restored: %s", exc)
                continue
            known = self.alerts.get(alert.alert_id)
            if known is None or alert.sequence > known.sequence:
                self._store(alert)
        return len(self.open_alerts())

    def _change(self, alert: Alert) -> Alert:
        self._store(alert)
        logger.warning(
            "alert %s %s %s for %s (%s): %s",
            alert.alert_id,
            alert.kind.value,
            alert.state.value,
            alert.officer_id,
            alert.severity.value,
            alert.reason,
        )
        self._emit_point(alert.to_point(self.unit))
        for listener in self._listeners:
            listener(alert)
        return alert

    def _store(self, alert: Alert) -> None:
        self.alerts[alert.alert_id] = alert
        key = (alert.officer_id, alert.kind)
        if alert.open:
            self._open[key] = alert.alert_id
        elif self._open.get(key) == alert.alert_id:
            del self._open[key]


__all__ = ["AlertEngine", "Rule", "TransitionError"]
