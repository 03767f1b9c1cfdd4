"""Integration tests use the service fixtures in tests/service_fixtures.py (tests/conftest.py)."""

from tests.service_fixtures import InfluxV1, Mqtt

__all__ = ["InfluxV1", "Mqtt"]
