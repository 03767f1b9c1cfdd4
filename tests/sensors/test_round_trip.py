"""Encode then decode is the identity for every valid reading, and encoding is stable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given

from sensors import CHARACTERISTIC_TYPES, Characteristic, decode
from sensors.pmd import (
    PmdCommand,
    PmdFeatures,
    PmdMeasurementStopped,
    PmdResponse,
    decode_control_point,
    decode_indication,
)
from tests.sensors.pmd_strategies import CONTROL_POINT_MESSAGES
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


# Which decoders pick each control-point message from its bytes alone: a capture of unknown
# direction reads `01 ...` as the client's command, so only decode_indication finds a stop notice.
DISPATCHERS: dict[type[Characteristic], tuple[Callable[[bytes], Characteristic], ...]] = {
    PmdFeatures: (decode_control_point,),
    PmdCommand: (decode_control_point,),
    PmdResponse: (decode_control_point, decode_indication),
    PmdMeasurementStopped: (decode_indication,),
}


@pytest.mark.parametrize("message", list(DISPATCHERS), ids=lambda message: message.__name__)
def test_control_point_messages_round_trip(message: type[Characteristic]) -> None:
    @given(CONTROL_POINT_MESSAGES[message])
    def check(reading: Characteristic) -> None:
        assert type(reading) is message
        wire = reading.encode()
        again = message.decode(wire)
        assert again == reading
        assert again.encode() == wire
        for dispatch in DISPATCHERS[message]:
            assert dispatch(wire) == reading

    check()


def test_every_control_point_message_has_a_strategy() -> None:
    assert set(CONTROL_POINT_MESSAGES) == set(DISPATCHERS)
