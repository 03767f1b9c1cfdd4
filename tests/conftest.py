"""Shared test settings: Hypothesis profiles for a shared, noisy machine."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# No deadlines: CI machines are shared, and a slow example is not a wrong one.
settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=5000)
settings.load_profile(os.environ.get("BLUEWATCH_HYPOTHESIS_PROFILE", "default"))

# The real local services (InfluxDB, VictoriaMetrics, Mosquitto), for integration and e2e tests.
from tests.service_fixtures import influxdb, mqtt, victoria_metrics_url  # noqa: E402

__all__ = ["influxdb", "mqtt", "victoria_metrics_url"]
