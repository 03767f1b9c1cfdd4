"""Alert changes sent as they are raised, while their commit is under way: which may go now.

An alert used to reach dispatch only after its row was committed (an fsync of the outbox) and
handed to the delivery loop through the outbox's worker thread: on a busy 2-core vehicle
computer those hops made most of the alert's tail latency (docs/performance.md, "Alert
latency"), and a slow disk (an eMMC's fsync can take tens of ms) would have delayed every alarm
by its own time. A sink that can (`Sink.sends_early`: dispatch webhooks) now sends each change
as soon as the engine raises it, while the pipeline commits it; the committed row still goes
through the delivery loop, which moves the cursor, and the sink knows the change again by its
idempotency key and does not send it twice.

Nothing is given up for it:
- Durability: the row is committed as before, and only an acknowledged row moves the cursor.
  A crash after the early send and before the commit leaves dispatch with the alert, where
  sending after the commit would have lost it with the process.
- Order: each endpoint still receives every change in the order raised. A change goes early
  only when every change raised before it went early too, or was delivered from the outbox;
  after a failed early send, and until the delivery loop has once found nothing pending (a
  start with a backlog), changes wait for their commit and go in outbox order.
- At-least-once: a failed early send is not retried here; its committed row is delivered (with
  the loop's backoff) like any other.

This class is the bookkeeping only (pure: no I/O, no event loop): the delivery loop asks `take`
for what to send, reports `sent` or `failed`, and reports what the outbox path delivered.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Final

from gateway.alerts.record import change_key
from gateway.domain import Lane, Point

logger = logging.getLogger(__name__)

# Changes raised and not yet delivered through the outbox that are remembered. Alerts are rare
# (a few per officer per shift, bounded by the engine's rules); this many outstanding means
# dispatch has been unreachable for long: early sending then stops until the gateway restarts,
# and everything goes in outbox order, which needs no memory.
OUTSTANDING_LIMIT: Final = 10_000


class _State(enum.Enum):
    WAITING = "waiting"  # raised; not yet offered to the sink
    SENDING = "sending"  # handed to the sink by `take`
    SENT = "sent"  # the sink delivered it early
    LATE = "late"  # goes with its committed row, in outbox order


class EarlyAlerts:
    """One delivery loop's alert changes raised but not yet delivered through the outbox."""

    def __init__(self, wake: Callable[[], None], *, limit: int = OUTSTANDING_LIMIT) -> None:
        """`wake`: wakes the delivery loop (called when a change is raised)."""
        self._wake = wake
        self._limit = limit
        # Insertion order is the order raised.
        self._changes: OrderedDict[str, tuple[Point, _State]] = OrderedDict()
        # Until the loop has once found nothing pending, committed rows may be waiting that
        # were raised before this process started: nothing may overtake them.
        self._caught_up = False
        self._overflowed = False

    @property
    def outstanding(self) -> int:
        """Changes raised and not yet delivered through the outbox."""
        return len(self._changes)

    @property
    def ready(self) -> bool:
        """Whether a change raised now would go early (nothing undelivered before it)."""
        return (
            self._caught_up
            and not self._overflowed
            and not any(state is _State.LATE for _, state in self._changes.values())
        )

    def raised(self, points: Sequence[Point]) -> None:
        """Take the alert changes among `points` as the engine makes them (on the loop)."""
        added = False
        for point in points:
            if point.lane is not Lane.ALERT or self._overflowed:
                continue
            key = change_key(point)
            if key is None:
                continue  # not a well-formed change: its committed row is refused in order
            if len(self._changes) >= self._limit:
                self._overflow()
                return
            self._changes[key] = (point, _State.WAITING)
            added = True
        if added:
            self._wake()

    def take(self) -> list[Point]:
        """The changes to send now, in the order raised; those that may not go early become
        late (they go with their committed rows)."""
        blocked = not self._caught_up or self._overflowed
        taken: list[Point] = []
        for key, (point, state) in self._changes.items():
            if state is _State.LATE or state is _State.SENDING:
                blocked = True
            elif state is _State.WAITING:
                if blocked:
                    self._changes[key] = (point, _State.LATE)
                else:
                    self._changes[key] = (point, _State.SENDING)
                    taken.append(point)
        return taken

    def sent(self, points: Sequence[Point]) -> None:
        """The sink delivered `points` early."""
        self._settle(points, _State.SENT)

    def failed(self, points: Sequence[Point]) -> None:
        """The sink could not deliver `points` (nor, then, anything after them) early."""
        self._settle(points, _State.LATE)

    def caught_up(self) -> None:
        """The delivery loop found nothing pending: no committed change waits before those
        raised from now on, or those remembered here."""
        self._caught_up = True

    def delivered(self, points: Sequence[Point]) -> None:
        """The outbox path delivered (or set aside) these committed rows: those changes are
        done."""
        for point in points:
            if point.lane is Lane.ALERT and (key := change_key(point)) is not None:
                self._changes.pop(key, None)

    def _settle(self, points: Sequence[Point], state: _State) -> None:
        for point in points:
            key = change_key(point)
            if key is not None and key in self._changes:
                self._changes[key] = (point, state)

    def _overflow(self) -> None:
        self._overflowed = True
        self._changes.clear()
        logger.warning(
            "%d alert changes raised and not yet delivered: alerts now go to dispatch only "
            "after their commit, in outbox order, until the gateway restarts",
            self._limit,
        )
