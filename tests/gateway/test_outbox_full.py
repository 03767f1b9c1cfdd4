"""A full outbox: telemetry is trimmed to make room for what matters, and when nothing is left to
trim the commit fails cleanly (OutboxFullError), leaving the outbox usable once room returns.

The full disk is a real SQLite full condition: `PRAGMA max_page_count` caps the database's
size, and SQLite refuses a write past it with SQLITE_FULL, as it does when the disk is full.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.domain import Lane, Point
from gateway.outbox import Outbox, OutboxFullError, OutboxUnavailableError


def telemetry(n: int) -> Point:
    return Point("activity", {"officer": "o1"}, {"pad": "t" * 200, "n": n}, n)


def alert(n: int) -> Point:
    return Point(
        "alert", {"officer": "o1"}, {"alert_id": f"a{n}", "pad": "a" * 2000}, n, Lane.ALERT
    )


def cap_at_current_size(outbox: Outbox, extra_pages: int = 0) -> None:
    """Let the database grow no further: SQLITE_FULL on any write that needs a new page.

    The limit is per connection; the outbox writes through two.
    """
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0] + extra_pages
    for db in (outbox._db, outbox._full_db):
        db.execute(f"PRAGMA max_page_count = {pages}")


def undelivered(outbox: Outbox, sink: str, lane: Lane) -> int:
    return outbox.stats().pending[sink][lane].pending


def test_a_full_outbox_trims_delivered_telemetry_to_commit_an_alert(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("influx")
    outbox.append([telemetry(n) for n in range(3000)])
    outbox.acknowledge("influx", outbox.pending("influx", 1000))
    cap_at_current_size(outbox)
    with pytest.raises(sqlite3.OperationalError):  # the cap is real: nothing else fits
        outbox._db.execute("INSERT INTO points VALUES (NULL, 2, 0, 0, ?, NULL)", ("x" * 50_000,))
    ids = outbox.append([alert(n) for n in range(20)])
    assert [item.id for item in outbox.pending("influx", 20)] == ids
    assert undelivered(outbox, "influx", Lane.TELEMETRY) == 2000  # only delivered rows went
    assert outbox.stats().rows < 3000 + 20


def test_then_undelivered_telemetry_oldest_first_then_the_quarantine(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("influx")
    outbox.append([telemetry(n) for n in range(2000)])
    cap_at_current_size(outbox)
    first = outbox.append([alert(n) for n in range(20)])
    left = outbox.pending("influx", 10_000, lanes=(Lane.TELEMETRY,))
    assert left[-1].id == 2000  # the newest telemetry stays
    assert left[0].id > 1  # the oldest went
    # Now only quarantined rows are left to trim.
    cap_at_current_size(outbox, extra_pages=10_000)
    outbox.quarantine("influx", left, "400: refused")
    outbox._db.execute("DELETE FROM points WHERE lane = ?", (int(Lane.TELEMETRY),))
    outbox._db.execute("VACUUM")  # no free pages left behind by that delete
    quarantined = outbox.stats().quarantined
    cap_at_current_size(outbox)
    second = outbox.append([alert(n) for n in range(20, 60)])
    assert outbox.stats().quarantined < quarantined
    assert [item.id for item in outbox.pending("influx", 100)] == first + second


def test_with_nothing_left_to_trim_the_commit_fails_cleanly_and_recovers(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("dispatch", lanes=(Lane.ALERT,))
    outbox.append([alert(n) for n in range(50)])
    cap_at_current_size(outbox)
    # 150 rows: a transaction (BEGIN, INSERTs, COMMIT), which SQLITE_FULL rolls back itself.
    with pytest.raises(OutboxFullError, match=str(tmp_path)):
        outbox.append([alert(n) for n in range(50, 200)])
    with pytest.raises(OutboxFullError):
        outbox.append([alert(200)])  # one statement
    assert not outbox._db.in_transaction
    assert not outbox._full_db.in_transaction
    cap_at_current_size(outbox, extra_pages=1000)  # room again
    ids = outbox.append([alert(n) for n in range(50, 200)])
    assert [item.id for item in outbox.pending("dispatch", 1000)][-150:] == ids
    assert outbox.stats().rows == 200


def test_an_outbox_path_that_is_a_directory_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "outbox.sqlite3"
    folder.mkdir()
    before = folder.stat().st_mode
    with pytest.raises(OutboxUnavailableError, match=f"outbox {folder} cannot be opened"):
        Outbox(folder)
    assert folder.stat().st_mode == before  # left as it was, not made 0600


def test_an_outbox_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    path = tmp_path / "state" / "outbox.sqlite3"
    with pytest.raises(OutboxUnavailableError, match=f"outbox {path} cannot be opened"):
        Outbox(path)


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A directory its user cannot create files in: mode 0500, or for root (who ignores modes)
    immutable (`chattr +i`; skipped where the filesystem has no such attribute)."""
    folder = tmp_path / "state"
    Outbox(folder / "outbox.sqlite3").close()  # the file is there; its -wal cannot be made
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode:
        pytest.skip("root ignores modes, and this filesystem has no immutable attribute")
    try:
        yield folder
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_an_outbox_whose_directory_is_not_writable_is_one_clear_error(unwritable: Path) -> None:
    path = unwritable / "outbox.sqlite3"
    with pytest.raises(OutboxUnavailableError, match=f"outbox {path} cannot be opened: "):
        Outbox(path)
