"""Assignments of pool devices: the registry's refusals and releases, the store across a reopen,
and the desk that connects what is assigned and records every change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.assignment_store import AssignmentStore, store_path
from gateway.assignments import (
    Assignment,
    AssignmentRegistry,
    DeviceHeldError,
    NotAssignedError,
    UnknownDeviceError,
    UnknownOfficerError,
)
from gateway.domain import ASSIGNMENT, Lane
from tests.gateway.assignment_rig import OFFICERS, POOL, UNIT, Desk, pool_ref


def registry(held: tuple[Assignment, ...] = ()) -> AssignmentRegistry:
    return AssignmentRegistry(POOL, OFFICERS, held)


def test_assigning_gives_the_devices_to_the_officer() -> None:
    reg = registry()
    made = reg.assign("officer-01", ["h10-01", "vest-01"], "sgt-4", 100)
    assert made == [
        Assignment("h10-01", "officer-01", 100, "sgt-4"),
        Assignment("vest-01", "officer-01", 100, "sgt-4"),
    ]
    assert dict(reg.held) == {a.device_id: a for a in made}


def test_a_device_held_by_one_officer_is_refused_for_another_until_released() -> None:
    reg = registry()
    reg.assign("officer-01", ["h10-01"], "sgt-4", 100)
    with pytest.raises(DeviceHeldError, match="held by officer 'officer-01'") as refused:
        reg.assign("officer-02", ["h10-01"], "sgt-4", 200)
    assert refused.value.held.officer_id == "officer-01"
    assert reg.release("h10-01") == Assignment("h10-01", "officer-01", 100, "sgt-4")
    assert reg.assign("officer-02", ["h10-01"], "sgt-5", 300) == [
        Assignment("h10-01", "officer-02", 300, "sgt-5")
    ]


def test_a_refusal_assigns_none_of_the_devices() -> None:
    reg = registry()
    reg.assign("officer-01", ["h10-02"], "sgt-4", 100)
    with pytest.raises(DeviceHeldError):
        reg.assign("officer-02", ["h10-01", "h10-02"], "sgt-4", 200)
    with pytest.raises(UnknownDeviceError, match="no device 'h10-99' in the pool"):
        reg.assign("officer-02", ["h10-01", "h10-99"], "sgt-4", 200)
    assert set(reg.held) == {"h10-02"}


def test_assigning_again_to_the_holder_changes_nothing() -> None:
    reg = registry()
    reg.assign("officer-01", ["h10-01"], "sgt-4", 100)
    assert reg.assign("officer-01", ["h10-01"], "sgt-5", 200) == []
    assert reg.held["h10-01"] == Assignment("h10-01", "officer-01", 100, "sgt-4")


def test_unknown_officers_and_devices_are_named() -> None:
    reg = registry()
    with pytest.raises(UnknownOfficerError, match="no officer 'officer-09'"):
        reg.assign("officer-09", ["h10-01"], "sgt-4", 100)
    with pytest.raises(UnknownDeviceError, match="'nope'"):
        reg.release("nope")
    with pytest.raises(NotAssignedError, match="'h10-01' is not assigned"):
        reg.release("h10-01")


def test_held_assignments_are_checked_like_new_ones() -> None:
    with pytest.raises(UnknownOfficerError):
        registry((Assignment("h10-01", "officer-09", 1, "x"),))


def test_the_store_keeps_assignments_across_a_reopen(tmp_path: Path) -> None:
    path = store_path(tmp_path / "outbox.sqlite3")
    assert path == tmp_path / "outbox-assignments.sqlite3"
    store = AssignmentStore(path)
    first = Assignment("h10-01", "officer-01", 100, "sgt-4")
    second = Assignment("vest-01", "officer-02", 200, "sgt-5")
    store.save([first, second])
    store.delete("vest-01")
    store.save([Assignment("h10-02", "officer-02", 300, "sgt-5")])
    store.close()

    reopened = AssignmentStore(path)
    kept = reopened.load()
    assert kept == [first, Assignment("h10-02", "officer-02", 300, "sgt-5")]
    assert path.stat().st_mode & 0o777 == 0o600
    reg = registry(tuple(kept))
    with pytest.raises(DeviceHeldError):
        reg.assign("officer-02", ["h10-01"], "sgt-4", 400)
    reopened.close()


async def test_the_desk_connects_records_and_releases(tmp_path: Path) -> None:
    d = Desk(tmp_path)
    await d.desk.assign("officer-01", ["h10-01"], "sgt-4")
    assert d.manager.devices["h10-01"].ref == pool_ref("h10-01", "officer-01")
    assert d.store.load() == [Assignment("h10-01", "officer-01", 1_000, "sgt-4")]
    d.now = 2_000
    await d.desk.unassign("h10-01", "sgt-5")
    assert "h10-01" not in d.manager.devices
    assert d.store.load() == []
    assert d.changes == [("officer-01", "h10-01", True), ("officer-01", "h10-01", False)]
    assert [(p.measurement, dict(p.tags), dict(p.fields), p.time_ns, p.lane) for p in d.audit] == [
        (
            ASSIGNMENT.name,
            {**UNIT.officer_tags("officer-01"), "device": "h10-01"},
            {"action": action, "by": by, "model": "polar-h10", "address": "A0:9E:1A:00:00:01"},
            time_ns,
            Lane.EVENT,
        )
        for action, by, time_ns in (("assign", "sgt-4", 1_000), ("unassign", "sgt-5", 2_000))
    ]
    # Beside each audit row, the device's rows saying it joined or left the officer's kit.
    kit = [(p.measurement, dict(p.tags), dict(p.fields), p.time_ns) for p in d.points]
    tags = dict(pool_ref("h10-01", "officer-01").tags)
    assert [row for row in kit if row[0] != ASSIGNMENT.name] == [
        (measurement, tags, {"released": released}, time_ns)
        for released, time_ns in ((False, 1_000), (True, 2_000))
        for measurement in ("battery", "link")
    ]


async def test_a_refused_assignment_changes_nothing(tmp_path: Path) -> None:
    d = Desk(tmp_path)
    await d.desk.assign("officer-01", ["h10-01"], "sgt-4")
    with pytest.raises(DeviceHeldError):
        await d.desk.assign("officer-02", ["h10-02", "h10-01"], "sgt-4")
    assert set(d.manager.devices) == {"h10-01"}
    assert [a.device_id for a in d.store.load()] == ["h10-01"]
    assert len(d.audit) == 1


async def test_a_change_the_store_cannot_keep_is_not_made(tmp_path: Path) -> None:
    d = Desk(tmp_path)
    await d.desk.assign("officer-01", ["h10-01"], "sgt-4")
    d.store.close()  # every later write fails
    with pytest.raises(sqlite3.ProgrammingError):
        await d.desk.assign("officer-01", ["h10-02"], "sgt-4")
    with pytest.raises(sqlite3.ProgrammingError):
        await d.desk.unassign("h10-01", "sgt-4")
    assert set(d.desk.held) == {"h10-01"}
    assert set(d.manager.devices) == {"h10-01"}
    assert len(d.audit) == 1
