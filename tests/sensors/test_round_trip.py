"""Encode then decode is the identity for every valid reading, and encoding is stable."""

from __future__ import annotations

import pytest
from hypothesis import given

from sensors import CHARACTERISTIC_TYPES, Characteristic, decode
from tests.sensors.strategies import ALL_READINGS


@pytest.mark.parametrize("codec", list(ALL_READINGS), ids=lambda codec: codec.__name__)
def test_encode_then_decode_is_identity(codec: type[Characteristic]) -> None:
    @given(ALL_READINGS[codec])
    def check(reading: Characteristic) -> None:
        assert type(reading) is codec
        wire = reading.encode()
        again = codec.decode(wire)
        assert again == reading
        assert again.encode() == wire
        assert decode(codec.UUID, wire) == reading

    check()


def test_every_characteristic_has_a_strategy() -> None:
    assert set(ALL_READINGS) == set(CHARACTERISTIC_TYPES)
