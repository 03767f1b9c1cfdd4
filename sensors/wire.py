"""Byte-level reading and writing shared by every characteristic.

`Reader` turns every short read into a `DecodeError` that names the field and its byte offset,
and remembers where each field started, so a range check made later by the model can still point
at the byte that carried the bad value.
"""

from __future__ import annotations

import struct
from datetime import datetime
from enum import StrEnum
from typing import Final

from sensors.errors import DecodeError, DecodeErrorKind


class Reader:
    """A cursor over one payload; little-endian, as every Bluetooth characteristic is."""

    __slots__ = ("_data", "_pos", "characteristic", "offsets")

    def __init__(self, data: bytes, characteristic: str) -> None:
        self._data = data
        self._pos = 0
        self.characteristic = characteristic
        self.offsets: dict[str, int] = {}

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def error(self, kind: DecodeErrorKind, detail: str, offset: int | None = None) -> DecodeError:
        return DecodeError(
            kind, self.characteristic, detail, self._pos if offset is None else offset
        )

    def _take(self, size: int, field: str) -> bytes:
        start = self._pos
        end = start + size
        if end > len(self._data):
            raise self.error(
                DecodeErrorKind.TOO_SHORT,
                f"{field} needs {size} byte(s) but {len(self._data) - start} remain",
                start,
            )
        self.offsets.setdefault(field, start)
        self._pos = end
        return self._data[start:end]

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self._take(size, field), "little")

    def sint(self, size: int, field: str) -> int:
        return int.from_bytes(self._take(size, field), "little", signed=True)

    def raw(self, size: int, field: str) -> bytes:
        return self._take(size, field)

    def int16s(self, count: int, field: str) -> tuple[int, ...]:
        """`count` little-endian signed 16-bit values at once (the IMU batch's hot path)."""
        return struct.unpack(f"<{count}h", self._take(2 * count, field))

    def rest(self, field: str) -> bytes:
        return self._take(self.remaining, field)

    def mark(self, field: str, offset: int) -> None:
        """Record where a field derived from earlier bytes (a flag, a list) started."""
        self.offsets.setdefault(field, offset)

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise self.error(
                DecodeErrorKind.TRAILING_BYTES,
                f"{len(self._data) - self._pos} unexpected trailing byte(s)",
            )


class Writer:
    """Little-endian byte builder, the mirror of `Reader`."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def uint(self, size: int, value: int) -> None:
        self._buf += value.to_bytes(size, "little")

    def sint(self, size: int, value: int) -> None:
        self._buf += value.to_bytes(size, "little", signed=True)

    def raw(self, data: bytes) -> None:
        self._buf += data

    def getvalue(self) -> bytes:
        return bytes(self._buf)


# --- IEEE 11073-20601 32-bit FLOAT -------------------------------------------------------------


class SpecialValue(StrEnum):
    """The FLOAT special values of IEEE 11073-20601 §8.6.3 (exponent 0, reserved mantissas)."""

    NAN = "nan"
    NRES = "nres"
    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"


FLOAT_SPECIALS: Final[dict[int, SpecialValue]] = {
    0x007FFFFF: SpecialValue.NAN,
    0x00800000: SpecialValue.NRES,
    0x007FFFFE: SpecialValue.POSITIVE_INFINITY,
    0x00800002: SpecialValue.NEGATIVE_INFINITY,
}
FLOAT_SPECIAL_CODES: Final[dict[SpecialValue, int]] = {v: k for k, v in FLOAT_SPECIALS.items()}
FLOAT_RESERVED: Final = 0x00800001
# Largest magnitude a finite mantissa may take: 0x7FFFFE and up are the special codes.
FLOAT_MANTISSA_MAX: Final = 0x7FFFFD


def read_float32(reader: Reader, field: str) -> float | SpecialValue:
    """Decode an IEEE-11073 FLOAT: signed 8-bit exponent, signed 24-bit mantissa, base 10."""
    start = reader.position
    raw = reader.uint(4, field)
    special = FLOAT_SPECIALS.get(raw)
    if special is not None:
        return special
    if raw == FLOAT_RESERVED:
        raise reader.error(
            DecodeErrorKind.RESERVED_VALUE, f"{field} is the reserved FLOAT 0x{raw:08X}", start
        )
    exponent = _signed(raw >> 24, 8)
    mantissa = _signed(raw & 0xFFFFFF, 24)
    scale: int = 10 ** abs(exponent)
    # Divide rather than multiply by 10**-n so that 366e-1 decodes to the float nearest 36.6.
    return float(mantissa * scale) if exponent >= 0 else mantissa / scale


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def write_float32(writer: Writer, value: float | SpecialValue, max_decimals: int) -> None:
    """Encode with the coarsest exponent (0 down to -max_decimals) that holds `value` exactly."""
    if isinstance(value, SpecialValue):
        writer.uint(4, FLOAT_SPECIAL_CODES[value])
        return
    for decimals in range(max_decimals + 1):
        mantissa = round(value * 10**decimals)
        if mantissa / 10**decimals == value:
            break
    if abs(mantissa) > FLOAT_MANTISSA_MAX:
        raise ValueError(f"{value} does not fit an IEEE-11073 FLOAT with {decimals} decimals")
    writer.uint(4, ((-decimals & 0xFF) << 24) | (mantissa & 0xFFFFFF))


# --- Bluetooth Date Time (0x2A08 layout), used by 0x2A1C and 0x2A67 ------------------------------

DATE_TIME_SIZE: Final = 7
_DATE_TIME_FIELDS: Final = (
    # (name, offset within the 7 bytes, lowest, highest); 0 in year, month or day means unknown.
    ("year", 0, 1582, 9999),
    ("month", 2, 1, 12),
    ("day", 3, 1, 31),
    ("hours", 4, 0, 23),
    ("minutes", 5, 0, 59),
    ("seconds", 6, 0, 59),
)


def read_date_time(reader: Reader, field: str) -> datetime | None:
    """Decode a Date Time; None when the device says the date is unknown (a zero year/month/day)."""
    start = reader.position
    data = reader.raw(DATE_TIME_SIZE, field)
    parts = [int.from_bytes(data[0:2], "little"), *data[2:]]
    unknown_date = False
    for value, (name, offset, low, high) in zip(parts, _DATE_TIME_FIELDS, strict=True):
        if value == 0 and name in ("year", "month", "day"):
            unknown_date = True
            continue
        if not low <= value <= high:
            raise reader.error(
                DecodeErrorKind.OUT_OF_RANGE,
                f"{field} {name} {value} is outside {low}..{high}",
                start + offset,
            )
    if unknown_date:
        return None
    try:
        return datetime(*parts)  # noqa: DTZ001 - Date Time carries no zone; it is device-local time
    except ValueError as exc:
        raise reader.error(DecodeErrorKind.OUT_OF_RANGE, f"{field}: {exc}", start + 3) from None


def write_date_time(writer: Writer, value: datetime) -> None:
    writer.uint(2, value.year)
    for part in (value.month, value.day, value.hour, value.minute, value.second):
        writer.uint(1, part)
