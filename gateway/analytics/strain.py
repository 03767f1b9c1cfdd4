"""Physiological Strain Index (Moran, Shitzer and Pandolf 1998) and maximal heart rate.

PSI rates heat strain on a 0-10 scale from core temperature and heart rate, each weighted
equally as the fraction of the rise from the officer's baseline to the index's hyperthermic
limits, 39.5 degC and 180 bpm (Am. J. Physiol. 275: R129-R134, 1998).
"""

from __future__ import annotations

import math
from enum import Enum

from gateway.analytics.core_temp import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM

# The index's ceilings: Moran et al. scaled a rise from normothermia to hyperthermia of
# 36.5 -> 39.5 degC and 60 -> 180 bpm onto 5 points each.
PSI_CORE_TEMP_LIMIT_C = 39.5
PSI_HEART_RATE_LIMIT_BPM = 180.0
PSI_POINTS_PER_TERM = 5.0
PSI_MIN = 0.0
PSI_MAX = 10.0

# Moran's own baseline heart rate, the lower anchor of the scale. It is below most officers'
# real resting rate, which raises PSI slightly (errs toward warning); a measured one is better.
DEFAULT_RESTING_HEART_RATE_BPM = 60.0

# Tanaka, Monahan and Seals 2001 (J. Am. Coll. Cardiol. 37:153-156): HRmax = 208 - 0.7 * age,
# from a meta-analysis of 351 studies; the usual 220 - age underestimates it past about 40.
TANAKA_INTERCEPT_BPM = 208.0
TANAKA_SLOPE_BPM_PER_YEAR = 0.7
# The ages of the adults (18 to 81 years) from whom the Tanaka regression was derived.
MIN_AGE_YEARS = 18.0
MAX_AGE_YEARS = 81.0


class PsiBand(Enum):
    """Moran's verbal heat-strain categories for PSI."""

    NONE = "none"  # 0-2: no or little strain
    LOW = "low"  # 3-4
    MODERATE = "moderate"  # 5-6
    HIGH = "high"  # 7-8
    VERY_HIGH = "very_high"  # 9-10


# Moran's categories are whole numbers; a continuous PSI takes the band of the nearest whole
# number, so each band's lower edge sits half a point below its first integer.
PSI_BAND_LOWER_EDGES: tuple[tuple[float, PsiBand], ...] = (
    (8.5, PsiBand.VERY_HIGH),
    (6.5, PsiBand.HIGH),
    (4.5, PsiBand.MODERATE),
    (2.5, PsiBand.LOW),
)


def physiological_strain_index(
    core_temp_c: float,
    heart_rate_bpm: float,
    baseline_core_temp_c: float,
    resting_heart_rate_bpm: float = DEFAULT_RESTING_HEART_RATE_BPM,
) -> float:
    """PSI = 5(CTt - CT0)/(39.5 - CT0) + 5(HRt - HR0)/(180 - HR0), clamped to 0-10.

    Clamped because the scale is defined on 0-10: a value below 0 (HR or CT under baseline)
    means no strain, and above 10 both limits are already passed, where extrapolating the
    linear terms would suggest a precision the index does not have.
    """
    values = (core_temp_c, heart_rate_bpm, baseline_core_temp_c, resting_heart_rate_bpm)
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"PSI inputs must be numbers, got {values}")
    if baseline_core_temp_c >= PSI_CORE_TEMP_LIMIT_C:
        raise ValueError(
            f"baseline core temperature {baseline_core_temp_c} degC must be below "
            f"{PSI_CORE_TEMP_LIMIT_C} degC"
        )
    if resting_heart_rate_bpm >= PSI_HEART_RATE_LIMIT_BPM:
        raise ValueError(
            f"resting heart rate {resting_heart_rate_bpm} bpm must be below "
            f"{PSI_HEART_RATE_LIMIT_BPM:g} bpm"
        )
    psi = PSI_POINTS_PER_TERM * (core_temp_c - baseline_core_temp_c) / (
        PSI_CORE_TEMP_LIMIT_C - baseline_core_temp_c
    ) + PSI_POINTS_PER_TERM * (heart_rate_bpm - resting_heart_rate_bpm) / (
        PSI_HEART_RATE_LIMIT_BPM - resting_heart_rate_bpm
    )
    return min(PSI_MAX, max(PSI_MIN, psi))


def psi_band(psi: float) -> PsiBand:
    """Moran's category for a PSI value."""
    for lower_edge, band in PSI_BAND_LOWER_EDGES:
        if psi >= lower_edge:
            return band
    return PsiBand.NONE


def max_heart_rate(age_years: float | None = None, measured_bpm: float | None = None) -> float:
    """Maximal heart rate: the measured value when there is one, else Tanaka's 208 - 0.7 * age."""
    if measured_bpm is not None:
        if not MIN_HEART_RATE_BPM <= measured_bpm <= MAX_HEART_RATE_BPM:
            raise ValueError(
                f"measured maximal heart rate {measured_bpm} bpm is outside "
                f"{MIN_HEART_RATE_BPM:g}-{MAX_HEART_RATE_BPM:g} bpm"
            )
        return measured_bpm
    if age_years is None:
        raise ValueError("give an age or a measured maximal heart rate")
    if not MIN_AGE_YEARS <= age_years <= MAX_AGE_YEARS:
        raise ValueError(
            f"age {age_years} is outside {MIN_AGE_YEARS:g}-{MAX_AGE_YEARS:g} years, "
            "where the Tanaka formula was derived"
        )
    return TANAKA_INTERCEPT_BPM - TANAKA_SLOPE_BPM_PER_YEAR * age_years
