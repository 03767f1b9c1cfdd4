"""Heart Rate service characteristics (Bluetooth SIG Heart Rate Service 1.0, GSS 2A37 and 2A38)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import Field

from sensors.characteristic import Characteristic, Per1024
from sensors.errors import DecodeErrorKind
from sensors.uuids import sig_uuid
from sensors.wire import Reader, Writer


class SensorContact(StrEnum):
    NOT_SUPPORTED = "not_supported"
    NOT_DETECTED = "not_detected"
    DETECTED = "detected"


# Flags of 0x2A37. Bits 1-2 are the Sensor Contact Status: 0b00 and 0b01 both mean "not supported".
_FLAG_UINT16: Final = 0x01
_FLAG_CONTACT_SHIFT: Final = 1
_FLAG_ENERGY: Final = 0x08
_FLAG_RR: Final = 0x10
_FLAGS_RESERVED: Final = 0xE0
_CONTACT_FROM_BITS: Final = {
    0b00: SensorContact.NOT_SUPPORTED,
    0b01: SensorContact.NOT_SUPPORTED,
    0b10: SensorContact.NOT_DETECTED,
    0b11: SensorContact.DETECTED,
}
_CONTACT_TO_BITS: Final = {
    SensorContact.NOT_SUPPORTED: 0b00,
    SensorContact.NOT_DETECTED: 0b10,
    SensorContact.DETECTED: 0b11,
}
RR_TICKS_PER_SECOND: Final = 1024
UINT8_MAX: Final = 0xFF
RRSeconds = Annotated[Per1024, Field(ge=0, le=0xFFFF / RR_TICKS_PER_SECOND)]


class HeartRateMeasurement(Characteristic):
    """0x2A37: heart rate, sensor contact, energy expended and RR intervals (1/1024 s on air)."""

    UUID = sig_uuid(0x2A37)
    NAME = "Heart Rate Measurement (0x2A37)"

    heart_rate_bpm: int = Field(ge=0, le=0xFFFF)
    sensor_contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_expended_kj: int | None = Field(default=None, ge=0, le=0xFFFF)
    rr_intervals_s: tuple[RRSeconds, ...] = Field(default=())

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        flags = reader.uint(1, "flags")
        if flags & _FLAGS_RESERVED:
            raise reader.error(
                DecodeErrorKind.RESERVED_FLAGS, f"reserved flag bits set in 0x{flags:02X}", 0
            )
        size = 2 if flags & _FLAG_UINT16 else 1
        values: dict[str, Any] = {
            "heart_rate_bpm": reader.uint(size, "heart_rate_bpm"),
            "sensor_contact": _CONTACT_FROM_BITS[(flags >> _FLAG_CONTACT_SHIFT) & 0b11],
        }
        if flags & _FLAG_ENERGY:
            values["energy_expended_kj"] = reader.uint(2, "energy_expended_kj")
        if flags & _FLAG_RR:
            start = reader.position
            if reader.remaining == 0 or reader.remaining % 2:
                raise reader.error(
                    DecodeErrorKind.TOO_SHORT
                    if reader.remaining == 0
                    else DecodeErrorKind.TRAILING_BYTES,
                    f"RR intervals need a whole, non-zero number of 2-byte values, "
                    f"{reader.remaining} byte(s) remain",
                    start,
                )
            count = reader.remaining // 2
            values["rr_intervals_s"] = tuple(
                reader.uint(2, "rr_intervals_s") / RR_TICKS_PER_SECOND for _ in range(count)
            )
        return values

    def _write(self, writer: Writer) -> None:
        wide = self.heart_rate_bpm > UINT8_MAX
        flags = (_FLAG_UINT16 if wide else 0) | (
            _CONTACT_TO_BITS[self.sensor_contact] << _FLAG_CONTACT_SHIFT
        )
        if self.energy_expended_kj is not None:
            flags |= _FLAG_ENERGY
        if self.rr_intervals_s:
            flags |= _FLAG_RR
        writer.uint(1, flags)
        writer.uint(2 if wide else 1, self.heart_rate_bpm)
        if self.energy_expended_kj is not None:
            writer.uint(2, self.energy_expended_kj)
        for rr in self.rr_intervals_s:
            writer.uint(2, round(rr * RR_TICKS_PER_SECOND))


class SensorLocation(StrEnum):
    OTHER = "other"
    CHEST = "chest"
    WRIST = "wrist"
    FINGER = "finger"
    HAND = "hand"
    EAR_LOBE = "ear_lobe"
    FOOT = "foot"


_LOCATION_CODES: Final = {location: code for code, location in enumerate(SensorLocation)}
_LOCATIONS: Final = dict(enumerate(SensorLocation))


class BodySensorLocation(Characteristic):
    """0x2A38: where the heart-rate sensor sits (codes 7-255 are reserved)."""

    UUID = sig_uuid(0x2A38)
    NAME = "Body Sensor Location (0x2A38)"

    body_sensor_location: SensorLocation

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        code = reader.uint(1, "body_sensor_location")
        location = _LOCATIONS.get(code)
        if location is None:
            raise reader.error(
                DecodeErrorKind.RESERVED_VALUE, f"location code {code} is reserved", 0
            )
        return {"body_sensor_location": location}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, _LOCATION_CODES[self.body_sensor_location])
