"""Integration tests use the service fixtures of tests/service_fixtures.py (see tests/conftest.py)."""

from tests.service_fixtures import InfluxV1, Mqtt

__all__ = ["InfluxV1", "Mqtt"]
