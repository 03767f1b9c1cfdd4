"""Which alerts an officer's kit can raise: each rule's needs as a table, checked against the
capabilities of the devices the officer wears. Pure.

An officer wearing only a heart-rate strap cannot be detected falling, and a dispatcher who
does not know that will trust a silence that means nothing. The gateway says so at start-up
(`bluewatch check-config`), in every officer_status row, on the fleet dashboard and in the live
view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from gateway.alerts.model import AlertKind
from gateway.domain import DeviceRef
from sensors import Capability


@dataclass(frozen=True)
class Need:
    """What one rule needs from the kit, and how to say that it is missing."""

    # Any one of these capabilities is enough.
    any_of: frozenset[Capability]
    # The capability must come from a device that moves with the trunk: falls and stillness are
    # read there, never from an arm alone (docs/algorithms.md).
    on_trunk: bool
    what: str  # "fall or man-down detection"
    why_not: str  # "no accelerometer worn on the trunk"


_TRUNK_MOTION = Need(
    frozenset({Capability.ACCELERATION}),
    True,
    "fall or man-down detection",
    "no accelerometer worn on the trunk",
)
_HEART = Need(frozenset({Capability.HEART_RATE}), False, "heart-rate alerts", "no heart rate worn")

NEEDS: Final[Mapping[AlertKind, Need]] = MappingProxyType(
    {
        AlertKind.OFFICER_DOWN: _TRUNK_MOTION,
        AlertKind.FALL: _TRUNK_MOTION,
        # The strain index (Moran 1998) needs heart rate; a CORE makes its core temperature
        # measured rather than estimated, but alone it gives no index.
        AlertKind.HEAT_STRAIN: Need(
            frozenset({Capability.HEART_RATE}), False, "heat strain", "no heart rate worn"
        ),
        AlertKind.TACHYCARDIA: _HEART,
        AlertKind.BRADYCARDIA: _HEART,
        AlertKind.SENSOR_CONTACT_LOST: _HEART,
        AlertKind.PANIC: Need(
            frozenset({Capability.PANIC_BUTTON}), False, "panic alarms", "no panic button worn"
        ),
        AlertKind.WEAPON_DRAWN: Need(
            frozenset({Capability.HOLSTER}), False, "weapon-drawn alerts", "no holster sensor worn"
        ),
        AlertKind.HELMET_IMPACT: Need(
            frozenset({Capability.IMPACT}), False, "head-impact alerts", "no helmet worn"
        ),
        AlertKind.LOW_BATTERY: Need(
            frozenset({Capability.BATTERY}),
            False,
            "low-battery warnings",
            "no device reports its battery",
        ),
        # Device-lost needs only a device: every worn device is watched.
        AlertKind.DEVICE_LOST: Need(frozenset(), False, "device-lost alerts", "no device worn"),
        # Distance from the vehicle needs the officer's own position (and a [vehicle]).
        AlertKind.OFFICER_LEFT_VEHICLE: Need(
            frozenset({Capability.LOCATION}), False, "left-vehicle events", "no GNSS worn"
        ),
    }
)


def _met(need: Need, devices: Iterable[DeviceRef]) -> bool:
    worn = [d for d in devices if not need.on_trunk or d.moves_with_trunk]
    if not worn:
        return False
    if not need.any_of:
        return True
    return any(need.any_of & d.profile.capabilities for d in worn)


def detectable(devices: Iterable[DeviceRef]) -> frozenset[AlertKind]:
    """The alert kinds an officer wearing `devices` can raise."""
    kit = tuple(devices)
    return frozenset(kind for kind, need in NEEDS.items() if _met(need, kit))


def undetectable(devices: Iterable[DeviceRef]) -> tuple[AlertKind, ...]:
    """The alert kinds the kit cannot raise, in the table's order."""
    can = detectable(devices)
    return tuple(kind for kind in NEEDS if kind not in can)


def gaps(devices: Iterable[DeviceRef]) -> list[str]:
    """What the kit cannot detect and why, one line per need: "no fall or man-down detection:
    no accelerometer worn on the trunk"."""
    lines: list[str] = []
    for kind in undetectable(devices):
        need = NEEDS[kind]
        line = f"no {need.what}: {need.why_not}"
        if line not in lines:
            lines.append(line)
    return lines
