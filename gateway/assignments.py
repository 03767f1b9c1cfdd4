"""Who holds which pool device: the assignments made at shift start, and why one is refused.

Pure: the registry decides; the composition root's `AssignmentDesk` (gateway/assignment_desk.py)
persists each change and connects or releases the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from gateway.domain import ASSIGNMENT, BATTERY, LINK, RELEASED, FieldValue, Point, UnitRef


@dataclass(frozen=True)
class Assignment:
    """One pool device held by one officer since `since_ns`, assigned by `by`."""

    device_id: str
    officer_id: str
    since_ns: int
    by: str


class AssignmentError(Exception):
    """An assignment change the registry refuses; the message names what was wrong."""


class UnknownOfficerError(AssignmentError):
    def __init__(self, officer_id: str) -> None:
        super().__init__(f"no officer {officer_id!r} in the configuration")
        self.officer_id = officer_id


class UnknownDeviceError(AssignmentError):
    def __init__(self, device_id: str) -> None:
        super().__init__(f"no device {device_id!r} in the pool")
        self.device_id = device_id


class NotAssignedError(AssignmentError):
    def __init__(self, device_id: str) -> None:
        super().__init__(f"device {device_id!r} is not assigned to anyone")
        self.device_id = device_id


class DeviceHeldError(AssignmentError):
    """The device is another officer's until it is released."""

    def __init__(self, held: Assignment) -> None:
        super().__init__(
            f"device {held.device_id!r} is held by officer {held.officer_id!r}: unassign it first"
        )
        self.held = held


class AssignmentRegistry:
    """The pool's devices, the configured officers, and who holds what.

    A device is held by one officer at a time; assigning it to another is refused until it is
    released. Re-assigning a device to the officer who holds it changes nothing.
    """

    def __init__(
        self, pool: Iterable[str], officers: Iterable[str], held: Iterable[Assignment] = ()
    ) -> None:
        self._pool = frozenset(pool)
        self._officers = frozenset(officers)
        self._held: dict[str, Assignment] = {}
        for assignment in held:
            self._check(assignment.officer_id, assignment.device_id)
            self._held[assignment.device_id] = assignment

    @property
    def held(self) -> Mapping[str, Assignment]:
        """The assignments in force, by device id."""
        return MappingProxyType(self._held)

    def _check(self, officer_id: str, device_id: str) -> None:
        if officer_id not in self._officers:
            raise UnknownOfficerError(officer_id)
        if device_id not in self._pool:
            raise UnknownDeviceError(device_id)

    def assign(
        self, officer_id: str, device_ids: Iterable[str], by: str, now_ns: int
    ) -> list[Assignment]:
        """Give `device_ids` to `officer_id`: all of them or, on the first refusal, none.

        Returns the assignments made (those the officer already held are left out).
        """
        made: dict[str, Assignment] = {}
        for device_id in device_ids:
            self._check(officer_id, device_id)
            current = self._held.get(device_id)
            if current is not None and current.officer_id != officer_id:
                raise DeviceHeldError(current)
            if current is None:
                made[device_id] = Assignment(device_id, officer_id, now_ns, by)
        self._held.update(made)
        return list(made.values())

    def release(self, device_id: str) -> Assignment:
        """End the device's assignment; returns the one that ended."""
        if device_id not in self._pool:
            raise UnknownDeviceError(device_id)
        ended = self._held.pop(device_id, None)
        if ended is None:
            raise NotAssignedError(device_id)
        return ended


ASSIGN: Final = "assign"
UNASSIGN: Final = "unassign"


def audit_point(
    unit: UnitRef,
    action: str,
    assignment: Assignment,
    *,
    by: str,
    now_ns: int,
    device: Mapping[str, FieldValue],
) -> Point:
    """The `assignment` row of one change: who (`by`), when (the row's time), what (action,
    officer, device and the device's model and address, given in `device`)."""
    fields: dict[str, FieldValue] = {"action": action, "by": by, **device}
    tags = {**unit.officer_tags(assignment.officer_id), "device": assignment.device_id}
    return ASSIGNMENT.point(tags, fields, now_ns)


# The device rows the fleet views read a device's latest value from, per officer and device.
KIT_MEASUREMENTS: Final = (BATTERY, LINK)


def kit_points(device_tags: Mapping[str, str], *, released: bool, now_ns: int) -> list[Point]:
    """The rows saying a pool device left (`released`) or joined the kit of the officer its
    tags name: one per measurement in KIT_MEASUREMENTS, with the one field `released`.

    Its older rows under an officer stay in the time range a dashboard reads; the dashboards
    take a device's latest values under an officer only while its latest `released` is not
    true, so a release shows at once, and an assignment back to the same officer undoes it
    (docs/dashboards.md). The MQTT sink clears the officer's retained status on a release.
    """
    return [m.point(device_tags, {RELEASED: released}, now_ns) for m in KIT_MEASUREMENTS]
