"""Physiological Strain Index, its bands, and the maximal heart rate helper."""

from __future__ import annotations

import math

import pytest

from gateway.analytics.strain import (
    PsiBand,
    max_heart_rate,
    physiological_strain_index,
    psi_band,
)


def test_psi_by_hand() -> None:
    # 5 * (38.3 - 37.1) / (39.5 - 37.1) + 5 * (150 - 60) / (180 - 60) = 2.5 + 3.75
    assert physiological_strain_index(38.3, 150, 37.1, 60) == pytest.approx(6.25)
    # Moran's own anchors: 36.5 -> 39.5 degC and 60 -> 180 bpm span the whole scale.
    assert physiological_strain_index(39.5, 180, 36.5, 60) == pytest.approx(10.0)
    assert physiological_strain_index(38.0, 120, 36.5, 60) == pytest.approx(5.0)


def test_psi_at_baseline_is_zero_and_is_clamped_to_the_scale() -> None:
    assert physiological_strain_index(37.1, 60, 37.1, 60) == 0.0
    assert physiological_strain_index(36.8, 50, 37.1, 60) == 0.0
    assert physiological_strain_index(40.2, 195, 37.1, 60) == 10.0


def test_resting_heart_rate_defaults_to_moran_s_60() -> None:
    assert physiological_strain_index(37.1, 120, 37.1) == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((38.0, 120, 39.5, 60), "baseline core temperature 39.5 degC must be below 39.5"),
        ((38.0, 120, 37.0, 180), "resting heart rate 180 bpm must be below 180"),
        ((math.nan, 120, 37.0, 60), "must be numbers"),
    ],
)
def test_baselines_at_or_beyond_the_limits_are_refused(
    args: tuple[float, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        physiological_strain_index(*args)


@pytest.mark.parametrize(
    ("psi", "band"),
    [
        (0.0, PsiBand.NONE),
        (2.0, PsiBand.NONE),
        (2.49, PsiBand.NONE),
        (2.5, PsiBand.LOW),
        (4.0, PsiBand.LOW),
        (4.5, PsiBand.MODERATE),
        (6.0, PsiBand.MODERATE),
        (6.5, PsiBand.HIGH),
        (8.0, PsiBand.HIGH),
        (8.5, PsiBand.VERY_HIGH),
        (10.0, PsiBand.VERY_HIGH),
    ],
)
def test_bands_follow_moran_s_whole_number_categories(psi: float, band: PsiBand) -> None:
    assert psi_band(psi) is band


def test_max_heart_rate_prefers_a_measured_value() -> None:
    assert max_heart_rate(age_years=40, measured_bpm=191) == 191


@pytest.mark.parametrize(("age", "expected"), [(20, 194.0), (40, 180.0), (60, 166.0)])
def test_max_heart_rate_from_age_by_tanaka(age: float, expected: float) -> None:
    assert max_heart_rate(age_years=age) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give an age or a measured"),
        ({"age_years": 10}, "age 10 is outside 18-81"),
        ({"age_years": 95}, "age 95 is outside"),
        ({"measured_bpm": 400}, "400 bpm is outside 25-250"),
        ({"measured_bpm": 0}, "0 bpm is outside"),
    ],
)
def test_max_heart_rate_refuses_what_it_cannot_answer(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        max_heart_rate(**kwargs)
