"""The assignments in force, kept in a small SQLite file beside the outbox so a restart keeps them.

A file of its own rather than a table in the outbox: the outbox's retention and byte cap drop
rows by age and size, its connection belongs to its worker thread, and `bluewatch export` reads
it as data; an assignment is state that lasts until it is ended. Each change is a single
statement committed with synchronous=FULL: an assignment that was answered survives a power cut.
The audit trail of the changes is the outbox's (`assignment` rows), not this file's.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.assignments import Assignment

SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    device   TEXT PRIMARY KEY,
    officer  TEXT NOT NULL,
    since_ns INTEGER NOT NULL,
    by       TEXT NOT NULL
);
"""


def store_path(outbox_path: Path) -> Path:
    """Where the assignments of the gateway whose outbox is `outbox_path` are kept."""
    return outbox_path.with_name(f"{outbox_path.stem}-assignments.sqlite3")


class AssignmentStore:
    """Load, save and delete assignments; every call commits before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Names officers and their devices: the gateway's user only, whatever the umask.
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def load(self) -> list[Assignment]:
        rows = self._db.execute(
            "SELECT device, officer, since_ns, by FROM assignments ORDER BY since_ns, device"
        )
        return [Assignment(device, officer, since_ns, by) for device, officer, since_ns, by in rows]

    def save(self, assignments: list[Assignment]) -> None:
        """Record `assignments` in one transaction: all or none."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO assignments (device, officer, since_ns, by) "
                "VALUES (?, ?, ?, ?)",
                [(a.device_id, a.officer_id, a.since_ns, a.by) for a in assignments],
            )

    def delete(self, device_id: str) -> None:
        self._db.execute("DELETE FROM assignments WHERE device = ?", (device_id,))

    def close(self) -> None:
        self._db.close()
