"""RR-interval plausibility: keep the beats a heart made, refuse what a strap invented.

Straps send RR intervals as their R-wave detector sees them, artifacts included: the Garmin
HRM-Dual appends a spurious 52 ms interval beside a real 1,044 ms one (Garmin developer forum
thread 319496), and a lost or doubled R wave makes one interval twice or half its neighbours.
Heart-rate variability and every beat-level figure must be computed from normal-to-normal
intervals only, so each interval passes three rules, in order:

1. Physiological bounds. An interval shorter than 60/250 s or longer than 60/25 s is a sensor
   fault: the heart-rate range `gateway.analytics.core_temp` already holds as physiology (one
   fact, one place). The HRM-Dual's 52 ms (1,150 bpm) fails here.
2. Relative change (Malik's rule: M. Malik, T. Farrell, T. Cripps, A. J. Camm, "Heart rate
   variability in relation to prognosis after myocardial infarction: selection of optimal
   processing techniques", Eur. Heart J. 10 (1989) 1060-1074; the Task Force of the ESC and
   NASPE, Circulation 93 (1996) 1043-1065, describes the same editing). An interval that differs
   by more than 20 % from the last *accepted* one is refused. Sinus rhythm changes far less
   from one beat to the next: heart rate rising by 8 bpm every second from 70 bpm shortens the
   interval by 9 % per beat. Artifacts change it by much more: a missed R wave doubles the
   interval, an extra one splits it, an ectopic beat comes early and is followed by a
   compensatory pause. The reference is the last accepted beat rather than the last beat, so
   the beat after an artifact is judged against the rhythm, not against the artifact.
3. Relearning. Three consecutive in-bounds intervals that each fail rule 2 yet agree with one
   another (within the same 20 %) are a new rhythm, not an artifact: the third is accepted and
   becomes the reference. Artifacts do not come in such runs: the artifact classes of
   J. A. Lipponen and M. P. Tarvainen ("A robust algorithm for heart rate variability time
   series artefact correction using novel beat classification", J. Med. Eng. Technol. 43 (2019)
   173-181; the method behind Kubios' automatic correction) - ectopic short-long pairs, missed
   and extra beats, single long or short intervals - each span one or two intervals, and an
   ectopic pair alternates. Without this rule an abrupt onset of a paroxysmal tachycardia, or a
   first beat that was itself an artifact, would lock the filter out for good.

Before the filter, one notification's intervals are bounded (`notification_start`): the beats
of a notification are placed back from its arrival, one before the other, so a notification
claiming many long beats would back-date rows by hours (one of 512 bytes carries 255
intervals of up to 64 s: 4.5 h). Beats beyond the bounds are refused without reaching the
filter, whose rhythm they would otherwise teach.

Pure: no I/O, no clock. One `RrFilter` per strap; feed it each notification's RR intervals in
order, and `reset()` it when the link or the strap's skin contact is lost, since the last
accepted beat then says nothing about the next.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from gateway.analytics.core_temp import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM

SECONDS_PER_MINUTE = 60.0
# How far back from its notification a beat may be stamped. A strap notifies about once a
# second with the beats since its previous notification (HRS 1.0 §3.1.1.5), so a few seconds
# cover beats held back over missed connection events; a claim of more is not a heart's.
MAX_RR_BACKDATE_S: Final = 10.0
# The most beats that span holds at the physiological maximum heart rate (42 at 250 bpm).
MAX_RR_PER_NOTIFICATION: Final = math.ceil(
    MAX_RR_BACKDATE_S * MAX_HEART_RATE_BPM / SECONDS_PER_MINUTE
)


class RejectionReason(StrEnum):
    TOO_SHORT = "too_short"  # rule 1: a heart rate above the physiological maximum
    TOO_LONG = "too_long"  # rule 1: below the physiological minimum
    SUDDEN_CHANGE = "sudden_change"  # rule 2: too far from the last accepted beat
    # Older than the notification's bounds: more than MAX_RR_PER_NOTIFICATION beats, or ending
    # more than MAX_RR_BACKDATE_S before it.
    BEYOND_NOTIFICATION = "beyond_notification"


@dataclass(frozen=True)
class RrFilterParameters:
    """The thresholds of the module docstring's three rules."""

    min_rr_s: float = SECONDS_PER_MINUTE / MAX_HEART_RATE_BPM
    max_rr_s: float = SECONDS_PER_MINUTE / MIN_HEART_RATE_BPM
    # Malik's 20 % of the reference interval.
    max_relative_change: float = 0.20
    relearn_after_beats: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.min_rr_s < self.max_rr_s:
            raise ValueError(f"need 0 < min_rr_s < max_rr_s, got {self.min_rr_s}, {self.max_rr_s}")
        if not 0 < self.max_relative_change < 1:
            raise ValueError(
                f"max_relative_change must be in (0, 1), got {self.max_relative_change}"
            )
        if self.relearn_after_beats < 1:
            raise ValueError(f"relearn_after_beats must be >= 1, got {self.relearn_after_beats}")


DEFAULT_RR_FILTER_PARAMETERS = RrFilterParameters()


@dataclass(frozen=True, slots=True)
class RrVerdict:
    """One interval as given, its position in the input, and why it was refused (None: kept)."""

    index: int
    rr_s: float
    rejected_because: RejectionReason | None

    @property
    def accepted(self) -> bool:
        return self.rejected_because is None


@dataclass(frozen=True, slots=True)
class RrFilterResult:
    """Every input interval in order; `accepted` and `rejected` split them."""

    verdicts: tuple[RrVerdict, ...]

    @property
    def accepted(self) -> tuple[float, ...]:
        return tuple(verdict.rr_s for verdict in self.verdicts if verdict.accepted)

    @property
    def rejected(self) -> tuple[RrVerdict, ...]:
        return tuple(verdict for verdict in self.verdicts if not verdict.accepted)


class RrFilter:
    """Streaming filter for one strap: the last accepted beat and a run of consistent outliers."""

    def __init__(self, params: RrFilterParameters = DEFAULT_RR_FILTER_PARAMETERS) -> None:
        self.params = params
        self._reference_s: float | None = None
        self._outliers: list[float] = []

    def reset(self) -> None:
        """Forget the rhythm, e.g. after a lost link or lost skin contact."""
        self._reference_s = None
        self._outliers = []

    def push(self, rr_intervals_s: Iterable[float]) -> RrFilterResult:
        """Judge one notification's intervals, oldest first, against the beats before them."""
        return RrFilterResult(
            tuple(
                RrVerdict(index, rr_s, self._judge(rr_s))
                for index, rr_s in enumerate(rr_intervals_s)
            )
        )

    def _judge(self, rr_s: float) -> RejectionReason | None:
        p = self.params
        if rr_s < p.min_rr_s:
            return RejectionReason.TOO_SHORT
        if rr_s > p.max_rr_s:
            return RejectionReason.TOO_LONG
        if self._reference_s is None or self._close(rr_s, self._reference_s):
            self._accept(rr_s)
            return None
        if self._outliers and not self._close(rr_s, self._outliers[-1]):
            self._outliers = []
        self._outliers.append(rr_s)
        if len(self._outliers) >= p.relearn_after_beats:
            self._accept(rr_s)
            return None
        return RejectionReason.SUDDEN_CHANGE

    def _close(self, rr_s: float, reference_s: float) -> bool:
        return abs(rr_s - reference_s) <= self.params.max_relative_change * reference_s

    def _accept(self, rr_s: float) -> None:
        self._reference_s = rr_s
        self._outliers = []


def notification_start(rr_intervals_s: Sequence[float]) -> int:
    """Index of a notification's oldest interval within its bounds; those before are refused.

    The last interval ends at the notification, each earlier one where the next began (as
    gateway/normalize.py stamps them): kept are the newest MAX_RR_PER_NOTIFICATION at most, and
    of those only the beats that end within MAX_RR_BACKDATE_S of the notification.
    """
    first = max(0, len(rr_intervals_s) - MAX_RR_PER_NOTIFICATION)
    ends_before_s = 0.0
    for index in range(len(rr_intervals_s) - 1, first - 1, -1):
        if ends_before_s > MAX_RR_BACKDATE_S:
            return index + 1
        ends_before_s += rr_intervals_s[index]
    return first


def filter_rr_intervals(
    rr_intervals_s: Iterable[float], params: RrFilterParameters = DEFAULT_RR_FILTER_PARAMETERS
) -> RrFilterResult:
    """A whole recording at once, with a fresh filter: the same verdicts as pushing it in pieces."""
    return RrFilter(params).push(rr_intervals_s)
