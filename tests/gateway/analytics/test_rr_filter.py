"""RR plausibility filter: a real strap artifact refused, real rhythm changes kept."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.analytics.rr_filter import (
    DEFAULT_RR_FILTER_PARAMETERS,
    MAX_RR_BACKDATE_S,
    MAX_RR_PER_NOTIFICATION,
    RejectionReason,
    RrFilter,
    RrFilterParameters,
    RrVerdict,
    filter_rr_intervals,
    notification_start,
)
from sensors import HeartRateMeasurement

# Garmin HRM-Dual notification, Garmin developer forum thread 319496: 56 bpm, RR 1,044 ms and a
# spurious 52 ms (tests/sensors/test_heart_rate_straps.py decodes the same bytes).
HRM_DUAL = bytes.fromhex("10 38 2d04 3500")


def _reasons(intervals: list[float], rr_filter: RrFilter | None = None) -> list[str | None]:
    result = (rr_filter or RrFilter()).push(intervals)
    return [v.rejected_because.value if v.rejected_because else None for v in result.verdicts]


def test_the_hrm_dual_52_ms_interval_is_refused_beside_1044_ms() -> None:
    reading = HeartRateMeasurement.decode(HRM_DUAL)
    rr_filter = RrFilter()
    rr_filter.push([1.05, 1.06, 1.04])  # the steady rhythm before the notification
    result = rr_filter.push(reading.rr_intervals_s)
    assert result.accepted == (1069 / 1024,)
    assert result.rejected == (RrVerdict(1, 53 / 1024, RejectionReason.TOO_SHORT),)


def test_the_hrm_dual_artifact_is_refused_even_without_history() -> None:
    result = filter_rr_intervals(HeartRateMeasurement.decode(HRM_DUAL).rr_intervals_s)
    assert [round(rr * 1000) for rr in result.accepted] == [1044]
    assert [v.rejected_because for v in result.rejected] == [RejectionReason.TOO_SHORT]


def _beats(
    heart_rate_bpm: Callable[[float], float], seconds: float, breathing: float
) -> list[float]:
    """Intervals that tile `seconds`, each 60/HR at its own start, with a respiratory swing."""
    beats: list[float] = []
    t = 0.0
    while t < seconds:
        rr = 60.0 / heart_rate_bpm(t) * (1 + breathing * math.sin(2 * math.pi * 0.4 * t))
        beats.append(rr)
        t += rr
    return beats


def test_a_steep_tachycardia_ramp_is_kept_whole() -> None:
    """70 to 190 bpm at 8 bpm/s, with a 3 % respiratory swing: every beat is sinus rhythm."""
    ramp = _beats(lambda t: min(190.0, 70.0 + 8.0 * t), 40.0, breathing=0.03)
    steepest = max(abs(b - a) / a for a, b in itertools.pairwise(ramp))
    assert 0.10 < steepest < 0.20  # the ramp does test the rule, and stays within it
    result = filter_rr_intervals(ramp)
    assert result.rejected == ()
    assert len(result.accepted) == len(ramp)


def test_an_exercise_onset_ramp_is_kept_whole() -> None:
    """A mono-exponential rise 65 -> 175 bpm, time constant 30 s, over two minutes."""
    ramp = _beats(lambda t: 175.0 - 110.0 * math.exp(-t / 30.0), 120.0, breathing=0.05)
    assert filter_rr_intervals(ramp).rejected == ()


def test_a_ramp_split_over_notifications_is_judged_as_one_stream() -> None:
    ramp = _beats(lambda t: min(190.0, 70.0 + 8.0 * t), 40.0, breathing=0.03)
    rr_filter = RrFilter()
    streamed = [rr for start in range(0, len(ramp), 3) for rr in
                rr_filter.push(ramp[start : start + 3]).accepted]  # fmt: skip
    assert streamed == ramp


def test_an_abrupt_tachycardia_onset_is_relearned_after_three_beats() -> None:
    """Sinus 75 bpm, then a paroxysmal tachycardia at 180 bpm from one beat to the next."""
    reasons = _reasons([0.8] * 5 + [0.333] * 6)
    assert reasons == [None] * 5 + ["sudden_change", "sudden_change"] + [None] * 4


def test_a_missed_r_wave_is_refused() -> None:
    assert _reasons([1.0, 1.02, 2.02, 0.99, 1.01]) == [None, None, "sudden_change", None, None]


def test_an_extra_r_wave_splitting_one_interval_is_refused() -> None:
    reasons = _reasons([1.0, 1.0, 0.5, 0.5, 1.0, 1.01])
    assert reasons == [None, None, "sudden_change", "sudden_change", None, None]


def test_an_ectopic_short_long_pair_is_refused() -> None:
    reasons = _reasons([0.9, 0.91, 0.55, 1.27, 0.9, 0.92])
    assert reasons == [None, None, "sudden_change", "sudden_change", None, None]


def test_bigeminy_never_relearns_because_the_outliers_disagree() -> None:
    reasons = _reasons([0.9, 0.55, 1.25, 0.55, 1.25, 0.55, 1.25])
    assert reasons == [None] + ["sudden_change"] * 6


def test_a_first_beat_that_was_an_artifact_is_relearned() -> None:
    reasons = _reasons([0.45, 1.0, 1.01, 0.99, 1.0])
    assert reasons == [None, "sudden_change", "sudden_change", None, None]


def test_out_of_bounds_beats_leave_the_rhythm_alone() -> None:
    reasons = _reasons([1.0, 0.05, 3.0, 1.02])
    assert reasons == [None, "too_short", "too_long", None]


def test_bounds_are_the_physiological_heart_rate_range() -> None:
    """25-250 bpm, the range the core-temperature filter already treats as physiology."""
    assert DEFAULT_RR_FILTER_PARAMETERS.min_rr_s == pytest.approx(60 / 250)
    assert DEFAULT_RR_FILTER_PARAMETERS.max_rr_s == pytest.approx(60 / 25)
    assert _reasons([0.2399]) == ["too_short"]
    assert _reasons([0.2401]) == [None]
    assert _reasons([2.3999]) == [None]
    assert _reasons([2.4001]) == ["too_long"]


def test_reset_forgets_the_rhythm() -> None:
    rr_filter = RrFilter()
    rr_filter.push([1.0, 1.0])
    assert rr_filter.push([0.5]).rejected
    rr_filter.reset()
    assert rr_filter.push([0.5]).accepted == (0.5,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_rr_s": 0.0},
        {"min_rr_s": 3.0},
        {"max_relative_change": 0.0},
        {"max_relative_change": 1.5},
        {"relearn_after_beats": 0},
    ],
)
def test_parameters_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        RrFilterParameters(**kwargs)  # type: ignore[arg-type]


rr_lists = st.lists(st.floats(0.0, 70.0, allow_nan=False), max_size=60)


@given(rr_lists)
def test_every_interval_gets_one_verdict_in_order(intervals: list[float]) -> None:
    result = filter_rr_intervals(intervals)
    assert [v.rr_s for v in result.verdicts] == intervals
    assert [v.index for v in result.verdicts] == list(range(len(intervals)))
    assert len(result.accepted) + len(result.rejected) == len(intervals)


@given(rr_lists, st.lists(st.integers(0, 9), max_size=20))
def test_streaming_in_any_pieces_equals_the_whole(intervals: list[float], cuts: list[int]) -> None:
    rr_filter, start, streamed = RrFilter(), 0, []
    for size in [*cuts, len(intervals)]:
        piece = intervals[start : start + size]
        streamed += [v.rejected_because for v in rr_filter.push(piece).verdicts]
        start += size
    whole = [v.rejected_because for v in filter_rr_intervals(intervals).verdicts]
    assert streamed == whole


def test_a_notification_of_many_beats_keeps_only_the_recent_seconds() -> None:
    # 255 plausible one-second beats (a 512-byte notification) reached back 4 minutes.
    assert notification_start([1.0] * 255) == 255 - 11  # beats ending 0-10 s before it
    # At the physiological maximum the count cap binds first.
    fast = [60 / 250] * 255
    assert notification_start(fast) == 255 - MAX_RR_PER_NOTIFICATION
    # A strap's usual notification is untouched.
    assert notification_start([0.8, 0.82, 0.79]) == 0
    assert notification_start([]) == 0


@given(st.lists(st.floats(0, 0xFFFF / 1024), max_size=256))
def test_no_kept_beat_is_stamped_beyond_the_notifications_bounds(rr: list[float]) -> None:
    start = notification_start(rr)
    assert len(rr) - start <= MAX_RR_PER_NOTIFICATION
    # The kept beat that ends earliest ends where the later ones began.
    # (A nanosecond's slack: the sums here add in another order than the function's.)
    assert start == len(rr) or sum(rr[start + 1 :]) <= MAX_RR_BACKDATE_S + 1e-9
    # And nothing more was refused than the bounds ask: one more beat would cross them.
    if start > 0:
        crosses = sum(rr[start:]) > MAX_RR_BACKDATE_S - 1e-9
        assert len(rr) - start == MAX_RR_PER_NOTIFICATION or crosses
