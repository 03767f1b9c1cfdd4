"""Heart Rate service characteristics (Bluetooth SIG Heart Rate Service 1.0, GSS 2A37-2A39)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import Field

from sensors.characteristic import Characteristic, Per1024
from sensors.errors import DecodeErrorKind
from sensors.uuids import sig_uuid
from sensors.wire import Reader, Writer


class SensorContact(StrEnum):
    """Flags bits 1-2 of 0x2A37: a strap without contact sensing is not one that lost contact."""

    # 0b00 or 0b01: the strap does not report contact (the Garmin HRM-Dual and Polar H10
    # captures in tests/sensors/test_heart_rate_straps.py both send flags 0x10).
    NOT_SUPPORTED = "not_supported"
    # 0b10: the strap senses contact and has none, i.e. it slipped or is off the chest.
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
# HRS 1.0 §3.1 (Energy Expended): the strap accumulates kJ since the last reset and, once it
# reaches 0xFFFF, holds that value so the client knows to reset it through 0x2A39.
ENERGY_EXPENDED_MAX_KJ: Final = 0xFFFF
RRSeconds = Annotated[Per1024, Field(ge=0, le=0xFFFF / RR_TICKS_PER_SECOND)]


class HeartRateMeasurement(Characteristic):
    """0x2A37: heart rate, sensor contact, energy expended and RR intervals (1/1024 s on air).

    A notification carries every beat since the previous one, so several RR intervals at high
    heart rates (up to 9 in a 20-byte payload). Energy expended is a counter since the last reset
    that falls back to 0 whenever any client writes "reset" to the Heart Rate Control Point
    (0x2A39), so only its increases mean energy.
    """

    UUID = sig_uuid(0x2A37)
    NAME = "Heart Rate Measurement (0x2A37)"

    heart_rate_bpm: int = Field(ge=0, le=0xFFFF)
    sensor_contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_expended_kj: int | None = Field(default=None, ge=0, le=ENERGY_EXPENDED_MAX_KJ)
    rr_intervals_s: tuple[RRSeconds, ...] = Field(default=())

    @property
    def energy_expended_saturated(self) -> bool:
        """The counter is stuck at its maximum until a client resets it (HRS 1.0 §3.1)."""
        return self.energy_expended_kj == ENERGY_EXPENDED_MAX_KJ

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


class HeartRateControlCommand(StrEnum):
    """Heart Rate Control Point values (GSS v8 §3.111.1): 0x01 is defined, the rest reserved."""

    RESET_ENERGY_EXPENDED = "reset_energy_expended"


_CONTROL_CODES: Final = {HeartRateControlCommand.RESET_ENERGY_EXPENDED: 0x01}
_CONTROLS: Final = {code: command for command, code in _CONTROL_CODES.items()}


class HeartRateControlPoint(Characteristic):
    """0x2A39: what a client writes to reset the strap's energy-expended counter to 0.

    Mandatory when the strap reports energy expended (HRS 1.0 §3.3); the strap answers any other
    value with the ATT error 0x80 "Control Point Value Not Supported".
    """

    UUID = sig_uuid(0x2A39)
    NAME = "Heart Rate Control Point (0x2A39)"

    command: HeartRateControlCommand = HeartRateControlCommand.RESET_ENERGY_EXPENDED

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        code = reader.uint(1, "command")
        command = _CONTROLS.get(code)
        if command is None:
            raise reader.error(
                DecodeErrorKind.RESERVED_VALUE, f"control point value 0x{code:02X} is reserved", 0
            )
        return {"command": command}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, _CONTROL_CODES[self.command])
