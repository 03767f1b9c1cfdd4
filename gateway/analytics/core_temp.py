"""Core body temperature estimated from heart rate: the extended Kalman filter of Buller et al.

M. J. Buller et al., "Estimation of human core temperature from sequential heart rate
observations", Physiol. Meas. 34 (2013) 781-798. Core temperature (CT) is a hidden state that
drifts slowly (a random walk); each minute's mean heart rate (HR) is a noisy observation of it
through a quadratic. The authors report a bias of -0.03 +/- 0.32 degC against measured CT in 83
validation subjects: an indicator of thermal-work strain, not a thermometer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# Heart rates outside this range are sensor faults, not physiology; the filter would otherwise
# follow them to absurd temperatures.
MIN_HEART_RATE_BPM = 25.0
MAX_HEART_RATE_BPM = 250.0


@dataclass(frozen=True)
class CoreTempParameters:
    """The published model: one step per minute, with the paper's fitted constants."""

    # Time update CT_t = a * CT_(t-1): a = 1 makes CT a random walk whose per-minute variance
    # gamma = 0.022^2 degC^2 bounds how fast the estimate may move.
    a: float = 1.0
    gamma: float = 0.022**2
    # Observation model HR = b2 * CT^2 + b1 * CT + b0 (bpm), fitted on 17 soldiers over a 24 h
    # field exercise with CT from 36.0 to 40.0 degC.
    b0: float = -7887.1
    b1: float = 384.4286
    b2: float = -4.5714
    # Observation noise variance sigma = 18.88^2 bpm^2: HR varies with far more than heat.
    sigma: float = 18.88**2
    # The initial CT is taken as known (variance 0); 37.1 degC is the paper's starting value.
    v0: float = 0.0
    initial_core_temp_c: float = 37.1


DEFAULT_CORE_TEMP_PARAMETERS = CoreTempParameters()


class CoreTempEstimator:
    """Streaming estimate: feed each minute's mean heart rate, read the core temperature."""

    def __init__(
        self,
        initial_core_temp_c: float | None = None,
        params: CoreTempParameters = DEFAULT_CORE_TEMP_PARAMETERS,
    ) -> None:
        start = params.initial_core_temp_c if initial_core_temp_c is None else initial_core_temp_c
        if not math.isfinite(start):
            raise ValueError(f"initial core temperature must be a number, got {start}")
        self.params = params
        self.core_temp_c = start
        self.variance = params.v0

    def update(self, heart_rate_bpm: float | None) -> float:
        """One minute: predict, then correct with that minute's mean HR; returns CT in degC.

        `None` is a minute without heart rate: the prediction stands and its variance grows.
        """
        p = self.params
        predicted = p.a * self.core_temp_c
        variance = p.a * p.a * self.variance + p.gamma
        if heart_rate_bpm is None:
            self.core_temp_c, self.variance = predicted, variance
            return predicted
        if not MIN_HEART_RATE_BPM <= heart_rate_bpm <= MAX_HEART_RATE_BPM:
            raise ValueError(
                f"heart rate {heart_rate_bpm} bpm is outside "
                f"{MIN_HEART_RATE_BPM:g}-{MAX_HEART_RATE_BPM:g} bpm"
            )
        slope = 2.0 * p.b2 * predicted + p.b1  # dHR/dCT at the prediction
        expected_hr = p.b2 * predicted * predicted + p.b1 * predicted + p.b0
        gain = variance * slope / (slope * slope * variance + p.sigma)
        self.core_temp_c = predicted + gain * (heart_rate_bpm - expected_hr)
        self.variance = (1.0 - gain * slope) * variance
        return self.core_temp_c


def estimate_core_temp(
    heart_rates_bpm: Iterable[float | None],
    initial_core_temp_c: float | None = None,
    params: CoreTempParameters = DEFAULT_CORE_TEMP_PARAMETERS,
) -> list[float]:
    """Core temperature after each minute of a series of per-minute mean heart rates."""
    estimator = CoreTempEstimator(initial_core_temp_c, params)
    return [estimator.update(hr) for hr in heart_rates_bpm]


def heart_rate_for_core_temp(
    core_temp_c: float, params: CoreTempParameters = DEFAULT_CORE_TEMP_PARAMETERS
) -> float:
    """The observation function: the heart rate the model expects at a given core temperature."""
    return params.b2 * core_temp_c * core_temp_c + params.b1 * core_temp_c + params.b0
