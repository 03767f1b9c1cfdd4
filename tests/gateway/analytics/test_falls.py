"""Fall detector on synthetic trunk signals: any mounting, rate and range; the hard negatives."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from gateway.analytics.falls import (
    DEFAULT_FALL_PARAMETERS,
    FallDetection,
    FallDetector,
    FallParameters,
    detect_falls,
)
from tests.gateway.analytics import signals
from tests.gateway.analytics.signals import Matrix, Motion

IMPACT_S = 7.0
RANGE_G = 16.0  # wide enough that nothing here clips
RATES_HZ = (20, 25, 50, 100, 200)
# The Polar H10's rates and ranges; the Verity Sense streams at 52 Hz (26 Hz and up in SDK mode).
SENSOR_RATES_HZ = (25, 50, 100, 200)
SENSOR_RANGES_G = (2.0, 4.0, 8.0)
# Relaxed parameters that fire on any impact: a negative case must fire with these, so that
# it shows the rotation or stillness check (not a missing impact) is what rejects it.
IMPACT_ONLY = dataclasses.replace(
    DEFAULT_FALL_PARAMETERS, min_orientation_change_deg=0.0, still_rms_g=math.inf
)


def mountings(count: int, seed: int) -> list[Matrix]:
    rng = random.Random(seed)
    return [signals.random_rotation(rng) for _ in range(count)]


def run(
    motion: Motion,
    duration_s: float,
    rate_hz: float,
    mounting: Matrix = signals.IDENTITY,
    params: FallParameters = DEFAULT_FALL_PARAMETERS,
    *,
    range_g: float = RANGE_G,
) -> list[FallDetection]:
    recording = signals.record(motion, duration_s, rate_hz, mounting=mounting, range_g=range_g)
    return detect_falls(recording, rate_hz, range_g, params)


@pytest.mark.parametrize("rate_hz", SENSOR_RATES_HZ)
@pytest.mark.parametrize("mounting", mountings(4, seed=20251125))
def test_fall_is_detected_at_any_mounting_and_rate(rate_hz: int, mounting: Matrix) -> None:
    (found,) = run(signals.fall(IMPACT_S), 15.0, rate_hz, mounting)
    assert abs(found.t_s - IMPACT_S) <= 0.5
    assert IMPACT_S + 2.0 <= found.confirmed_at_s <= IMPACT_S + 6.0
    assert 3.0 <= found.peak_g <= 5.0
    assert found.orientation_change_deg == pytest.approx(80.0, abs=5.0)
    assert found.stillness_rms_g < 0.05


@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_detection_does_not_depend_on_the_mounting(rate_hz: int) -> None:
    """The same fall seen through different mountings gives the same evidence."""
    results = [run(signals.fall(IMPACT_S), 15.0, rate_hz, m) for m in mountings(6, seed=7)]
    assert all(len(found) == 1 for found in results)
    angles = [found[0].orientation_change_deg for found in results]
    times = [found[0].t_s for found in results]
    assert max(angles) - min(angles) < 2.0
    assert max(times) - min(times) <= 2.0 / rate_hz


@pytest.mark.parametrize("rate_hz", SENSOR_RATES_HZ)
@pytest.mark.parametrize("range_g", SENSOR_RANGES_G)
def test_a_hard_fall_is_detected_at_any_range(rate_hz: int, range_g: float) -> None:
    """An 8 g fall read through a +-2, 4 or 8 g sensor: clipped, and still detected."""
    (mounting,) = mountings(1, seed=int(range_g))
    hard_fall = signals.fall(IMPACT_S, peak_g=8.0)
    (found,) = run(hard_fall, 15.0, rate_hz, mounting, range_g=range_g)
    (unclipped,) = run(hard_fall, 15.0, rate_hz, mounting)
    assert abs(found.t_s - IMPACT_S) <= 0.5
    assert found.orientation_change_deg == pytest.approx(80.0, abs=5.0)
    # The evidence is clipped as the samples are: |a| cannot exceed the range on every axis.
    assert found.peak_g <= range_g * math.sqrt(3)
    assert found.impact_g <= unclipped.impact_g + 0.05
    if range_g < unclipped.peak_g / math.sqrt(3):
        assert found.peak_g < unclipped.peak_g


def test_the_impact_measure_does_not_depend_on_the_rate() -> None:
    """The 0.1 s mean spans 0.1 s at any rate, fractions of a sample included (2.5 at 25 Hz,
    2.6 at 26 Hz, 5.2 at 52 Hz), so one threshold means the same thing on every sensor."""
    (mounting,) = mountings(1, seed=8)
    impacts = [
        run(signals.fall(IMPACT_S), 15.0, rate_hz, mounting)[0].impact_g
        for rate_hz in (25, 26, 50, 52, 100, 200)
    ]
    assert max(impacts) - min(impacts) < 0.03 * min(impacts)


@pytest.mark.parametrize("rate_hz", SENSOR_RATES_HZ)
def test_the_impact_threshold_stays_below_a_narrow_range(rate_hz: int) -> None:
    """A clipped impact cannot average the whole range over 0.1 s: the threshold is at most
    80 % of the range, whatever `impact_g` asks for."""
    demanding = dataclasses.replace(DEFAULT_FALL_PARAMETERS, impact_g=2.5)
    assert FallDetector(rate_hz, 2.0, demanding).impact_threshold_g == pytest.approx(1.6)
    assert FallDetector(rate_hz, 4.0, demanding).impact_threshold_g == 2.5
    at_the_rail = dataclasses.replace(demanding, impact_max_fraction_of_range=1.0)
    hard_fall = signals.fall(IMPACT_S, peak_g=6.0)
    assert len(run(hard_fall, 15.0, rate_hz, params=demanding, range_g=2.0)) == 1
    # ...which is the ceiling's doing: at the rail itself, the clipped fall never qualifies.
    assert run(hard_fall, 15.0, rate_hz, params=at_the_rail, range_g=2.0) == []


@pytest.mark.parametrize("rotation_deg", [60.0, 90.0, 120.0])
def test_falls_ending_in_different_postures(rotation_deg: float) -> None:
    (mounting,) = mountings(1, seed=3)
    (found,) = run(signals.fall(IMPACT_S, rotation_deg=rotation_deg), 15.0, 50, mounting)
    assert found.orientation_change_deg == pytest.approx(rotation_deg, abs=5.0)


def test_a_fall_is_reported_once_and_the_detector_rearms() -> None:
    def two_falls(t: float) -> signals.Vector:
        return signals.fall(IMPACT_S)(t) if t < 20.0 else signals.fall(27.0)(t)

    found = run(two_falls, 35.0, 50)
    assert [round(f.t_s) for f in found] == [7, 27]


def test_streaming_gives_the_detection_on_the_confirming_sample() -> None:
    detector = FallDetector(50, RANGE_G)
    emitted = []
    for sample in signals.record(signals.fall(IMPACT_S), 15.0, 50):
        detection = detector.update(*sample)
        if detection is not None:
            emitted.append((sample[0], detection))
    ((t_s, detection),) = emitted
    assert detection.confirmed_at_s == t_s


@pytest.mark.parametrize("rate_hz", [*SENSOR_RATES_HZ, 26])
def test_batches_of_any_size_give_the_same_detections_as_single_samples(rate_hz: int) -> None:
    def falls(t: float) -> signals.Vector:
        return signals.fall(IMPACT_S)(t) if t < 20.0 else signals.fall(27.0, 70.0, 2.5)(t)

    samples = signals.record(falls, 40.0, rate_hz, mounting=mountings(1, seed=4)[0], seed=4)
    one_by_one = FallDetector(rate_hz, RANGE_G)
    expected = [d for d in (one_by_one.update(*sample) for sample in samples) if d is not None]
    assert len(expected) == 2
    rng = random.Random(rate_hz)
    batched = FallDetector(rate_hz, RANGE_G)
    found: list[FallDetection] = []
    start = 0
    while start < len(samples):
        chunk = samples[start : start + rng.randint(1, 80)]
        start += len(chunk)
        found += batched.update_batch([t for t, *_ in chunk], [(x, y, z) for _, x, y, z in chunk])
    assert found == expected  # equal floats, not close: the batch path is the same arithmetic


def test_a_refused_sample_in_a_batch_keeps_the_samples_before_it() -> None:
    detector = FallDetector(50, RANGE_G)
    with pytest.raises(ValueError, match="non-finite"):
        detector.update_batch(
            [0.0, 0.02, 0.04], [(0.0, 0.0, 1.0), (0.0, 0.0, 1.0), (math.nan,) * 3]
        )
    with pytest.raises(ValueError, match=r"time must increase: 0\.02 s after 0\.02 s"):
        detector.update(0.02, 0.0, 0.0, 1.0)
    assert detector.update(0.04, 0.0, 0.0, 1.0) is None
    with pytest.raises(ValueError, match="2 times for 1 samples"):
        detector.update_batch([1.0, 1.02], [(0.0, 0.0, 1.0)])


NEGATIVES = {
    "running then standing": (signals.running, 30.0),
    "jumping": (signals.jumping, 15.0),
    "sitting down hard": (signals.sitting_down_hard, 15.0),
    "hard jolt without rotation": (signals.hard_jolt_without_rotation, 15.0),
}


@pytest.mark.parametrize("rate_hz", SENSOR_RATES_HZ)
@pytest.mark.parametrize("range_g", [2.0, RANGE_G])
@pytest.mark.parametrize("name", list(NEGATIVES))
def test_hard_negatives_are_not_falls(name: str, rate_hz: int, range_g: float) -> None:
    motion, duration_s = NEGATIVES[name]
    (mounting,) = mountings(1, seed=len(name))
    assert run(motion, duration_s, rate_hz, mounting, range_g=range_g) == []
    # ...though each does contain an impact that the rotation or stillness check rejects.
    assert run(motion, duration_s, rate_hz, mounting, IMPACT_ONLY, range_g=range_g) != []


@pytest.mark.parametrize("rate_hz", SENSOR_RATES_HZ)
@pytest.mark.parametrize("range_g", [2.0, RANGE_G])
def test_car_door_slam_is_not_a_fall(rate_hz: int, range_g: float) -> None:
    (mounting,) = mountings(1, seed=11)
    assert run(signals.car_door_slam, 15.0, rate_hz, mounting, range_g=range_g) == []


@pytest.mark.parametrize(("rate_hz", "range_g"), [(25, 2.0), (50, RANGE_G), (52, 8.0)])
def test_three_minutes_of_driving_is_not_a_fall(rate_hz: int, range_g: float) -> None:
    (mounting,) = mountings(1, seed=5)
    motion = signals.driving(random.Random(5))
    assert run(motion, 180.0, rate_hz, mounting, range_g=range_g) == []


def test_a_fall_too_early_in_the_stream_to_know_the_posture_before_is_ignored() -> None:
    # The impact comes before a pre-impact window exists: nothing to compare, no detection,
    # and no error.
    samples = signals.record(signals.fall(0.8), 10.0, 50)
    assert detect_falls(samples, 50, RANGE_G) == []


@pytest.mark.parametrize("rate_hz", [10.0, 19.9, 200.1, 1000.0])
def test_rates_outside_the_validated_range_are_refused(rate_hz: float) -> None:
    with pytest.raises(ValueError, match="outside 20-200 Hz"):
        FallDetector(rate_hz, RANGE_G)


@pytest.mark.parametrize("range_g", [1.9, 0.0, -4.0, math.nan])
def test_ranges_narrower_than_2_g_are_refused(range_g: float) -> None:
    with pytest.raises(ValueError, match="narrower than \\+-2 g"):
        FallDetector(50, range_g)


def test_time_must_increase_and_values_be_finite() -> None:
    detector = FallDetector(50, RANGE_G)
    detector.update(1.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="time must increase"):
        detector.update(1.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        detector.update(1.02, math.nan, 0.0, 1.0)


def test_parameters_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_FALL_PARAMETERS.impact_g = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"impact_g": -1.0}, "non-negative numbers: \\['impact_g'\\]"),
        ({"still_rms_g": math.nan}, "non-negative numbers: \\['still_rms_g'\\]"),
        ({"pre_window_start_s": 1.0}, "pre_window_start_s must be greater"),
        ({"impact_max_fraction_of_range": 0.0}, "impact_max_fraction_of_range must lie in"),
        ({"impact_max_fraction_of_range": 1.5}, "impact_max_fraction_of_range must lie in"),
    ],
)
def test_nonsensical_parameters_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(DEFAULT_FALL_PARAMETERS, **changes)
