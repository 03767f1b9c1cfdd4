"""Committed alert rows handed straight to a delivery loop, instead of read back from the outbox.

A committed alert used to reach its sink by a second trip to the outbox's worker thread: the
commit woke the delivery loop, which read the row back before sending it. That thread shares
the GIL with a busy event loop, and waiting for it made much of the alert-latency tail
(docs/performance.md, "Alert latency"). An `AlertHandoff` stands in front of the outbox for one
delivery loop: `pending` answers with the alert rows handed over at their commit when they
directly follow the alert position the loop reads from, and reads the outbox otherwise. For a
sink of alerts alone (dispatch webhooks), it also answers "nothing" without a read when no alert
row was committed past that position: such a loop is woken by every telemetry commit, and its
empty reads kept the outbox's thread busy just when an alert's commit might queue behind them.

The outbox stays the source of truth: the cursor moves only through `acknowledge`, after
delivery; rows are handed over only after their commit; a row is taken only when no alert row
lies between the position read from and it (each commit says which alert row it follows), so
order holds; and nothing handed over outlives the process: after a restart the outbox replays
what was not acknowledged. The position read from is the sink's cursor, or, while a drain reads
its next batch ahead of the acknowledgement of the one in flight, the alert id that read starts
after (`pending`'s `after`): rows of the batch in flight are not handed over a second time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from gateway.domain import Lane
from gateway.outbox import AlertCommit, AsyncOutbox, Stored

# Alert rows held for a loop that does not take them (its sink is down, or a backlog is being
# read from the outbox): beyond this many, they are let go and the loop reads the outbox.
HANDOFF_LIMIT: Final = 1000


class AlertHandoff:
    """One delivery loop's view of the outbox, with the alert rows of recent commits in hand."""

    def __init__(self, outbox: AsyncOutbox, *, limit: int = HANDOFF_LIMIT) -> None:
        self._outbox = outbox
        self._limit = limit
        self._commits: deque[AlertCommit] = deque()
        self._held = 0
        # The sink's alert cursor as the outbox has it; None until read (or no alert lane).
        self._delivered: int | None = None
        self._alerts_only = False

    def committed(self, commit: AlertCommit) -> None:
        """Take the alert rows of a commit (an AsyncOutbox alert listener; on the loop)."""
        if self._held + len(commit.rows) > self._limit:
            self._commits.clear()
            self._held = 0
        self._commits.append(commit)
        self._held += len(commit.rows)

    # --- what the delivery loop calls, as it would on AsyncOutbox ---------------------------

    async def register_sink(self, sink: str, lanes: Iterable[Lane] = tuple(Lane)) -> None:
        lanes = tuple(lanes)
        await self._outbox.register_sink(sink, lanes)
        self._alerts_only = set(lanes) == {Lane.ALERT}
        self._delivered = await self._outbox.cursor(sink, Lane.ALERT)
        self._forget_delivered()

    async def pending(
        self,
        sink: str,
        limit: int,
        lanes: Iterable[Lane] = tuple(Lane),
        after: Mapping[Lane, int] | None = None,
        lines: bool = False,
    ) -> list[Stored]:
        """The handed-over alert rows that come next for the sink, else the outbox's answer.

        Alerts are the first lane read, so rows handed over are all a read would begin with
        (without stored lines: a sink sending lines encodes those few itself).
        """
        lanes = tuple(lanes)
        position = self._position(after or {})
        if Lane.ALERT in lanes and position is not None:
            handed = self._next(position, limit)
            if handed or (self._alerts_only and self._nothing_committed_past(position)):
                return handed
        return await self._outbox.pending(sink, limit, lanes, after, lines)

    async def acknowledge(self, sink: str, delivered: Sequence[Stored]) -> None:
        await self._outbox.acknowledge(sink, delivered)
        self._moved(delivered)

    async def quarantine(self, sink: str, rejected: Sequence[Stored], reason: str) -> None:
        await self._outbox.quarantine(sink, rejected, reason)
        self._moved(rejected)

    # --- bookkeeping --------------------------------------------------------------------------

    def _position(self, after: Mapping[Lane, int]) -> int | None:
        """The alert id a read starts after: the cursor, or past it where `after` says so."""
        if self._delivered is None:
            return None
        return max(self._delivered, after.get(Lane.ALERT, 0))

    def _next(self, position: int, limit: int) -> list[Stored]:
        """Rows of whole commits that follow `position` without a gap, up to `limit`."""
        rows: list[Stored] = []
        for commit in self._commits:
            if commit.rows[-1].id <= position:
                continue  # read already, in the batch in flight
            if commit.after_id != position or len(rows) + len(commit.rows) > limit:
                break
            rows.extend(commit.rows)
            position = commit.rows[-1].id
        return rows

    def _nothing_committed_past(self, position: int) -> bool:
        """Whether the outbox's last alert row is at `position`.

        The Outbox, the one writer, keeps that id (`last_alert_id`); it is read here on the loop
        while the worker thread may be committing: an old value means the commit is still under
        way (its rows will be handed over), a new one sends this call to the outbox.
        """
        return self._outbox.outbox.last_alert_id == position

    def _moved(self, items: Sequence[Stored]) -> None:
        """The outbox moved the cursor over `items` (it keeps the largest id per lane)."""
        alerts = [item.id for item in items if item.lane is Lane.ALERT]
        if alerts and self._delivered is not None:
            self._delivered = max(self._delivered, *alerts)
            self._forget_delivered()

    def _forget_delivered(self) -> None:
        delivered = self._delivered
        if delivered is None:
            return
        while self._commits and self._commits[0].rows[-1].id <= delivered:
            self._held -= len(self._commits.popleft().rows)
