"""The PMD feature read: which measurements a sensor offers, from a plain read of the control point.

Layout from the SDK's `PmdMeasurementType.fromByteArray`: `0x0F`, then a bitmap in which bit n
(bits 0-7 in byte 1, 8-15 in byte 2) is measurement type n. Responses to commands come as
indications; a read only ever returns this value (polar-ble-sdk issue #360).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import Field, field_validator

from sensors.characteristic import Characteristic
from sensors.errors import DecodeErrorKind
from sensors.pmd.gatt import PMD_CONTROL_POINT_UUID
from sensors.pmd.measurement import MEASUREMENT_CODES, MEASUREMENT_TYPES, MeasurementType
from sensors.pmd.opcodes import FEATURE_READ_CODE
from sensors.wire import Reader, Writer

# The SDK reads a bit for every type but OFFLINE_TEMP; other bits it ignores, and so do we.
FEATURE_FLAGGED: Final = frozenset(MEASUREMENT_CODES) - {MeasurementType.OFFLINE_TEMP}
# A real H10 returns 17 bytes, the last 14 zero (phdiethelm/h10_ecg exploration/gatttool.md:
# `0f 05 00 00 ... 00`); the SDK reads bytes 1-2 only, so the rest is skipped on decode and
# written as zeros.
FEATURE_VALUE_SIZE: Final = 17
_BITMAP_SIZE: Final = 2


class PmdFeatures(Characteristic):
    """The measurement types a sensor offers, in code order (a real H10: ECG and ACC)."""

    UUID = PMD_CONTROL_POINT_UUID
    NAME = "PMD Control Point feature read (fb005c81)"

    message: Literal["features"] = "features"
    measurements: tuple[MeasurementType, ...] = Field(default=())

    @field_validator("measurements", mode="after")
    @classmethod
    def _flagged_once_in_code_order(
        cls, measurements: tuple[MeasurementType, ...]
    ) -> tuple[MeasurementType, ...]:
        unknown = set(measurements) - FEATURE_FLAGGED
        if unknown:
            raise ValueError(f"no feature bit for {sorted(unknown)}")
        return tuple(sorted(set(measurements), key=MEASUREMENT_CODES.__getitem__))

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        code = reader.uint(1, "message")
        if code != FEATURE_READ_CODE:
            raise reader.error(
                DecodeErrorKind.RESERVED_VALUE,
                f"a feature read starts with 0x{FEATURE_READ_CODE:02X}, not 0x{code:02X}",
                0,
            )
        bitmap = reader.uint(_BITMAP_SIZE, "measurements")
        reader.rest("unread feature bytes")
        flagged = (
            MEASUREMENT_TYPES.get(bit) for bit in range(8 * _BITMAP_SIZE) if bitmap >> bit & 1
        )
        return {"measurements": tuple(m for m in flagged if m in FEATURE_FLAGGED)}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, FEATURE_READ_CODE)
        writer.uint(_BITMAP_SIZE, sum(1 << MEASUREMENT_CODES[kind] for kind in self.measurements))
        writer.raw(bytes(FEATURE_VALUE_SIZE - 1 - _BITMAP_SIZE))
