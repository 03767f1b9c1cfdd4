"""The vendor Officer Safety service: IMU batches, safety events and device status.

Byte layouts, rates and the versioning rule are specified in docs/gatt-profile.md. Every payload
starts with a layout version byte; a decoder refuses versions it does not know rather than guess.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, field_validator

from sensors.characteristic import Centi, Characteristic
from sensors.errors import DecodeErrorKind
from sensors.uuids import vendor_uuid
from sensors.wire import Reader, Writer

LAYOUT_VERSION: Final = 1
UINT32_MAX: Final = 0xFFFF_FFFF
MILLI_G_PER_G: Final = 1000
CENTI_G_PER_G: Final = 100

OFFICER_SAFETY_SERVICE_UUID: Final = vendor_uuid(0x0001)

# 244 bytes is the notification payload at ATT_MTU 247, the largest that fits one LE packet with
# Data Length Extension; (244 - 7 header bytes) // 6 bytes per sample = 39 samples.
IMU_MAX_SAMPLES: Final = 39
IMU_HEADER_SIZE: Final = 7
IMU_SAMPLE_SIZE: Final = 6
IMU_MAX_RATE_HZ: Final = 200
# The IMU batch's sample index is a uint32 that wraps: index arithmetic is modulo this.
SAMPLE_INDEX_MODULO: Final = UINT32_MAX + 1


def _read_version(reader: Reader) -> None:
    version = reader.uint(1, "layout_version")
    if version != LAYOUT_VERSION:
        raise reader.error(
            DecodeErrorKind.UNSUPPORTED_VERSION,
            f"layout version {version} is not supported (this decoder knows {LAYOUT_VERSION})",
            0,
        )


def imu_samples_per_notification(att_mtu: int) -> int:
    """How many IMU samples one notification carries at a negotiated ATT_MTU."""
    return max(1, min(IMU_MAX_SAMPLES, (att_mtu - 3 - IMU_HEADER_SIZE) // IMU_SAMPLE_SIZE))


AXIS_MIN_G: Final = -32.768
AXIS_MAX_G: Final = 32.767
Sample = tuple[float, float, float]


class ImuBatch(Characteristic):
    """Consecutive tri-axial accelerometer samples in g, with the index of the first sample.

    The index counts samples since the device booted (wrapping at 2**32), so the gateway can see
    gaps (lost notifications) and measure the device clock against its own.
    """

    UUID = vendor_uuid(0x0002)
    NAME = "Officer Safety IMU Batch (b1e50002)"

    sample_rate_hz: int = Field(ge=1, le=IMU_MAX_RATE_HZ)
    first_sample_index: int = Field(ge=0, le=UINT32_MAX)
    samples_g: tuple[Sample, ...] = Field(min_length=1, max_length=IMU_MAX_SAMPLES)

    @field_validator("samples_g", mode="after")
    @classmethod
    def _samples_in_range_at_milli_g(cls, samples: tuple[Sample, ...]) -> tuple[Sample, ...]:
        # One pass over the whole batch: a per-float validator costs more than the decoding
        # itself at 117 values per notification (bench/pipeline.py).
        for index, sample in enumerate(samples):
            for value in sample:
                if not AXIS_MIN_G <= value <= AXIS_MAX_G:
                    raise ValueError(f"sample {index}: {value} g is outside +/-32.767 g")
        return tuple(
            (round(x * 1000) / 1000, round(y * 1000) / 1000, round(z * 1000) / 1000)
            for x, y, z in samples
        )

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        _read_version(reader)
        rate = reader.uint(1, "sample_rate_hz")
        first = reader.uint(4, "first_sample_index")
        count_at = reader.position
        count = reader.uint(1, "samples_g")
        if not 1 <= count <= IMU_MAX_SAMPLES:
            raise reader.error(
                DecodeErrorKind.OUT_OF_RANGE,
                f"sample count {count} is outside 1..{IMU_MAX_SAMPLES}",
                count_at,
            )
        raw = reader.int16s(3 * count, "samples_g")
        scaled = [value / MILLI_G_PER_G for value in raw]
        samples = tuple(zip(scaled[0::3], scaled[1::3], scaled[2::3], strict=True))
        return {"sample_rate_hz": rate, "first_sample_index": first, "samples_g": samples}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, LAYOUT_VERSION)
        writer.uint(1, self.sample_rate_hz)
        writer.uint(4, self.first_sample_index)
        writer.uint(1, len(self.samples_g))
        for sample in self.samples_g:
            for axis in sample:
                writer.sint(2, round(axis * MILLI_G_PER_G))


class SafetyEventKind(StrEnum):
    PANIC_PRESS = "panic_press"
    HOLSTER_DRAW = "holster_draw"
    HOLSTER_RETURN = "holster_return"
    IM_OK_PRESS = "im_ok_press"
    FALL_DETECTED = "fall_detected"
    IMPACT = "impact"


# Wire codes, a table so that adding an event is one line (0 and 7-255 are reserved).
SAFETY_EVENT_CODES: Final = {
    SafetyEventKind.PANIC_PRESS: 1,
    SafetyEventKind.HOLSTER_DRAW: 2,
    SafetyEventKind.HOLSTER_RETURN: 3,
    SafetyEventKind.IM_OK_PRESS: 4,
    SafetyEventKind.FALL_DETECTED: 5,
    SafetyEventKind.IMPACT: 6,
}
_SAFETY_EVENTS: Final = {code: kind for kind, code in SAFETY_EVENT_CODES.items()}
PEAK_NOT_MEASURED: Final = 0xFFFF


class SafetyEvent(Characteristic):
    """One discrete event: a button press, a holster switch, an on-device fall flag or an impact.

    `sequence` increments per event (wrapping at 2**16) so the gateway can drop a repeat and see a
    missed event; `peak_accel_g` is the peak acceleration for falls and impacts, else None.
    """

    UUID = vendor_uuid(0x0003)
    NAME = "Officer Safety Event (b1e50003)"

    event: SafetyEventKind
    sequence: int = Field(ge=0, le=0xFFFF)
    device_ticks_ms: int = Field(ge=0, le=UINT32_MAX)
    peak_accel_g: Centi | None = Field(default=None, ge=0, le=655.34)

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        _read_version(reader)
        code_at = reader.position
        code = reader.uint(1, "event")
        event = _SAFETY_EVENTS.get(code)
        if event is None:
            raise reader.error(
                DecodeErrorKind.RESERVED_VALUE, f"event code {code} is reserved", code_at
            )
        sequence = reader.uint(2, "sequence")
        ticks = reader.uint(4, "device_ticks_ms")
        peak = reader.uint(2, "peak_accel_g")
        return {
            "event": event,
            "sequence": sequence,
            "device_ticks_ms": ticks,
            "peak_accel_g": None if peak == PEAK_NOT_MEASURED else peak / CENTI_G_PER_G,
        }

    def _write(self, writer: Writer) -> None:
        writer.uint(1, LAYOUT_VERSION)
        writer.uint(1, SAFETY_EVENT_CODES[self.event])
        writer.uint(2, self.sequence)
        writer.uint(4, self.device_ticks_ms)
        peak = self.peak_accel_g
        writer.uint(2, PEAK_NOT_MEASURED if peak is None else round(peak * CENTI_G_PER_G))


_SEMVER = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


def _check_version(text: str) -> str:
    match = _SEMVER.match(text)
    if not match or any(int(part) > 0xFF for part in match.groups()):
        raise ValueError(f"firmware version {text!r} is not MAJOR.MINOR.PATCH with parts 0..255")
    return text


FirmwareVersion = Annotated[str, AfterValidator(_check_version)]

_STATUS_CHARGING: Final = 0x01
_STATUS_SENSOR_FAULT: Final = 0x02
_STATUS_RESERVED: Final = 0xFC


class DeviceStatus(Characteristic):
    """Firmware version, device clock (ms since boot) and boot count, read and notified.

    A boot count that changes, or ticks that go backwards, tell the gateway the device restarted.
    """

    UUID = vendor_uuid(0x0004)
    NAME = "Officer Safety Device Status (b1e50004)"

    firmware_version: FirmwareVersion
    device_ticks_ms: int = Field(ge=0, le=UINT32_MAX)
    boot_count: int = Field(ge=0, le=0xFFFF)
    charging: bool = False
    sensor_fault: bool = False

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        _read_version(reader)
        version = ".".join(str(reader.uint(1, "firmware_version")) for _ in range(3))
        ticks = reader.uint(4, "device_ticks_ms")
        boots = reader.uint(2, "boot_count")
        flags_at = reader.position
        flags = reader.uint(1, "flags")
        if flags & _STATUS_RESERVED:
            raise reader.error(
                DecodeErrorKind.RESERVED_FLAGS,
                f"reserved status bits set in 0x{flags:02X}",
                flags_at,
            )
        return {
            "firmware_version": version,
            "device_ticks_ms": ticks,
            "boot_count": boots,
            "charging": bool(flags & _STATUS_CHARGING),
            "sensor_fault": bool(flags & _STATUS_SENSOR_FAULT),
        }

    def _write(self, writer: Writer) -> None:
        writer.uint(1, LAYOUT_VERSION)
        for part in self.firmware_version.split("."):
            writer.uint(1, int(part))
        writer.uint(4, self.device_ticks_ms)
        writer.uint(2, self.boot_count)
        writer.uint(
            1,
            (_STATUS_CHARGING if self.charging else 0)
            | (_STATUS_SENSOR_FAULT if self.sensor_fault else 0),
        )
