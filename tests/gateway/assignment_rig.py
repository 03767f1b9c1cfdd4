"""An assignment desk over a device manager that is not running: what it was given, recorded
and told, for the registry's, desk's and HTTP API's tests."""

from __future__ import annotations

from pathlib import Path

from gateway.assignment_desk import AssignmentDesk
from gateway.assignment_store import AssignmentStore
from gateway.assignments import AssignmentRegistry
from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DeviceManager
from gateway.domain import ASSIGNMENT, DeviceRef, Point, UnitRef
from sensors import DeviceModel

UNIT = UnitRef("metro-pd", "car-12")
POOL = ("h10-01", "h10-02", "vest-01")
OFFICERS = ("officer-01", "officer-02")


POOL_REFS = {
    "h10-01": (DeviceModel.POLAR_H10, "A0:9E:1A:00:00:01"),
    "h10-02": (DeviceModel.POLAR_H10, "A0:9E:1A:00:00:02"),
    "vest-01": (DeviceModel.BLUEWATCH_VEST, "C0:00:00:00:00:01"),
}


def pool_ref(device_id: str, officer_id: str) -> DeviceRef:
    model, address = POOL_REFS[device_id]
    return DeviceRef(UNIT, officer_id, device_id, model, address)


def manager() -> DeviceManager:
    return DeviceManager(
        [],
        BleakFactory.bluez(),
        lambda *_: None,
        stale_after_s=5,
        lost_after_s=20,
        clock_ns=lambda: 0,
        monotonic=lambda: 0.0,
    )


class Desk:
    def __init__(self, tmp_path: Path) -> None:
        self.points: list[Point] = []
        self.changes: list[tuple[str, str, bool]] = []
        self.store = AssignmentStore(tmp_path / "assignments.sqlite3")
        self.manager = manager()
        self.now = 1_000
        self.desk = AssignmentDesk(
            UNIT,
            AssignmentRegistry(POOL, OFFICERS),
            self.store,
            self.manager,
            pool_ref,
            emit=self.points.extend,
            clock_ns=lambda: self.now,
            listeners=(self._changed,),
        )

    @property
    def audit(self) -> list[Point]:
        """The `assignment` rows emitted, without the kit rows beside them."""
        return [p for p in self.points if p.measurement == ASSIGNMENT.name]

    def _changed(self, ref: DeviceRef, joined: bool) -> None:
        self.changes.append((ref.officer_id, ref.device_id, joined))
