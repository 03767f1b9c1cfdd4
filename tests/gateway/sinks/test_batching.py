"""The batch policy: InfluxDB's 5,000 lines, one second of lingering, nonsense refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.sinks.influx import BatchPolicy


def test_defaults_follow_influxdb_guidance() -> None:
    assert BatchPolicy() == BatchPolicy(max_lines=5_000, max_age_s=1.0)


@pytest.mark.parametrize(
    "changes", [{"max_lines": 0}, {"max_age_s": 0}, {"max_age_s": -1}, {"surprise": 1}]
)
def test_policy_refuses_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        BatchPolicy(**changes)


def test_policy_is_frozen() -> None:
    with pytest.raises(ValidationError):
        BatchPolicy().max_lines = 1  # type: ignore[misc]
