"""Polar's heart rate in its advertisements: readable without a connection.

Layout from the SDK (polar-ble-sdk `BleAdvertisementContent.processAdvManufacturerData` and
`BlePolarHrAdvertisement.kt`), of the bytes after Polar's company id 0x006B: a sequence of
records. A record whose first byte has bit 6 set is a length-prefixed "gpb" blob (`header,
length, length bytes`), which the SDK skips; the first record with bit 6 clear is the heart-rate
record:

```
byte 0   bit 0 battery low, bit 1 sensor contact, bits 2-4 frame counter, bit 5 broadcast,
         bit 6 = 0 (heart-rate record), bit 7 status flag
byte 1   "kHz code"
byte 2   fast average heart rate, bpm
byte 3   slow average heart rate, bpm (optional: absent, the fast average stands for it)
```

The SDK shows the slow average (`hrForDisplay`). Real captures: a Verity Sense `72 08 00 00 00
00 00 00 00 00 7A 01 05 37 00 55` is 85 bpm (Navideck/universal_ble #69); an OH1 `72 06 7f 44 37
00 00 00 33 00 3c` is 60 bpm (the SDK's iOS `BleAdvertisementContent.swift` comment). The SDK's
own test (`BlePolarHrAdvertisementTest.kt`) reads bit 0 set as battery "Nok".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict, Field

from sensors.characteristic import Characteristic
from sensors.errors import DecodeErrorKind
from sensors.wire import Reader, Writer

POLAR_ADVERTISEMENT_COMPANY_ID: Final = 0x006B
_GPB_BIT: Final = 0x40
_BATTERY_LOW: Final = 0x01
_CONTACT: Final = 0x02
_COUNTER_SHIFT: Final = 2
_COUNTER_MASK: Final = 0x07
_BROADCAST: Final = 0x20
_STATUS: Final = 0x80


class GpbRecord(BaseModel):
    """A record the SDK skips: its header byte (bit 6 set) and its payload, kept as sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    header: int = Field(ge=_GPB_BIT, le=0xFF)
    payload: bytes = Field(max_length=0xFF)


class PolarHrAdvertisement(Characteristic):
    """The heart-rate record of a Polar advertisement, and the skipped records before it."""

    NAME = "Polar advertisement (manufacturer data, company 0x006B)"
    FRAME_COUNTER_MAX: ClassVar[int] = _COUNTER_MASK

    gpb_records: tuple[GpbRecord, ...] = ()
    battery_low: bool = False
    sensor_contact: bool = False
    frame_counter: int = Field(default=0, ge=0, le=_COUNTER_MASK)
    broadcast: bool = False
    status_flag: bool = False
    khz_code: int = Field(default=0, ge=0, le=0xFF)
    fast_hr_bpm: int = Field(ge=0, le=0xFF)
    slow_hr_bpm: int | None = Field(default=None, ge=0, le=0xFF)

    @property
    def heart_rate_bpm(self) -> int:
        """What the SDK shows (`hrForDisplay`): the slow average, else the fast one."""
        return self.fast_hr_bpm if self.slow_hr_bpm is None else self.slow_hr_bpm

    @classmethod
    def from_manufacturer_data(cls, manufacturer_data: Mapping[int, bytes]) -> Self | None:
        """Polar's entry of a scan's manufacturer data, decoded; None when there is none."""
        data = manufacturer_data.get(POLAR_ADVERTISEMENT_COMPANY_ID)
        return None if data is None else cls.decode(data)

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        records = []
        while True:
            at = reader.position
            if not reader.remaining:
                raise reader.error(DecodeErrorKind.TOO_SHORT, "no heart-rate record", at)
            header = reader.uint(1, "record")
            if not header & _GPB_BIT:
                break
            length = reader.uint(1, "gpb length")
            records.append(GpbRecord(header=header, payload=reader.raw(length, "gpb payload")))
        values: dict[str, Any] = {
            "gpb_records": tuple(records),
            "battery_low": bool(header & _BATTERY_LOW),
            "sensor_contact": bool(header & _CONTACT),
            "frame_counter": header >> _COUNTER_SHIFT & _COUNTER_MASK,
            "broadcast": bool(header & _BROADCAST),
            "status_flag": bool(header & _STATUS),
            "khz_code": reader.uint(1, "khz_code"),
            "fast_hr_bpm": reader.uint(1, "fast_hr_bpm"),
        }
        if reader.remaining:
            values["slow_hr_bpm"] = reader.uint(1, "slow_hr_bpm")
        return values

    def _write(self, writer: Writer) -> None:
        for record in self.gpb_records:
            writer.uint(1, record.header)
            writer.uint(1, len(record.payload))
            writer.raw(record.payload)
        writer.uint(
            1,
            (_BATTERY_LOW if self.battery_low else 0)
            | (_CONTACT if self.sensor_contact else 0)
            | (self.frame_counter << _COUNTER_SHIFT)
            | (_BROADCAST if self.broadcast else 0)
            | (_STATUS if self.status_flag else 0),
        )
        writer.uint(1, self.khz_code)
        writer.uint(1, self.fast_hr_bpm)
        if self.slow_hr_bpm is not None:
            writer.uint(1, self.slow_hr_bpm)
