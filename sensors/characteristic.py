"""The base type of every characteristic: a frozen reading that decodes and encodes itself.

A subclass declares its fields with units in their names and ranges as pydantic constraints, and
implements `_read` and `_write`. Ranges are stated once, on the fields: when a decoded value is
out of range, the model's own validation refuses it and `decode` turns that refusal into a
`DecodeError` pointing at the byte where the value was read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from sensors.errors import DecodeError, DecodeErrorKind
from sensors.wire import Reader, Writer


def _quantizer(steps_per_unit: int) -> Callable[[float], float]:
    def quantize(value: float) -> float:
        return round(value * steps_per_unit) / steps_per_unit

    return quantize


# Values are held at the resolution their characteristic carries on the wire, so that a reading
# built by firmware encodes to exactly what the gateway will decode: encode→decode is the identity.
Deci = Annotated[float, AfterValidator(_quantizer(10))]
Centi = Annotated[float, AfterValidator(_quantizer(100))]
Milli = Annotated[float, AfterValidator(_quantizer(1000))]
TenThousandth = Annotated[float, AfterValidator(_quantizer(10_000))]
TenMillionth = Annotated[float, AfterValidator(_quantizer(10_000_000))]
Per1024 = Annotated[float, AfterValidator(_quantizer(1024))]


def _whole_seconds(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError("a Bluetooth Date Time is device-local and carries no time zone")
    return value.replace(microsecond=0)


DeviceDateTime = Annotated[datetime, AfterValidator(_whole_seconds)]


class Characteristic(BaseModel):
    """A decoded GATT characteristic value; immutable, validated on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    UUID: ClassVar[str]
    NAME: ClassVar[str]

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse one notification or read value; raises DecodeError and nothing else."""
        reader = Reader(bytes(data), cls.NAME)
        values = cls._read(reader)
        reader.finish()
        try:
            return cls(**values)
        except ValidationError as exc:
            raise _out_of_range(reader, exc) from None

    def encode(self) -> bytes:
        writer = Writer()
        self._write(writer)
        return writer.getvalue()

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        raise NotImplementedError

    def _write(self, writer: Writer) -> None:
        raise NotImplementedError


def _out_of_range(reader: Reader, exc: ValidationError) -> DecodeError:
    first = exc.errors()[0]
    location = first["loc"]
    field = str(location[0]) if location else "value"
    shown = ".".join(str(part) for part in location) or field
    return DecodeError(
        DecodeErrorKind.OUT_OF_RANGE,
        reader.characteristic,
        f"{shown}: {first['msg'].lower()} (got {first.get('input')!r})",
        reader.offsets.get(field),
    )
