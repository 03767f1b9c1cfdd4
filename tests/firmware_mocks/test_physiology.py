"""Heart and heat: HR kinetics, RR intervals consistent with HR, core temperature under load."""

from __future__ import annotations

import itertools
import math
import statistics
from random import Random

import pytest

from firmware_mocks.physiology import draw_profile, tanaka_max_hr
from firmware_mocks.scenario import OfficerOverride
from firmware_mocks.simulation import OfficerSimulation
from tests.firmware_mocks.builders import scenario

REST, RUN_AT, RECOVER_AT, END = 0.0, 600, 900, 1800
RUN_AND_REST = scenario(
    [(REST, "sitting_in_vehicle"), (RUN_AT, "running"), (RECOVER_AT, "sitting_in_vehicle")],
    duration_s=END,
)


Reported = list[tuple[int, tuple[float, ...]]]


def _trace(seed: int) -> tuple[OfficerSimulation, dict[int, int], Reported]:
    """What the vest reported each second: HR by time, and (HR, RR intervals) in order."""
    sim = OfficerSimulation(RUN_AND_REST, 0, seed)
    by_time: dict[int, int] = {}
    reported: Reported = []
    for t in range(1, END + 1):
        sim.advance(1.0)
        reading = sim.heart_rate()
        by_time[t] = reading.heart_rate_bpm
        reported.append((reading.heart_rate_bpm, reading.rr_intervals_s))
    return sim, by_time, reported


def test_max_hr_is_measured_else_tanaka() -> None:
    assert tanaka_max_hr(40) == pytest.approx(180.0)
    drawn = draw_profile(OfficerOverride(index=0, age_years=40), Random(1))
    assert drawn.max_hr_bpm == pytest.approx(180.0)
    measured = draw_profile(OfficerOverride(index=0, age_years=40, max_hr_bpm=191), Random(1))
    assert measured.max_hr_bpm == 191
    # Overriding one value leaves every other drawn value as it was.
    assert measured.resting_hr_bpm == drawn.resting_hr_bpm
    assert measured.mass_kg == drawn.mass_kg


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heart_rate_rises_exponentially_and_recovers_more_slowly(seed: int) -> None:
    sim, hr, _ = _trace(seed)
    rest, peak, after = hr[RUN_AT], hr[RECOVER_AT], hr[END]
    assert peak - rest > 60  # running drives HR well up
    assert peak <= sim.profile.max_hr_bpm
    assert after - rest < 12  # and it comes back down
    # No step: one second into the run HR has moved only a few percent of the way.
    assert hr[RUN_AT + 1] - rest < 0.1 * (peak - rest)
    rise = next(t for t in range(RUN_AT, RECOVER_AT) if hr[t] - rest >= 0.632 * (peak - rest))
    fall = next(t for t in range(RECOVER_AT, END) if peak - hr[t] >= 0.632 * (peak - after))
    rise_s, fall_s = rise - RUN_AT, fall - RECOVER_AT
    assert 15 <= rise_s <= 50
    assert 50 <= fall_s <= 120
    assert fall_s > rise_s
    # First order: the gap to the plateau shrinks by a constant factor per unit time.
    gaps = [peak - hr[RUN_AT + k] for k in (0, 20, 40)]
    assert gaps[1] / gaps[0] == pytest.approx(gaps[2] / gaps[1], rel=0.2)


@pytest.mark.parametrize("seed", [3, 4])
def test_rr_intervals_agree_with_the_heart_rate(seed: int) -> None:
    _, _, reported = _trace(seed)
    rr_all = [rr for _, rrs in reported for rr in rrs]
    assert all(0.3 <= rr <= 1.5 for rr in rr_all)
    assert all(rr == round(rr * 1024) / 1024 for rr in rr_all)  # wire resolution
    total = sum(rr_all)
    assert total == pytest.approx(END, abs=3.0)  # beat by beat, the intervals tile the time
    for start in range(0, END, 30):
        window = reported[start : start + 30]
        from_rr = statistics.mean(60.0 / rr for _, rrs in window for rr in rrs)
        reported_hr = statistics.mean(hr for hr, _ in window)
        assert abs(from_rr - reported_hr) < 4.0


def test_heart_rate_varies_beat_to_beat_more_at_rest() -> None:
    _, _, reported = _trace(5)

    def rmssd(rrs: list[float]) -> float:
        return math.sqrt(statistics.mean((b - a) ** 2 for a, b in itertools.pairwise(rrs)))

    resting = [rr for _, rrs in reported[300:600] for rr in rrs]
    running = [rr for _, rrs in reported[700:900] for rr in rrs]
    assert rmssd(resting) > 0.015  # respiratory sinus arrhythmia at rest
    assert rmssd(resting) > 2 * rmssd(running)


def test_core_temperature_rises_with_work_and_heat_and_recovers() -> None:
    walk = scenario(
        [(0, "sitting_in_vehicle"), (300, "walking"), (1500, "sitting_in_vehicle")],
        duration_s=4800,
    )
    sim = OfficerSimulation(walk, 0, 7)
    sim.advance(300)
    resting = sim.core_temp_c
    sim.advance(1200)
    walked = sim.core_temp_c
    sim.advance(3300)
    assert 36.8 < resting < 37.3
    assert walked - resting > 0.2
    assert sim.core_temp_c - resting < 0.15
    assert sim.skin_temperature().temperature_c is not None
