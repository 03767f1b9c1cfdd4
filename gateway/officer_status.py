"""One status per officer for the fleet view: ok, warning, device lost or alert. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from gateway.alerts.model import Alert, AlertKind, AlertState, Severity
from gateway.ble.link import LinkState
from gateway.domain import FieldValue


class OfficerStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    DEVICE_LOST = "device_lost"
    ALERT = "alert"


# Ordered by how urgently a supervisor must look: the dashboards colour by this code and sort
# the fleet table on it, so the worst officer is always on top.
STATUS_CODES: Final = {
    OfficerStatus.OK: 0,
    OfficerStatus.WARNING: 1,
    OfficerStatus.DEVICE_LOST: 2,
    OfficerStatus.ALERT: 3,
}


def officer_status(open_alerts: Iterable[Alert], links: Iterable[LinkState]) -> OfficerStatus:
    """The officer's status from their open alerts and their devices' link states.

    A pre-alert is still the officer's to cancel, so it shows as a warning, not an alert; a
    lost device outranks warnings because nothing else about that officer can be trusted then.
    """
    alerts = list(open_alerts)
    dispatched = [a for a in alerts if a.state is not AlertState.PRE_ALERT]
    if any(a.severity.rank >= Severity.HIGH.rank for a in dispatched):
        return OfficerStatus.ALERT
    if any(a.kind is AlertKind.DEVICE_LOST for a in alerts) or LinkState.LOST in set(links):
        return OfficerStatus.DEVICE_LOST
    if alerts:
        return OfficerStatus.WARNING
    return OfficerStatus.OK


@dataclass(frozen=True)
class OfficerSnapshot:
    """What the status row of one officer is made from."""

    open_alerts: tuple[Alert, ...]
    links: tuple[LinkState, ...]
    last_seen_s: float | None  # seconds since any of the officer's devices was last heard
    # What the officer's kit cannot raise (gateway/alerts/coverage.py): the fleet view shows it,
    # so that silence is not mistaken for safety.
    cannot_detect: tuple[AlertKind, ...] = ()

    def fields(self) -> dict[str, FieldValue]:
        status = officer_status(self.open_alerts, self.links)
        fields: dict[str, FieldValue] = {
            "status": status.value,
            "status_code": STATUS_CODES[status],
            "open_alerts": len(self.open_alerts),
            "cannot_detect": ",".join(kind.value for kind in self.cannot_detect),
        }
        if self.last_seen_s is not None:
            fields["last_seen_s"] = round(self.last_seen_s, 1)
        return fields
