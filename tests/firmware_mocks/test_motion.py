"""The accelerometers: mounting, gait, running, falls and their look-alikes, in device frames."""

from __future__ import annotations

import math
import statistics

import pytest

from firmware_mocks.scenario import load_scenario
from firmware_mocks.simulation import OfficerSimulation
from sensors import DeviceModel, SafetyEventKind
from tests.firmware_mocks.builders import scenario

VEST, HELMET = DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET
RATE_HZ = 50
Sample = tuple[float, float, float]


def window(
    sim: OfficerSimulation, start_s: float, stop_s: float, device: DeviceModel
) -> list[Sample]:
    """The device's samples taken in (start, stop]."""
    sim.advance(start_s - sim.t_s)
    sim.take_imu_samples(device)
    sim.advance(stop_s - start_s)
    return sim.take_imu_samples(device)


def magnitudes(samples: list[Sample]) -> list[float]:
    return [math.sqrt(x * x + y * y + z * z) for x, y, z in samples]


def mean_vector(samples: list[Sample]) -> Sample:
    n = len(samples)
    return (
        sum(s[0] for s in samples) / n,
        sum(s[1] for s in samples) / n,
        sum(s[2] for s in samples) / n,
    )


def angle_deg(a: Sample, b: Sample) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return math.degrees(math.acos(dot / math.dist(a, (0, 0, 0)) / math.dist(b, (0, 0, 0))))


def dominant_hz(signal: list[float], low_hz: float, high_hz: float) -> float:
    """The frequency in [low, high] with the strongest autocorrelation."""
    mean = statistics.fmean(signal)
    centred = [v - mean for v in signal]
    lags = range(round(RATE_HZ / high_hz), round(RATE_HZ / low_hz) + 1)
    best = max(
        lags, key=lambda lag: sum(a * b for a, b in zip(centred, centred[lag:], strict=False))
    )
    return RATE_HZ / best


def test_gravity_lies_along_no_single_device_axis() -> None:
    standing = scenario([(0, "standing")], duration_s=60)
    for seed in range(20):
        sim = OfficerSimulation(standing, 0, seed)
        vests = window(sim, 10, 20, VEST)
        sim = OfficerSimulation(standing, 0, seed)
        helmets = window(sim, 10, 20, HELMET)
        for samples in (vests, helmets):
            g = mean_vector(samples)
            norm = math.dist(g, (0, 0, 0))
            assert 0.95 < norm < 1.05
            assert max(abs(c) for c in g) / norm < math.cos(math.radians(14))
        assert angle_deg(mean_vector(vests), mean_vector(helmets)) > 1  # two different mounts


def test_walking_steps_at_1_8_to_2_hz_with_a_few_tenths_of_g() -> None:
    walk = scenario([(0, "walking")], duration_s=120)
    for seed in range(4):
        samples = window(OfficerSimulation(walk, 0, seed), 20, 60, VEST)
        mags = magnitudes(samples)
        assert 1.75 <= dominant_hz(mags, 1.5, 2.4) <= 2.05
        spread = statistics.quantiles(mags, n=20)
        assert 0.15 <= (spread[-1] - spread[0]) / 2 <= 0.6


def test_running_steps_at_2_6_to_3_hz_with_2_to_4_g_peaks() -> None:
    run = scenario([(0, "running")], duration_s=120)
    for seed in range(4):
        mags = magnitudes(window(OfficerSimulation(run, 0, seed), 20, 60, VEST))
        step = dominant_hz(mags, 2.2, 3.4)
        assert 2.5 <= step <= 3.1
        per_step = round(RATE_HZ / step)
        peaks = [max(mags[i : i + per_step]) for i in range(0, len(mags) - per_step, per_step)]
        assert 2.0 <= statistics.median(peaks) <= 4.0
        assert max(peaks) < 4.5


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_fall_is_free_fall_impact_tilt_then_stillness(seed: int) -> None:
    down = load_scenario("officer-down")
    fall_at = next(p.at_s for p in down.timeline if p.activity == "falling")
    sim = OfficerSimulation(down, 0, seed)
    before = window(sim, fall_at - 5, fall_at, VEST)
    during = window(sim, fall_at, fall_at + 3, VEST)
    after = window(sim, fall_at + 3, down.duration_s, VEST)
    mags = magnitudes(during)
    impact = mags.index(max(mags))
    assert 3.0 < mags[impact] < 8.5
    # A near free fall of at least 0.2 s just before the impact.
    low = [m < 0.6 for m in mags[max(0, impact - 30) : impact]]
    longest = max(len(run) for run in "".join("1" if b else "0" for b in low).split("0"))
    assert longest >= 10
    assert min(mags[:impact]) < 0.5
    # The trunk ends up 70-90° from where it was.
    assert 65 <= angle_deg(mean_vector(before), mean_vector(after[-500:])) <= 95
    # Then nothing moves: only sensor noise for the rest of the scenario.
    still = magnitudes(after)
    for start in range(0, len(still), 50 * 60):
        assert statistics.pstdev(still[start : start + 50 * 60]) < 0.02


def test_a_fall_makes_the_helmet_report_its_impact_and_the_vest_its_flag() -> None:
    down = load_scenario("officer-down")
    sim = OfficerSimulation(down, 0, 11)
    sim.advance(down.duration_s)
    helmet = sim.take_events(HELMET)
    vest = sim.take_events(VEST)
    assert [e.kind for e in helmet] == [SafetyEventKind.IMPACT]
    assert [e.kind for e in vest] == [SafetyEventKind.FALL_DETECTED]
    assert helmet[0].peak_accel_g is not None
    assert helmet[0].peak_accel_g >= 3.0
    assert vest[0].peak_accel_g is not None
    assert vest[0].peak_accel_g > 3.0
    # The reported peak is the peak of the device's own samples.
    fall_at = next(p.at_s for p in down.timeline if p.activity == "falling")
    replay = OfficerSimulation(down, 0, 11)
    samples = window(replay, fall_at - 1, fall_at + 3, HELMET)
    assert helmet[0].peak_accel_g == pytest.approx(max(magnitudes(samples)), abs=0.006)


def test_fall_look_alikes_stay_below_a_fall() -> None:
    mimics = load_scenario("fall-mimics")
    sim = OfficerSimulation(mimics, 0, 4)
    sit_at = next(p.at_s for p in mimics.timeline if p.activity == "sitting_down")
    jump_at = next(p.at_s for p in mimics.timeline if p.activity == "jumping")
    jumps = magnitudes(window(sim, jump_at, jump_at + 6, VEST))
    assert min(jumps) < 0.3  # flight looks like free fall...
    assert 2.8 < max(jumps) < 5.5  # ...and landings like impacts
    sitting = magnitudes(window(sim, sit_at - 1, sit_at + 5, VEST))
    assert 1.6 < max(sitting) < 3.0
    assert min(sitting) > 0.5
    sim.advance(mimics.duration_s - sim.t_s)
    assert sim.take_events(VEST) == []
    assert sim.take_events(HELMET) == []


def test_driving_vibrates_and_jolts_but_stays_below_3_g() -> None:
    drive = scenario([(0, "driving")], duration_s=1200)
    mags = magnitudes(window(OfficerSimulation(drive, 0, 2), 60, 1200, VEST))
    assert 0.01 < statistics.pstdev(mags) < 0.2
    assert 1.2 < max(mags) < 3.2


def test_rendering_a_window_twice_gives_the_same_samples() -> None:
    down = load_scenario("officer-down")
    sim = OfficerSimulation(down, 0, 5)
    sim.advance(310)
    first = sim.peak_accel_g(HELMET, 295, 310)
    assert first == sim.peak_accel_g(HELMET, 295, 310)
    assert first is not None
    assert first > 3.0
