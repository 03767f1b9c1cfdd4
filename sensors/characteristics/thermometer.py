"""Health Thermometer service: Temperature Measurement (GSS 0x2A1C)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, Self

from pydantic import Field, model_validator

from sensors.characteristic import Characteristic, DeviceDateTime, TenThousandth
from sensors.errors import DecodeErrorKind
from sensors.uuids import sig_uuid
from sensors.wire import (
    Reader,
    SpecialValue,
    Writer,
    read_date_time,
    read_float32,
    write_date_time,
    write_float32,
)


class TemperatureType(StrEnum):
    """Temperature Type codes 1-9 of GSS 0x2A1D; 0 and 10-255 are reserved."""

    ARMPIT = "armpit"
    BODY = "body"
    EAR = "ear"
    FINGER = "finger"
    GASTROINTESTINAL_TRACT = "gastrointestinal_tract"
    MOUTH = "mouth"
    RECTUM = "rectum"
    TOE = "toe"
    TYMPANUM = "tympanum"


_TYPE_CODES: Final = {kind: code for code, kind in enumerate(TemperatureType, start=1)}
_TYPES: Final = {code: kind for kind, code in _TYPE_CODES.items()}

_FLAG_FAHRENHEIT: Final = 0x01
_FLAG_TIMESTAMP: Final = 0x02
_FLAG_TYPE: Final = 0x04
_FLAGS_RESERVED: Final = 0xF8
# Encoded with up to four decimals: 0.1 m°C is far finer than any skin or core probe resolves.
MAX_DECIMALS: Final = 4


class TemperatureMeasurement(Characteristic):
    """0x2A1C: one temperature as an IEEE-11073 FLOAT, always held in degrees Celsius.

    `temperature_c` is None when the device sent a special value; `special_value` says which
    (NaN, NRes, +INF or -INF). A Fahrenheit payload is converted on decode; encoding is Celsius.
    """

    UUID = sig_uuid(0x2A1C)
    NAME = "Temperature Measurement (0x2A1C)"

    temperature_c: TenThousandth | None = Field(default=None, ge=-273.15, le=800.0)
    special_value: SpecialValue | None = None
    temperature_type: TemperatureType | None = None
    timestamp: DeviceDateTime | None = None

    @model_validator(mode="after")
    def _value_or_special(self) -> Self:
        if (self.temperature_c is None) == (self.special_value is None):
            raise ValueError("exactly one of temperature_c and special_value must be given")
        return self

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        flags = reader.uint(1, "flags")
        if flags & _FLAGS_RESERVED:
            raise reader.error(
                DecodeErrorKind.RESERVED_FLAGS, f"reserved flag bits set in 0x{flags:02X}", 0
            )
        value = read_float32(reader, "temperature_c")
        values: dict[str, Any] = {}
        if isinstance(value, SpecialValue):
            values["temperature_c"] = None
            values["special_value"] = value
        else:
            values["temperature_c"] = (
                (value - 32.0) * 5.0 / 9.0 if flags & _FLAG_FAHRENHEIT else value
            )
        if flags & _FLAG_TIMESTAMP:
            values["timestamp"] = read_date_time(reader, "timestamp")
        if flags & _FLAG_TYPE:
            start = reader.position
            code = reader.uint(1, "temperature_type")
            kind = _TYPES.get(code)
            if kind is None:
                raise reader.error(
                    DecodeErrorKind.RESERVED_VALUE, f"temperature type {code} is reserved", start
                )
            values["temperature_type"] = kind
        return values

    def _write(self, writer: Writer) -> None:
        flags = (_FLAG_TIMESTAMP if self.timestamp else 0) | (
            _FLAG_TYPE if self.temperature_type else 0
        )
        writer.uint(1, flags)
        value = self.special_value if self.temperature_c is None else self.temperature_c
        assert value is not None  # guaranteed by _value_or_special
        write_float32(writer, value, MAX_DECIMALS)
        if self.timestamp:
            write_date_time(writer, self.timestamp)
        if self.temperature_type:
            writer.uint(1, _TYPE_CODES[self.temperature_type])
