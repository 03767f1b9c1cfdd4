"""Small scenarios built in code, for tests that need one activity at a known time."""

from __future__ import annotations

from typing import Any

from firmware_mocks.scenario import Scenario


def scenario(
    phases: list[tuple[float, str]],
    *,
    duration_s: float,
    roster_size: int = 1,
    **sections: Any,
) -> Scenario:
    """A scenario in which officer 0 follows `phases` ((at_s, activity)) and others stand."""
    data: dict[str, Any] = {
        "name": "test",
        "description": "built by a test",
        "duration_s": duration_s,
        "environment": {"ambient_c": 20.0, "relative_humidity_pct": 50.0},
        "roster": {"size": roster_size},
        "routine": [{"activity": "standing", "duration_s": [600, 600]}],
        "timeline": [
            {"at_s": at, "activity": activity, "officers": [0]} for at, activity in phases
        ],
    }
    data.update(sections)
    return Scenario.model_validate(data)
