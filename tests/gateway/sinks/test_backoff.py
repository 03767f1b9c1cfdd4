"""Retry timing: exponential, jittered by an injected random source, capped, Retry-After aware."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.sinks.influx import (
    BACKOFF_FIRST_S,
    BACKOFF_JITTER_FRACTION,
    BACKOFF_MAX_S,
    RETRY_AFTER_MAX_S,
    calculate_backoff_time,
)


def fixed(value: float) -> random.Random:
    class Fixed(random.Random):
        def random(self) -> float:
            return value

    return Fixed()


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 64.0), (8, 125.0)]
)
def test_without_jitter_the_delay_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert calculate_backoff_time(attempt, fixed(0.0).random) == expected


def test_the_largest_draw_halves_the_delay() -> None:
    assert calculate_backoff_time(3, fixed(1.0).random) == 4.0 * (1 - BACKOFF_JITTER_FRACTION)


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert calculate_backoff_time(10**9, fixed(0.0).random) == BACKOFF_MAX_S


@given(st.integers(1, 200), st.floats(0.0, 1.0))
def test_every_delay_lies_within_the_jitter_band(attempt: int, draw: float) -> None:
    nominal = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempt - 1))
    delay = calculate_backoff_time(attempt, fixed(draw).random)
    assert nominal * (1 - BACKOFF_JITTER_FRACTION) <= delay <= nominal


def test_a_seeded_source_gives_a_reproducible_spread() -> None:
    first = [calculate_backoff_time(5, random.Random(7).random) for _ in range(3)]
    assert len(set(first)) == 1
    rng = random.Random(7)
    spread = {calculate_backoff_time(5, rng.random) for _ in range(50)}
    assert len(spread) == 50
    assert all(8.0 <= delay <= 16.0 for delay in spread)


def test_retry_after_is_a_floor() -> None:
    assert calculate_backoff_time(1, fixed(0.0).random, retry_after_s=30.0) == 30.0
    assert calculate_backoff_time(8, fixed(0.0).random, retry_after_s=30.0) == BACKOFF_MAX_S
    assert calculate_backoff_time(1, fixed(0.0).random, retry_after_s=0.0) == 1.0


def test_retry_after_is_capped() -> None:
    delay = calculate_backoff_time(1, fixed(0.0).random, retry_after_s=86_400.0)
    assert delay == RETRY_AFTER_MAX_S


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_count_from_one(attempt: int) -> None:
    with pytest.raises(ValueError, match=f"attempt must be 1 or more, got {attempt}"):
        calculate_backoff_time(attempt, fixed(0.0).random)


@pytest.mark.parametrize("draw", [-0.1, 1.5, float("nan")])
def test_a_broken_random_source_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match=r"rand\(\) must return a float in \[0, 1\]"):
        calculate_backoff_time(1, fixed(draw).random)
