"""Which message a control-point value is: that depends on how it travelled, not only on its bytes.

A read returns the feature bitmap (`PmdFeatures`), the client writes commands (`PmdCommand`), the
sensor indicates responses (`PmdResponse`) and its own stops (`PmdMeasurementStopped`). The
stop notice `01 02` and the command "get ACC settings" `01 02` are the same bytes, so whoever
knows the direction decodes with that type or with `decode_indication`; `decode_control_point`
is for captures whose direction is not recorded, and reads `01 ...` as the client's command.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from sensors.errors import DecodeError, DecodeErrorKind
from sensors.pmd.commands import PmdCommand
from sensors.pmd.features import PmdFeatures
from sensors.pmd.opcodes import FEATURE_READ_CODE, MEASUREMENT_STOPPED_CODE, RESPONSE_CODE
from sensors.pmd.responses import PmdMeasurementStopped, PmdResponse

_INDICATION: Final = "PMD Control Point indication (fb005c81)"

PmdControlPointMessage = PmdFeatures | PmdCommand | PmdResponse | PmdMeasurementStopped
PmdIndication = PmdResponse | PmdMeasurementStopped

INDICATIONS: Final[Mapping[int, type[PmdIndication]]] = MappingProxyType(
    {RESPONSE_CODE: PmdResponse, MEASUREMENT_STOPPED_CODE: PmdMeasurementStopped}
)
# For a capture without its direction: the two first bytes no command starts with, then commands.
_BY_FIRST_BYTE: Final[Mapping[int, type[PmdFeatures | PmdResponse]]] = MappingProxyType(
    {FEATURE_READ_CODE: PmdFeatures, RESPONSE_CODE: PmdResponse}
)


def decode_indication(data: bytes | bytearray | memoryview) -> PmdIndication:
    """An indication from the sensor: a response (`F0 ...`) or a stop notice (`01 ...`)."""
    raw = bytes(data)
    if not raw:
        raise DecodeError(DecodeErrorKind.TOO_SHORT, _INDICATION, "an empty indication", 0)
    codec = INDICATIONS.get(raw[0])
    if codec is None:
        raise DecodeError(
            DecodeErrorKind.RESERVED_VALUE,
            _INDICATION,
            f"indications start with 0xF0 or 0x01, not 0x{raw[0]:02X}",
            0,
        )
    return codec.decode(raw)


def decode_control_point(data: bytes | bytearray | memoryview) -> PmdControlPointMessage:
    """A control-point value of unknown direction: feature read, response, else a command."""
    raw = bytes(data)
    codec = _BY_FIRST_BYTE.get(raw[0]) if raw else None
    return (codec or PmdCommand).decode(raw)
