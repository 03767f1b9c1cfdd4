"""The durable outbox: every accepted point is committed here first; sinks deliver from it.

SQLite in WAL mode, one file. A point is accepted only once its transaction commits, so a crash
(even `kill -9`) loses nothing that was accepted. Each sink keeps a cursor per lane and reads in
id order, so a backlog is replayed in order after an outage or a restart. Alerts have their own
lane, read first by every sink and dropped last by retention.

The class is synchronous and not thread-safe; the asyncio side runs it on one worker thread
(`AsyncOutbox`), so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from gateway.domain import NS_PER_S, Lane, Point

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stored:
    """A committed point and its outbox id (the order every sink delivers in)."""

    id: int
    point: Point


@dataclass(frozen=True)
class LaneStats:
    pending: int
    oldest_age_s: float | None


@dataclass(frozen=True)
class OutboxStats:
    rows: int
    bytes: int
    quarantined: int
    # sink -> lane -> what that sink has not delivered yet
    pending: dict[str, dict[Lane, LaneStats]]


SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lane INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    accepted_ns INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_lane_id ON points (lane, id);
CREATE TABLE IF NOT EXISTS cursors (
    sink TEXT NOT NULL,
    lane INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (sink, lane)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    point_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    quarantined_ns INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""
# Rows are deleted in slices so one retention pass never holds the write lock for long.
RETENTION_SLICE: Final = 5000


def _encode(point: Point) -> str:
    return json.dumps(
        [point.measurement, point.tags, point.fields], separators=(",", ":"), ensure_ascii=False
    )


def _decode(row_id: int, lane: int, time_ns: int, body: str) -> Stored:
    measurement, tags, fields = json.loads(body)
    return Stored(row_id, Point(measurement, tags, fields, time_ns, Lane(lane)))


_Row = tuple[int, int, int, str]  # id, lane, time_ns, body
_LANES: Final = {int(lane): lane for lane in Lane}


def _decode_rows(rows: Sequence[_Row]) -> list[Stored]:
    """Rows as points, the same as `_decode` makes them, for less work on a backlog.

    Thousands of rows share a few dozen series. Each body is split where `},{` first occurs:
    its head (`["measurement",{tags}`) is decoded once per distinct head, and those points share
    its tags dict; the rests (`{fields}`) are decoded together in one call. A split inside a
    string leaves a head that `]` cannot complete into valid JSON, and JSON reads a prefix the
    same whatever follows it, so a head that decodes to [str, dict] is the body's own; if one
    does not, the rows are decoded one by one.
    """
    heads: dict[str, tuple[str, dict[str, str]] | None] = {}
    series: list[tuple[str, dict[str, str]]] = []
    rests: list[str] = []
    for _, _, _, body in rows:
        cut = body.find("},{") + 1
        head = body[:cut]
        if head not in heads:
            heads[head] = _decode_head(head) if cut else None
        known = heads[head]
        if known is None or body[-1] != "]":
            return [_decode(*row) for row in rows]
        series.append(known)
        rests.append(body[cut + 1 : -1])
    fields = json.loads("[" + ",".join(rests) + "]")
    return [
        Stored(row_id, Point(measurement, tags, row_fields, time_ns, _LANES[lane]))
        for (row_id, lane, time_ns, _), (measurement, tags), row_fields in zip(
            rows, series, fields, strict=True
        )
    ]


def _decode_head(head: str) -> tuple[str, dict[str, str]] | None:
    """`["measurement",{tags}` as its two values, or None if it is not exactly that."""
    try:
        values = json.loads(head + "]")
    except ValueError:
        return None
    if len(values) == 2 and isinstance(values[0], str) and isinstance(values[1], dict):
        return values[0], values[1]
    return None


def _owner_only(path: Path) -> None:
    """Make the outbox file mode 0600 whatever the umask, and any journal a crash left behind.

    SQLite creates the -wal and -shm files with the database file's mode.
    """
    path.touch(mode=0o600, exist_ok=True)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)


class Outbox:
    """The SQLite file and the operations on it (synchronous; see AsyncOutbox)."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age_s: float = 30 * 86400,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock_ns = clock_ns
        path.parent.mkdir(parents=True, exist_ok=True)
        _owner_only(path)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL: readers (sinks) never block the writer (the pipeline), and a commit is one
        # sequential append. NORMAL sync is crash-safe for the process in WAL mode; alerts
        # commit with FULL so they survive a power cut too (see append()).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._sinks: set[str] = {
            row[0] for row in self._db.execute("SELECT DISTINCT sink FROM cursors")
        }

    def close(self) -> None:
        self._db.close()

    # --- writing ----------------------------------------------------------------------------

    def append(self, points: Sequence[Point]) -> list[int]:
        """Commit `points` in one transaction and return their ids; only then are they accepted."""
        if not points:
            return []
        now = self._clock_ns()
        urgent = any(point.lane is Lane.ALERT for point in points)
        if urgent:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO points (lane, time_ns, accepted_ns, body) VALUES (?, ?, ?, ?)",
                [(int(p.lane), p.time_ns, now, _encode(p)) for p in points],
            )
            # One writer holds the IMMEDIATE lock, so this transaction's ids are consecutive.
            last = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
            self._db.execute("COMMIT")
            ids = list(range(last - len(points) + 1, last + 1))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        finally:
            if urgent:
                self._db.execute("PRAGMA synchronous=NORMAL")
        return ids

    # --- sinks ------------------------------------------------------------------------------

    def register_sink(
        self, sink: str, *, from_start: bool = False, lanes: Iterable[Lane] = tuple(Lane)
    ) -> None:
        """A new sink starts at the current end (or at the oldest row kept, if `from_start`).

        A sink reads only its `lanes` (dispatch webhooks read alerts alone); lanes it does not
        read hold nothing back from retention.
        """
        if sink in self._sinks:
            return
        start = 0 if from_start else self._max_id()
        self._db.executemany(
            "INSERT OR IGNORE INTO cursors (sink, lane, last_id) VALUES (?, ?, ?)",
            [(sink, int(lane), start) for lane in lanes],
        )
        self._sinks.add(sink)

    def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = tuple(Lane),
        after: Mapping[Lane, int] | None = None,
    ) -> list[Stored]:
        """The next points `sink` has not delivered: higher-priority lanes first, each in order.

        `after` reads a lane past that id rather than past the sink's cursor (never before the
        cursor): a sink reading its next batch while the one before is still unacknowledged.
        """
        after = after or {}
        found: list[Stored] = []
        for lane in sorted(lanes):
            if len(found) >= limit:
                break
            rows = self._db.execute(
                "SELECT p.id, p.lane, p.time_ns, p.body FROM points p "
                "JOIN cursors c ON c.sink = ? AND c.lane = p.lane "
                "WHERE p.lane = ? AND p.id > MAX(c.last_id, ?) ORDER BY p.id LIMIT ?",
                (sink, int(lane), after.get(lane, 0), limit - len(found)),
            ).fetchall()
            found += _decode_rows(rows)
        return found

    def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        """Record delivery: a sink delivers in order, so each lane cursor moves to its last id."""
        last: dict[Lane, int] = {}
        for item in delivered:
            last[item.point.lane] = max(last.get(item.point.lane, 0), item.id)
        self._db.executemany(
            "UPDATE cursors SET last_id = MAX(last_id, ?) WHERE sink = ? AND lane = ?",
            [(row_id, sink, int(lane)) for lane, row_id in last.items()],
        )

    def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None:
        """Set aside points a sink refused as bad data (kept for inspection), then move on."""
        now = self._clock_ns()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT INTO quarantine (sink, point_id, reason, quarantined_ns, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [(sink, item.id, reason, now, _encode(item.point)) for item in rejected],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self.acknowledge(sink, rejected)

    # --- housekeeping -----------------------------------------------------------------------

    def enforce_retention(self) -> int:
        """Delete what every sink delivered and has aged out, then trim to `max_bytes`.

        Trimming drops the oldest telemetry first, then events, and alerts only when nothing
        else is left: a full disk must cost the supervisors' history before it costs an alarm.
        Returns the number of rows deleted.
        """
        deleted = 0
        cutoff = self._clock_ns() - int(self.max_age_s * NS_PER_S)
        for lane in Lane:
            floor = self._delivered_floor(lane)
            deleted += self._delete_where(
                "lane = ? AND id <= ? AND accepted_ns < ?", (int(lane), floor, cutoff)
            )
        for lane in sorted(Lane, reverse=True):
            while (excess := self.size_bytes() - self.max_bytes) > 0:
                removed = self._delete_where(
                    "id IN (SELECT id FROM points WHERE lane = ? ORDER BY id LIMIT ?)",
                    (int(lane), self._rows_for(excess)),
                )
                if not removed:
                    break
                deleted += removed
        return deleted

    def _rows_for(self, excess_bytes: int) -> int:
        """About how many rows free `excess_bytes` (by the mean row size), within one slice."""
        rows = self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0] or 1
        mean = max(1, self.size_bytes() // rows)
        return max(1, min(RETENTION_SLICE, -(-excess_bytes // mean)))

    def _delivered_floor(self, lane: Lane) -> int:
        row = self._db.execute(
            "SELECT MIN(last_id) FROM cursors WHERE lane = ?", (int(lane),)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else self._max_id()

    def _delete_where(self, condition: str, params: tuple[Any, ...]) -> int:
        cursor = self._db.execute(f"DELETE FROM points WHERE {condition}", params)  # noqa: S608 - fixed text
        return cursor.rowcount

    def size_bytes(self) -> int:
        page_count = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((page_count - free) * page_size)

    def _max_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM points").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def stats(self, db: sqlite3.Connection | None = None) -> OutboxStats:
        """Counts for metrics; `db` may be a second, read-only connection (see AsyncOutbox)."""
        db = db or self._db
        now = self._clock_ns()
        rows = db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        quarantined = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        pending: dict[str, dict[Lane, LaneStats]] = {}
        for sink, lane, last_id in db.execute("SELECT sink, lane, last_id FROM cursors").fetchall():
            count, oldest = db.execute(
                "SELECT COUNT(*), MIN(accepted_ns) FROM points WHERE lane = ? AND id > ?",
                (lane, last_id),
            ).fetchone()
            age = None if oldest is None else (now - oldest) / NS_PER_S
            pending.setdefault(sink, {})[Lane(lane)] = LaneStats(count, age)
        pages = [
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        ]
        return OutboxStats(rows, int((pages[0] - pages[1]) * pages[2]), quarantined, pending)

    def alert_rows(self) -> list[Point]:
        """Every alert-lane row still stored, in order (the engine restores state from them)."""
        rows = self._db.execute(
            "SELECT id, lane, time_ns, body FROM points WHERE lane = ? ORDER BY id",
            (int(Lane.ALERT),),
        ).fetchall()
        return [_decode(*row).point for row in rows]

    def all_points(self, batch: int = 10_000) -> Iterable[Stored]:
        """Every stored point in id order (for `bluewatch export`)."""
        last = 0
        while rows := self._db.execute(
            "SELECT id, lane, time_ns, body FROM points WHERE id > ? ORDER BY id LIMIT ?",
            (last, batch),
        ).fetchall():
            for row in rows:
                yield _decode(*row)
            last = rows[-1][0]


class AsyncOutbox:
    """The outbox behind one worker thread: SQLite calls never run on the event loop."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        # One thread: SQLite connections are not shared across threads, and writes serialize.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        # Statistics scan the table (tens of ms on a large backlog); they run on their own
        # thread and connection, so an alert's commit never queues behind a metrics refresh.
        # WAL lets this reader work while the writer commits.
        self._stats_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-stats")
        self._stats_db = sqlite3.connect(
            f"file:{outbox.path}?mode=ro", uri=True, check_same_thread=False
        )

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def append(self, points: Sequence[Point]) -> list[int]:
        return await self._run(self.outbox.append, points)

    async def register_sink(self, sink: str, lanes: Iterable[Lane] = tuple(Lane)) -> None:
        await self._run(lambda: self.outbox.register_sink(sink, lanes=tuple(lanes)))

    async def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = tuple(Lane),
        after: Mapping[Lane, int] | None = None,
    ) -> list[Stored]:
        return await self._run(self.outbox.pending, sink, limit, tuple(lanes), after)

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        await self._run(self.outbox.acknowledge, sink, delivered)

    async def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None:
        await self._run(self.outbox.quarantine, sink, rejected, reason)

    async def alert_rows(self) -> list[Point]:
        return await self._run(self.outbox.alert_rows)

    async def enforce_retention(self) -> int:
        return await self._run(self.outbox.enforce_retention)

    async def stats(self) -> OutboxStats:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stats_executor, self.outbox.stats, self._stats_db)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._stats_executor, self._stats_db.close)
        self._stats_executor.shutdown(wait=True)
        await self._run(self.outbox.close)
        self._executor.shutdown(wait=True)
