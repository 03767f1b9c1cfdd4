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
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from gateway.aio import wait_event
from gateway.domain import NS_PER_S, Lane, Point

logger = logging.getLogger(__name__)
T = TypeVar("T")


class PointNotReadError(LookupError):
    """A row read for a sink that sends stored lines was asked for its point: that read takes
    the row's line alone (see `Outbox.pending`)."""


class Stored:
    """A committed point, its outbox id (the order every sink delivers in) and its lane, with
    the point's line protocol when the outbox stored it at commit (see `Outbox.append`).

    Read for a sink that sends stored lines (`pending(..., lines=True)`), a row that has its
    line comes with that line alone: its JSON body is not read, and asking for its point raises
    PointNotReadError (the quarantine takes the body from the row itself). Reading and decoding
    a backlog's rows was about half of the gateway's CPU per point in a drain, and the body
    about a third of the read that was left (docs/performance.md, "Outage drain").
    """

    __slots__ = ("_body", "_point", "_time_ns", "id", "lane", "line")

    def __init__(self, id: int, point: Point, line: str | None = None) -> None:
        self.id = id
        self.lane = point.lane
        self.line = line
        self._point: Point | None = point
        self._body: str | None = None
        self._time_ns = point.time_ns

    @classmethod
    def lined(cls, rows: Iterable[_LinedRow], lane: Lane) -> list[Stored]:
        """Rows of one lane read as (id, line), their points not read.

        Made in one loop rather than by a call per row, which took twice as long: a drain
        makes 5,000 of them per batch (docs/performance.md, "Outage drain").
        """
        new = cls.__new__
        made: list[Stored] = []
        for row_id, line in rows:
            stored = new(cls)
            stored.id, stored.lane, stored.line = row_id, lane, line
            stored._point = stored._body = None
            made.append(stored)
        return made

    @property
    def point(self) -> Point:
        if self._point is None:
            if self._body is None:
                raise PointNotReadError(f"row {self.id} was read with its line alone")
            measurement, tags, fields = json.loads(self._body)
            self._point = Point(measurement, tags, fields, self._time_ns, self.lane)
        return self._point

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stored):
            return NotImplemented
        if self._unread or other._unread:  # no point to compare: the line stands for it
            return (self.id, self.lane, self.line) == (other.id, other.lane, other.line)
        # The line is the point's encoding, loaded or not: it does not make another row.
        return (self.id, self.point) == (other.id, other.point)

    @property
    def _unread(self) -> bool:
        return self._point is None and self._body is None

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        point = "not read" if self._unread else repr(self.point)
        return f"Stored({self.id!r}, {point}, line={self.line!r})"


class OutboxUnavailableError(Exception):
    """The outbox cannot be opened: a missing or unwritable directory, a path that is no file.
    The message names the path, for one line at start-up rather than a traceback."""


class OutboxFullError(Exception):
    """The outbox's file or disk is full and nothing is left to trim: nothing was committed."""


def _is_full(error: sqlite3.Error) -> bool:
    """SQLITE_FULL: the disk, or the database's size limit (`PRAGMA max_page_count`), is full."""
    return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_FULL


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
    body TEXT NOT NULL,
    line TEXT
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
# Rows deleted at a time to make room in a full outbox, retrying the commit after each: about
# 100 KB of telemetry, room for an alert commit, without emptying a small outbox at once.
ROOM_SLICE: Final = 500
# What a quarantined row weighs: its text (SUM over a table kept small by its own cap, so the
# scan is cheap), which approximates the pages it takes.
_QUARANTINE_BYTES: Final = (
    "SELECT COALESCE(SUM(length(body) + length(reason) + length(sink)), 0) FROM quarantine"
)
# An alert commit of up to this many rows is one INSERT statement (see Outbox.append); a larger
# one (a shutdown's last commit) is a transaction, within SQLite's limit on parameters.
ONE_STATEMENT_ROWS: Final = 100
_INSERT: Final = "INSERT INTO points (lane, time_ns, accepted_ns, body, line) VALUES "
_ROW: Final = "(?, ?, ?, ?, ?)"
# A sink's next rows in one lane: past its cursor, or past a given id if further on.
_PAST_CURSOR: Final = (
    "FROM points p JOIN cursors c ON c.sink = ? AND c.lane = p.lane "
    "WHERE p.lane = ? AND p.id > MAX(c.last_id, ?) ORDER BY p.id LIMIT ?"
)
_READ: Final = "SELECT p.id, p.lane, p.time_ns, p.body " + _PAST_CURSOR
# For a sink that sends stored lines: each row's id and line, then the bodies of the rows that
# have none, if any. A drain reads 5,000 rows a batch; their bodies were a third of the read.
_LINED_READ: Final = "SELECT p.id, p.line " + _PAST_CURSOR
_UNLINED_READ: Final = (
    "SELECT id, lane, time_ns, body FROM points "
    "WHERE lane = ? AND id BETWEEN ? AND ? AND line IS NULL ORDER BY id"
)
# What a sink sends for each point, stored with its row at commit (None: the point cannot be
# encoded so; the sink then refuses it at delivery, and it is quarantined there).
LineOf = Callable[[Sequence[Point]], list[str | None]]


# One encoder for every row: json.dumps with options builds a new JSONEncoder per call.
_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _encode(point: Point) -> str:
    return _JSON.encode([point.measurement, point.tags, point.fields])


def _decode(row_id: int, lane: int, time_ns: int, body: str) -> Stored:
    measurement, tags, fields = json.loads(body)
    return Stored(row_id, Point(measurement, tags, fields, time_ns, Lane(lane)))


_Row = tuple[int, int, int, str]  # id, lane, time_ns, body
_NewRow = tuple[int, int, int, str, str | None]  # lane, time_ns, accepted_ns, body, line
_LinedRow = tuple[int, str | None]  # id, line
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


def _roll_back(db: sqlite3.Connection) -> None:
    """Roll back the transaction a failed statement left open, if it left one: on SQLITE_FULL
    (and I/O errors) SQLite has already rolled it back, and a ROLLBACK then fails in turn,
    hiding the first error behind "cannot rollback - no transaction is active"."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def _owner_only(path: Path) -> None:
    """Make the outbox file mode 0600 whatever the umask, and any journal a crash left behind.

    SQLite creates the -wal and -shm files with the database file's mode.
    """
    path.touch(mode=0o600, exist_ok=True)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)


def _open(path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """The outbox's two connections (NORMAL and FULL sync), the file made 0600 and its schema
    current; raises OSError or sqlite3.Error when the file or its directory cannot be had."""
    if path.exists() and not path.is_file():
        raise OutboxUnavailableError(f"outbox {path} cannot be opened: it is not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    _owner_only(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # WAL: readers (sinks) never block the writer (the pipeline), and a commit is one
    # sequential append. NORMAL sync is crash-safe for the process in WAL mode; alerts
    # commit with FULL so they survive a power cut too, through their own connection (see
    # append()). Both are used on one thread, one after the other.
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":  # SQLite could not make the -wal file: the directory is not writable
        raise OutboxUnavailableError(
            f"outbox {path} cannot be opened: its directory {path.parent} is not writable"
        )
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(points)")}
    if "line" not in columns:
        # An outbox from before lines were stored: its rows keep NULL and are encoded at
        # delivery, as they were. Adding a nullable column rewrites no row.
        db.execute("ALTER TABLE points ADD COLUMN line TEXT")
    full_db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    full_db.execute("PRAGMA synchronous=FULL")
    return db, full_db


class Outbox:
    """The SQLite file and the operations on it (synchronous; see AsyncOutbox)."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age_s: float = 30 * 86400,
        quarantine_max_bytes: int = 16 * 1024 * 1024,
        clock_ns: Callable[[], int] = time.time_ns,
        line_of: LineOf | None = None,
    ) -> None:
        """`line_of`: the line protocol stored with each row at commit, for a sink that sends
        it (InfluxDB); a backlog's rows are then not encoded again on every drain read.
        `max_bytes` caps the points, `quarantine_max_bytes` the quarantine, each on its own."""
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.quarantine_max_bytes = quarantine_max_bytes
        self._clock_ns = clock_ns
        self._line_of = line_of
        try:
            self._db, self._full_db = _open(path)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxUnavailableError(f"outbox {path} cannot be opened: {exc}") from exc
        self._sinks: set[str] = {
            row[0] for row in self._db.execute("SELECT DISTINCT sink FROM cursors")
        }
        # The alert lane's last id, kept by the one writer: with it a commit's alert rows say
        # which alert row they follow (AlertCommit), so delivery loops can take them as they
        # are committed instead of reading them back (gateway/handoff.py).
        self.last_alert_id = self._max_id(Lane.ALERT)

    def close(self) -> None:
        self._full_db.close()
        self._db.close()

    # --- writing ----------------------------------------------------------------------------

    def append(self, points: Sequence[Point]) -> list[int]:
        """Commit `points` in one transaction and return their ids; only then are they accepted.

        A commit with an alert row goes through the synchronous=FULL connection, and when small
        as one INSERT statement, its own transaction: the worker thread lets the GIL go for
        each SQLite call and must wait for it after each, up to a switch interval when the
        event loop is busy, so one call instead of six (with the sync settings switched there
        and back) takes the waits out of an alert's commit.
        """
        if not points:
            return []
        now = self._clock_ns()
        lines = [None] * len(points) if self._line_of is None else self._line_of(points)
        rows = [
            (int(p.lane), p.time_ns, now, _encode(p), line)
            for p, line in zip(points, lines, strict=True)
        ]
        urgent = any(point.lane is Lane.ALERT for point in points)
        try:
            ids = self._write(rows, urgent=urgent)
        except sqlite3.Error as exc:
            if not _is_full(exc):
                raise
            ids = self._write_making_room(rows, urgent=urgent)
        if urgent:
            self.last_alert_id = max(
                row_id for row_id, p in zip(ids, points, strict=True) if p.lane is Lane.ALERT
            )
        return ids

    def _write(self, rows: list[_NewRow], *, urgent: bool) -> list[int]:
        """The rows committed, their ids: an alert commit small enough as one statement."""
        if urgent and len(rows) <= ONE_STATEMENT_ROWS:
            values = ", ".join([_ROW] * len(rows))
            cursor = self._full_db.execute(_INSERT + values, [v for row in rows for v in row])
            # One statement holds the write lock throughout, so its ids are consecutive.
            last = cursor.lastrowid
            assert last is not None  # an INSERT sets it
            return list(range(last - len(rows) + 1, last + 1))
        return self._insert(self._full_db if urgent else self._db, rows)

    def _write_making_room(self, rows: list[_NewRow], *, urgent: bool) -> list[int]:
        """After SQLITE_FULL: trim a slice (`make_room`), retry, until the rows fit; raises
        OutboxFullError once nothing is left to trim (or trimming itself finds no room)."""
        while True:
            try:
                trimmed = self.make_room()
            except sqlite3.Error as exc:
                if not _is_full(exc):
                    raise
                # A delete writes to the WAL too: on a full disk with no WAL space to reuse
                # (a new outbox, or its WAL just truncated), nothing can be deleted either.
                raise OutboxFullError(
                    f"outbox {self.path} is full, and deleting rows to make room needs room too"
                ) from exc
            if not trimmed:
                raise OutboxFullError(f"outbox {self.path} is full and nothing is left to trim")
            logger.warning("outbox %s is full: %d rows trimmed to make room", self.path, trimmed)
            try:
                return self._write(rows, urgent=urgent)
            except sqlite3.Error as exc:
                if not _is_full(exc):
                    raise

    def _insert(self, db: sqlite3.Connection, rows: list[_NewRow]) -> list[int]:
        """The rows in one transaction on `db`; their ids."""
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_INSERT + _ROW, rows)
            # One writer holds the IMMEDIATE lock, so this transaction's ids are consecutive.
            last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            db.execute("COMMIT")
        except BaseException:
            _roll_back(db)
            raise
        return list(range(last - len(rows) + 1, last + 1))

    def make_room(self) -> int:
        """Delete one slice of what matters least, oldest first: telemetry every sink
        delivered, else undelivered telemetry, else quarantined points. Alerts and events are
        never deleted for room. Returns the rows deleted (0: nothing left to trim)."""
        delivered = self._delivered_floor(Lane.TELEMETRY)
        for last in (delivered, self._max_id(Lane.TELEMETRY)):
            removed = self._delete_where(
                "id IN (SELECT id FROM points WHERE lane = ? AND id <= ? ORDER BY id LIMIT ?)",
                (int(Lane.TELEMETRY), last, ROOM_SLICE),
            )
            if removed:
                return removed
        cursor = self._db.execute(
            "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?)",
            (ROOM_SLICE,),
        )
        return cursor.rowcount

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

    def keep_sinks(self, configured: Iterable[str]) -> list[str]:
        """Drop the cursors of every sink not in `configured`; the names dropped, sorted.

        A sink removed from the configuration never delivers again: its cursor would hold
        every row back from age-based retention forever. On a full disk (OutboxFullError) the
        cursors stay, for the next start to drop.
        """
        gone = sorted(self._sinks - set(configured))
        try:
            self._db.executemany("DELETE FROM cursors WHERE sink = ?", [(sink,) for sink in gone])
        except sqlite3.Error as exc:
            if not _is_full(exc):
                raise
            raise OutboxFullError(f"outbox {self.path} is full: {', '.join(gone)} kept") from exc
        self._sinks -= set(gone)
        return gone

    def cursor(self, sink: str, lane: Lane) -> int | None:
        """The last id `sink` has delivered in `lane` (None: it does not read that lane)."""
        row = self._db.execute(
            "SELECT last_id FROM cursors WHERE sink = ? AND lane = ?", (sink, int(lane))
        ).fetchone()
        return None if row is None else int(row[0])

    def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = tuple(Lane),
        after: Mapping[Lane, int] | None = None,
        lines: bool = False,
    ) -> list[Stored]:
        """The next points `sink` has not delivered: higher-priority lanes first, each in order.

        `after` reads a lane past that id rather than past the sink's cursor (never before the
        cursor): a sink reading its next batch while the one before is still unacknowledged.
        `lines`: for a sink that sends stored lines; rows that have one come with it alone,
        their points not read (see `Stored`).
        """
        after = after or {}
        found: list[Stored] = []
        for lane in sorted(lanes):
            if len(found) >= limit:
                break
            parameters = (sink, int(lane), after.get(lane, 0), limit - len(found))
            if lines:
                found += self._lined(self._db.execute(_LINED_READ, parameters).fetchall(), lane)
            else:
                found += _decode_rows(self._db.execute(_READ, parameters).fetchall())
        return found

    def _lined(self, rows: list[_LinedRow], lane: Lane) -> list[Stored]:
        """Rows of one lane as `Stored`, in order: those with a line as read, the others (from
        an outbox older than stored lines, or a point line protocol cannot carry) decoded."""
        unlined = [row_id for row_id, line in rows if line is None]
        if not unlined:  # a backlog committed with lines
            return Stored.lined(rows, lane)
        decoded = {
            item.id: item
            for item in _decode_rows(
                self._db.execute(_UNLINED_READ, (int(lane), unlined[0], unlined[-1])).fetchall()
            )
        }
        lined = iter(Stored.lined([row for row in rows if row[1] is not None], lane))
        return [next(lined) if line is not None else decoded[row_id] for row_id, line in rows]

    def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        """Record delivery: a sink delivers in order, so each lane cursor moves to its last id.

        Raises OutboxFullError when the disk has no room for the move. A cursor only moves
        forward (MAX), so the same call made again later completes it, whichever lanes moved.
        No transaction around it: one statement per lane, and most batches are one lane.
        """
        try:
            self._move_cursors(sink, delivered)
        except sqlite3.Error as exc:
            _roll_back(self._db)
            if not _is_full(exc):
                raise
            raise OutboxFullError(
                f"outbox {self.path} is full: the cursor of {sink} cannot move"
            ) from exc

    def _move_cursors(self, sink: str, delivered: Sequence[Stored]) -> None:
        last: dict[Lane, int] = {}
        for item in delivered:
            last[item.lane] = max(last.get(item.lane, 0), item.id)
        self._db.executemany(
            "UPDATE cursors SET last_id = MAX(last_id, ?) WHERE sink = ? AND lane = ?",
            [(row_id, sink, int(lane)) for lane, row_id in last.items()],
        )

    def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None:
        """Set aside points a sink refused as bad data (kept for inspection), then move on.

        The rows and the cursor move are one transaction: on a full disk (OutboxFullError)
        neither is stored, and the points are sent, refused and set aside again later. Each
        keeps its row's JSON, taken from the row: a row read with its line alone has no point
        in hand. A row trimmed since it was read (a full outbox) has nothing left to keep.
        """
        now = self._clock_ns()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO quarantine (sink, point_id, reason, quarantined_ns, body) "
                "SELECT ?, id, ?, ?, body FROM points WHERE id = ?",
                [(sink, reason, now, item.id) for item in rejected],
            )
            self._move_cursors(sink, rejected)
            self._db.execute("COMMIT")
        except BaseException as exc:
            _roll_back(self._db)
            if isinstance(exc, sqlite3.Error) and _is_full(exc):
                raise OutboxFullError(
                    f"outbox {self.path} is full: {len(rejected)} refused point(s) not set aside"
                ) from exc
            raise

    # --- housekeeping -----------------------------------------------------------------------

    def enforce_retention(self) -> int:
        """Delete what every sink delivered and has aged out, then trim to the byte caps.

        The quarantine is trimmed to `quarantine_max_bytes` (oldest first) and does not count
        toward `max_bytes`, so refused points can never push the points out. Points over
        `max_bytes` go oldest telemetry first, then events, then alerts every sink delivered:
        an alert a sink still has to deliver is never deleted, a full disk must cost the
        supervisors' history before it costs an alarm. Returns the number of rows deleted.
        """
        deleted = 0
        cutoff = self._clock_ns() - int(self.max_age_s * NS_PER_S)
        for lane in Lane:
            floor = self._delivered_floor(lane)
            deleted += self._delete_where(
                "lane = ? AND id <= ? AND accepted_ns < ?", (int(lane), floor, cutoff)
            )
        deleted += self._trim_quarantine()
        # What the quarantine weighs does not change while points are trimmed: read it once.
        quarantined = int(self._db.execute(_QUARANTINE_BYTES).fetchone()[0])
        for lane in sorted(Lane, reverse=True):
            # Every lane has a last id to delete up to: alerts stop at what all sinks delivered.
            last = self._delivered_floor(lane) if lane is Lane.ALERT else self._max_id(lane)
            while (points := self.size_bytes() - quarantined) > self.max_bytes:
                removed = self._delete_where(
                    "id IN (SELECT id FROM points WHERE lane = ? AND id <= ? ORDER BY id LIMIT ?)",
                    (int(lane), last, self._rows_for(points - self.max_bytes, points)),
                )
                if not removed:
                    break
                deleted += removed
        return deleted

    def _trim_quarantine(self) -> int:
        """Delete the oldest quarantined rows beyond `quarantine_max_bytes`; how many went."""
        if self._db.execute(_QUARANTINE_BYTES).fetchone()[0] <= self.quarantine_max_bytes:
            return 0
        # The newest rows whose running total fits are kept; the last row that does not fit
        # marks where deleting stops.
        cursor = self._db.execute(
            "DELETE FROM quarantine WHERE id <= ("
            " SELECT id FROM ("
            "  SELECT id, SUM(length(body) + length(reason) + length(sink))"
            "   OVER (ORDER BY id DESC) AS kept FROM quarantine"
            " ) WHERE kept > ? ORDER BY id DESC LIMIT 1)",
            (self.quarantine_max_bytes,),
        )
        return cursor.rowcount

    def _rows_for(self, excess_bytes: int, points_bytes: int) -> int:
        """About how many rows free `excess_bytes` (by the mean row size), within one slice."""
        rows = self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0] or 1
        mean = max(1, points_bytes // rows)
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

    def _max_id(self, lane: Lane | None = None) -> int:
        if lane is None:
            row = self._db.execute("SELECT MAX(id) FROM points").fetchone()
        else:
            row = self._db.execute(
                "SELECT MAX(id) FROM points WHERE lane = ?", (int(lane),)
            ).fetchone()
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

    def alert_ids(self) -> set[str]:
        """The ids of the alerts that still have a row (their evidence files are kept)."""
        rows = self._db.execute(
            "SELECT DISTINCT json_extract(body, '$[2].alert_id') FROM points WHERE lane = ?",
            (int(Lane.ALERT),),
        ).fetchall()
        return {row[0] for row in rows if isinstance(row[0], str)}

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


@dataclass(frozen=True, slots=True)
class AlertCommit:
    """The alert rows of one commit, in id order, and the alert lane's last id before them."""

    rows: tuple[Stored, ...]
    after_id: int


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
        # Called on the loop, in commit order, with the alert rows of each commit that has any
        # (gateway/handoff.py gives them to delivery loops without a read of the outbox).
        self.alert_listeners: list[Callable[[AlertCommit], None]] = []
        # Calls queued on or running in the worker thread, for `settled`.
        self._queued = 0
        self._settled = asyncio.Event()
        self._settled.set()
        # An alert's commit syncs the WAL (synchronous=FULL), and with it every telemetry commit
        # written since the last sync (NORMAL syncs nothing): 0.8 s of a vehicle's telemetry
        # doubled an alert's commit. So after each commit without an alert the WAL is synced on
        # a thread of its own, where nothing waits for it; the alert's sync finds little to do.
        self._wal_sync_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-sync")
        self._wal = os.open(f"{outbox.path}-wal", os.O_RDONLY)  # SQLite made it (WAL mode)
        self._wal_syncing = False

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        self._queued += 1
        self._settled.clear()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, function, *args)
        finally:
            self._queued -= 1
            if not self._queued:
                self._settled.set()

    async def settled(self, timeout_s: float) -> None:
        """Wait until nothing is queued on or running in the worker thread, or `timeout_s`.

        While the event loop runs Python code, that thread gets the GIL back only once per
        switch interval, at every SQLite call; a task that keeps the loop busy waits here so
        the thread's work runs at full speed (Pipeline.run).
        """
        await wait_event(self._settled, timeout_s)

    async def append(self, points: Sequence[Point]) -> list[int]:
        ids, alerts = await self._run(self._append, points)
        if alerts is None:
            self._sync_wal()
        else:
            for listener in self.alert_listeners:
                listener(alerts)
        return ids

    def _sync_wal(self) -> None:
        """fdatasync the WAL in the background, unless a sync is already under way."""
        if self._wal_syncing:
            return
        self._wal_syncing = True
        loop = asyncio.get_running_loop()
        synced = loop.run_in_executor(self._wal_sync_executor, os.fdatasync, self._wal)
        synced.add_done_callback(self._wal_synced)

    def _wal_synced(self, synced: asyncio.Future[None]) -> None:
        self._wal_syncing = False
        if not synced.cancelled() and (error := synced.exception()) is not None:
            # SQLite's own sync at the next alert meets the same error and refuses the commit.
            logger.warning("background sync of the outbox's WAL failed: %s", error)

    def _append(self, points: Sequence[Point]) -> tuple[list[int], AlertCommit | None]:
        """On the worker thread: the commit, and its alert rows with the alert row before them."""
        after_id = self.outbox.last_alert_id
        ids = self.outbox.append(points)
        if self.outbox.last_alert_id == after_id:
            return ids, None
        rows = zip(ids, points, strict=True)
        return ids, AlertCommit(
            tuple(Stored(i, point) for i, point in rows if point.lane is Lane.ALERT), after_id
        )

    async def register_sink(self, sink: str, lanes: Iterable[Lane] = tuple(Lane)) -> None:
        await self._run(lambda: self.outbox.register_sink(sink, lanes=tuple(lanes)))

    async def cursor(self, sink: str, lane: Lane) -> int | None:
        return await self._run(self.outbox.cursor, sink, lane)

    async def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = tuple(Lane),
        after: Mapping[Lane, int] | None = None,
        lines: bool = False,
    ) -> list[Stored]:
        return await self._run(self.outbox.pending, sink, limit, tuple(lanes), after, lines)

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        await self._run(self.outbox.acknowledge, sink, delivered)

    async def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None:
        await self._run(self.outbox.quarantine, sink, rejected, reason)

    async def alert_rows(self) -> list[Point]:
        return await self._run(self.outbox.alert_rows)

    async def enforce_retention(self) -> int:
        return await self._run(self.outbox.enforce_retention)

    async def alert_ids(self) -> set[str]:
        return await self._run(self.outbox.alert_ids)

    async def stats(self) -> OutboxStats:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stats_executor, self.outbox.stats, self._stats_db)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._stats_executor, self._stats_db.close)
        self._stats_executor.shutdown(wait=True)
        self._wal_sync_executor.shutdown(wait=True)
        os.close(self._wal)
        await self._run(self.outbox.close)
        self._executor.shutdown(wait=True)
