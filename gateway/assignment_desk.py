"""Assignments made and ended while the gateway runs: the registry decides, the store keeps, the
device manager connects or releases the device, and an `assignment` row records each change.

Used by the HTTP API (gateway/http.py), which `bluewatch assign` and `unassign` call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from gateway.assignment_store import AssignmentStore
from gateway.assignments import (
    ASSIGN,
    UNASSIGN,
    Assignment,
    AssignmentRegistry,
    audit_point,
    kit_points,
)
from gateway.ble.manager import DeviceManager
from gateway.domain import DeviceRef, FieldValue, Point, UnitRef

logger = logging.getLogger(__name__)

# Told of every device that joins or leaves an officer's kit: (the device, joined).
KitListener = Callable[[DeviceRef, bool], None]


class AssignmentDesk:
    """Makes and ends assignments of pool devices, one change at a time."""

    def __init__(
        self,
        unit: UnitRef,
        registry: AssignmentRegistry,
        store: AssignmentStore,
        manager: DeviceManager,
        ref_for: Callable[[str, str], DeviceRef],
        *,
        emit: Callable[[list[Point]], None],
        clock_ns: Callable[[], int],
        listeners: Sequence[KitListener] = (),
    ) -> None:
        """`ref_for(device_id, officer_id)`: the pool device's reference while that officer
        holds it."""
        self._unit = unit
        self._registry = registry
        self._store = store
        self._manager = manager
        self._ref_for = ref_for
        self._emit = emit
        self._clock_ns = clock_ns
        self._listeners = tuple(listeners)
        # One change at a time: an unassign's release of the link must not interleave with an
        # assign of the same device.
        self._lock = asyncio.Lock()

    @property
    def held(self) -> Mapping[str, Assignment]:
        return self._registry.held

    async def assign(self, officer_id: str, device_ids: Iterable[str], by: str) -> list[Assignment]:
        """Assign the devices (all or none; AssignmentError says why not) and start them."""
        async with self._lock:
            now_ns = self._clock_ns()
            made = self._registry.assign(officer_id, list(device_ids), by, now_ns)
            if not made:
                return []
            try:
                await asyncio.to_thread(self._store.save, made)
            except Exception:
                for assignment in made:  # not kept, so not made
                    self._registry.release(assignment.device_id)
                raise
            points = []
            for assignment in made:
                ref = self._ref_for(assignment.device_id, officer_id)
                self._manager.add(ref)
                points.append(self._audit(ASSIGN, assignment, ref, by, now_ns))
                points += kit_points(ref.tags, released=False, now_ns=now_ns)
                self._tell(ref, joined=True)
                logger.info("%s assigned to %s by %s", ref.device_id, officer_id, by)
            self._emit(points)
            return made

    async def unassign(self, device_id: str, by: str) -> Assignment:
        """End the device's assignment (AssignmentError says why not) and close its link."""
        async with self._lock:
            held = self._registry.held.get(device_id)
            ended = self._registry.release(device_id)
            try:
                await asyncio.to_thread(self._store.delete, device_id)
            except Exception:
                if held is not None:
                    self._registry.assign(held.officer_id, [device_id], held.by, held.since_ns)
                raise
            ref = self._ref_for(device_id, ended.officer_id)
            await self._manager.remove(device_id)
            now_ns = self._clock_ns()
            self._emit(
                [
                    self._audit(UNASSIGN, ended, ref, by, now_ns),
                    *kit_points(ref.tags, released=True, now_ns=now_ns),
                ]
            )
            self._tell(ref, joined=False)
            logger.info("%s released by %s (was %s's)", device_id, by, ended.officer_id)
            return ended

    def _audit(
        self, action: str, assignment: Assignment, ref: DeviceRef, by: str, now_ns: int
    ) -> Point:
        device: dict[str, FieldValue] = {"model": ref.model.value}
        if ref.address is not None:
            device["address"] = ref.address
        if ref.name is not None:
            device["name"] = ref.name
        return audit_point(self._unit, action, assignment, by=by, now_ns=now_ns, device=device)

    def _tell(self, ref: DeviceRef, *, joined: bool) -> None:
        for listener in self._listeners:
            try:
                listener(ref, joined)
            except Exception:  # the change is made and recorded; a view's failure is not ours
                logger.exception("%s: kit listener failed", ref.device_id)
