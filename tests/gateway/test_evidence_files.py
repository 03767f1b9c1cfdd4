"""Evidence bundle files: 0600 whatever the umask, written whole or not at all, and deleted by
the outbox's retention once their alert has no row left."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.activity import ActivityTracker
from gateway.alerts.evidence import EvidenceRecorder
from gateway.domain import Lane, Point, UnitRef
from gateway.evidence_store import ENCODE_SLICE, EvidenceStore
from gateway.jobs.housekeeping import Housekeeping
from gateway.outbox import AsyncOutbox, Outbox

UNIT = UnitRef("pd", "car-1")


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual 022, under which a file would be created readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def store(folder: Path) -> EvidenceStore:
    return EvidenceStore(folder, EvidenceRecorder(UNIT, lambda _: ActivityTracker(50), print))


def alert_row(alert_id: str, n: int) -> Point:
    return Point(
        "alert", {"officer": "o1"}, {"alert_id": alert_id, "state": "active"}, n, Lane.ALERT
    )


@pytest.mark.usefixtures("lax_umask")
def test_a_bundle_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = store(tmp_path / "evidence").write("a-1", {"samples": [[0.0, 0.0, 1.0]] * 500})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_bundle_that_fails_halfway_leaves_no_file_under_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    # The samples are written a slice at a time before the value json cannot encode is met.
    bundle = {"samples": [[0.0, 0.0, 1.0]] * (3 * ENCODE_SLICE), "broken": object()}
    with pytest.raises(TypeError):
        store(folder).write("a-1", bundle)
    assert not (folder / "a-1.json").exists()


def test_a_bundle_replaces_an_older_one_whole(tmp_path: Path) -> None:
    evidence = store(tmp_path / "evidence")
    evidence.write("a-1", {"samples": [1] * 1000})
    path = evidence.write("a-1", {"samples": [2]})
    assert path.read_text() == '{"samples": [2]}'
    assert [file.name for file in path.parent.iterdir()] == ["a-1.json"]


async def test_retention_deletes_the_bundles_of_alerts_it_deleted(tmp_path: Path) -> None:
    clock_ns = [10**18]
    outbox = AsyncOutbox(Outbox(tmp_path / "o.sqlite3", max_age_s=60, clock_ns=lambda: clock_ns[0]))
    try:
        await outbox.register_sink("dispatch", (Lane.ALERT,))
        await outbox.append([alert_row("a-old", 1)])
        await outbox.acknowledge("dispatch", await outbox.pending("dispatch", 10))
        clock_ns[0] += 61 * 10**9  # a-old is delivered and aged out
        await outbox.append([alert_row("a-new", 2)])  # not delivered: it stays, and its bundle
        evidence = store(tmp_path / "evidence")
        for alert_id in ("a-old", "a-new"):
            evidence.write(alert_id, {"samples": []})
        crashed = tmp_path / "evidence" / ".a-old.json.tmp"  # a write a crash cut short
        crashed.write_text("{")
        assert await outbox.enforce_retention() == 1
        assert await evidence.prune(outbox.alert_ids) == 2
        assert [file.name for file in (tmp_path / "evidence").iterdir()] == ["a-new.json"]
    finally:
        await outbox.close()


async def test_the_housekeeping_job_prunes_bundles_after_retention(tmp_path: Path) -> None:
    outbox = AsyncOutbox(Outbox(tmp_path / "o.sqlite3"))
    evidence = store(tmp_path / "evidence")
    gone = evidence.write("a-gone", {"samples": []})  # its alert has no row
    job = asyncio.create_task(
        Housekeeping(outbox, evidence, monotonic=asyncio.get_running_loop().time).run()
    )
    try:
        async with asyncio.timeout(5):
            while gone.exists():
                await asyncio.sleep(0.01)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        await outbox.close()
