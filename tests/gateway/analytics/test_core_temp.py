"""Core temperature EKF (Buller et al. 2013): hand-calculated steps, a re-derivation, behaviour."""

from __future__ import annotations

import math
import random

import pytest

from gateway.analytics.core_temp import (
    DEFAULT_CORE_TEMP_PARAMETERS,
    CoreTempEstimator,
    estimate_core_temp,
    heart_rate_for_core_temp,
)


def test_first_three_minutes_match_a_hand_calculation() -> None:
    """Worked with a desk calculator from the published equations, CT0 = 37.1, v0 = 0.

    Minute 1, HR 100: v_pred = 0 + 0.022^2 = 0.000484
      c = -9.1428 * 37.1 + 384.4286 = 45.23072
      k = 0.000484 * 45.23072 / (45.23072^2 * 0.000484 + 18.88^2) = 6.1244931e-5
      h(37.1) = -4.5714 * 37.1^2 + 384.4286 * 37.1 - 7887.1 = 83.080386
      CT = 37.1 + k * (100 - 83.080386) = 37.10103624;  v = (1 - k * c) * v_pred = 4.8265925e-4
    Minute 2, HR 120: CT = 37.10553317, v = 9.6132803e-4
    Minute 3, HR 150: CT = 37.11764632, v = 1.43346368e-3
    """
    estimator = CoreTempEstimator()
    assert estimator.update(100) == pytest.approx(37.10103624, abs=1e-8)
    assert estimator.variance == pytest.approx(4.8265925e-4, rel=1e-7)
    assert estimator.update(120) == pytest.approx(37.10553317, abs=1e-8)
    assert estimator.variance == pytest.approx(9.6132803e-4, rel=1e-7)
    assert estimator.update(150) == pytest.approx(37.11764632, abs=1e-8)
    assert estimator.variance == pytest.approx(1.43346368e-3, rel=1e-7)


def reference_ekf(heart_rates: list[float], ct0: float = 37.1) -> list[float]:
    """The paper's equations written out plainly, with its constants as literals."""
    ct, v = ct0, 0.0
    out = []
    for hr in heart_rates:
        ct_pred = 1.0 * ct
        v_pred = 1.0**2 * v + 0.022**2
        c = -9.1428 * ct_pred + 384.4286
        k = v_pred * c / (c**2 * v_pred + 18.88**2)
        ct = ct_pred + k * (hr - (-4.5714 * ct_pred**2 + 384.4286 * ct_pred - 7887.1))
        v = (1 - k * c) * v_pred
        out.append(ct)
    return out


def synthetic_shifts(seed: int) -> list[float]:
    """Eight hours of a patrol shift: rest, walking, a foot chase, paperwork, heat exposure."""
    rng = random.Random(seed)
    plan = [(60, 72), (90, 95), (10, 165), (60, 85), (120, 130), (30, 155), (110, 78)]
    return [max(40.0, rng.gauss(mean, 6.0)) for minutes, mean in plan for _ in range(minutes)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ct0", [36.8, 37.1, 37.4])
def test_matches_a_re_derivation_on_synthetic_heart_rates(seed: int, ct0: float) -> None:
    heart_rates = synthetic_shifts(seed)
    expected = reference_ekf(heart_rates, ct0)
    got = estimate_core_temp(heart_rates, initial_core_temp_c=ct0)
    assert len(got) == len(expected) == 480
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) < 0.01


def test_resting_heart_rate_keeps_core_temperature_near_its_start() -> None:
    estimates = estimate_core_temp([70.0] * 240)
    assert all(36.7 <= ct <= 37.15 for ct in estimates)
    assert abs(estimates[59] - 37.1) < 0.3


def test_sustained_high_heart_rate_raises_core_temperature() -> None:
    estimates = estimate_core_temp([155.0] * 90)
    assert estimates == sorted(estimates)
    assert estimates[29] > 37.8
    assert estimates[-1] > 38.7


def inverse_observation(hr: float) -> float:
    """CT at which the model expects `hr`: the lower root of b2 CT^2 + b1 CT + b0 = hr."""
    p = DEFAULT_CORE_TEMP_PARAMETERS
    a, b, c = p.b2, p.b1, p.b0 - hr
    return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


@pytest.mark.parametrize("hr", [60.0, 90.0, 120.0, 160.0])
def test_converges_to_the_inverse_of_the_observation_function(hr: float) -> None:
    ct = estimate_core_temp([hr] * 600)[-1]
    assert ct == pytest.approx(inverse_observation(hr), abs=0.01)
    assert heart_rate_for_core_temp(ct) == pytest.approx(hr, abs=0.2)


def test_a_missing_minute_keeps_the_estimate_and_widens_its_variance() -> None:
    estimator = CoreTempEstimator(37.3)
    estimator.update(130)
    before, variance = estimator.core_temp_c, estimator.variance
    assert estimator.update(None) == before
    assert estimator.variance == pytest.approx(variance + 0.022**2)


@pytest.mark.parametrize("hr", [0.0, 10.0, 300.0, math.nan, math.inf])
def test_implausible_heart_rates_are_refused(hr: float) -> None:
    with pytest.raises(ValueError, match="heart rate"):
        CoreTempEstimator().update(hr)


def test_initial_core_temperature_must_be_a_number() -> None:
    with pytest.raises(ValueError, match="initial core temperature"):
        CoreTempEstimator(math.nan)
