"""Batching by size and by age, on a hand-driven clock: no sleeps, no I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.sinks.influx import Batcher, BatchPolicy


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_defaults_follow_influxdb_guidance() -> None:
    assert BatchPolicy() == BatchPolicy(max_lines=5_000, max_age_s=1.0)


def test_a_full_batch_leaves_on_the_line_that_fills_it() -> None:
    clock = Clock()
    batcher = Batcher(BatchPolicy(max_lines=3, max_age_s=60), clock)
    assert batcher.add("a") is None
    assert batcher.add("b") is None
    assert len(batcher) == 2
    assert batcher.add("c") == ["a", "b", "c"]
    assert len(batcher) == 0
    assert batcher.add("d") is None


def test_a_batch_leaves_when_its_oldest_line_comes_of_age() -> None:
    clock = Clock()
    batcher = Batcher(BatchPolicy(max_lines=100, max_age_s=1.0), clock)
    assert batcher.poll() is None  # nothing pending, nothing due
    assert batcher.seconds_until_due() is None
    batcher.add("a")
    clock.now += 0.4
    batcher.add("b")
    assert batcher.seconds_until_due() == pytest.approx(0.6)
    clock.now += 0.5
    assert batcher.poll() is None
    clock.now += 0.1
    assert batcher.seconds_until_due() == 0.0
    assert batcher.poll() == ["a", "b"]
    assert batcher.poll() is None


def test_age_counts_from_the_first_line_of_each_batch() -> None:
    clock = Clock()
    batcher = Batcher(BatchPolicy(max_lines=100, max_age_s=1.0), clock)
    batcher.add("a")
    clock.now += 5
    assert batcher.add("b") == ["a", "b"]  # overdue when the next line arrives: it goes too
    batcher.add("c")
    assert batcher.seconds_until_due() == 1.0
    clock.now += 0.99
    assert batcher.poll() is None
    clock.now += 0.01
    assert batcher.poll() == ["c"]


def test_flush_takes_everything_whatever_its_age() -> None:
    clock = Clock()
    batcher = Batcher(BatchPolicy(max_lines=10, max_age_s=1.0), clock)
    assert batcher.flush() == []
    batcher.add("a")
    batcher.add("b")
    assert batcher.flush() == ["a", "b"]
    assert len(batcher) == 0


def test_many_lines_come_out_in_order_in_full_batches() -> None:
    clock = Clock()
    batcher = Batcher(BatchPolicy(max_lines=4, max_age_s=1.0), clock)
    batches = [batch for n in range(10) if (batch := batcher.add(str(n))) is not None]
    assert batches == [["0", "1", "2", "3"], ["4", "5", "6", "7"]]
    assert batcher.flush() == ["8", "9"]


@pytest.mark.parametrize(
    "changes", [{"max_lines": 0}, {"max_age_s": 0}, {"max_age_s": -1}, {"surprise": 1}]
)
def test_policy_refuses_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        BatchPolicy(**changes)


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        BatchPolicy().max_lines = 1  # type: ignore[misc]
