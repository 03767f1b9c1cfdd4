"""The `writers` fixture (tests/support/influx.py) for the writers' wire-level tests."""

from tests.support.influx import writers

__all__ = ["writers"]
