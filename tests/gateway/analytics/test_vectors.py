"""Vector math shared by the activity summary and the fall detector."""

from __future__ import annotations

import pytest

from gateway.analytics.vectors import angle_deg


def test_angle_between_vectors() -> None:
    assert angle_deg((0, 0, 1), (0, 0, 2)) == pytest.approx(0.0)
    assert angle_deg((0, 0, 1), (1, 0, 0)) == pytest.approx(90.0)
    assert angle_deg((0, 0, 1), (0, 0, -1)) == pytest.approx(180.0)
    assert angle_deg((0, 0, 0), (1, 0, 0)) == 0.0
