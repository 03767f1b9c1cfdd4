"""Integration tests use the service fixtures in tests/service_fixtures.py (tests/conftest.py)
and the `writers` fixture in tests/support/influx.py."""

from tests.service_fixtures import InfluxV1, Mqtt
from tests.support.influx import writers

__all__ = ["InfluxV1", "Mqtt", "writers"]
