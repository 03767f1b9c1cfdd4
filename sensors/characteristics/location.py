"""Location and Navigation service: Location and Speed (GSS 0x2A67)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, Self

from pydantic import Field, model_validator

from sensors.characteristic import Centi, Characteristic, Deci, DeviceDateTime, TenMillionth
from sensors.errors import DecodeErrorKind
from sensors.uuids import sig_uuid
from sensors.wire import Reader, Writer, read_date_time, write_date_time


class PositionStatus(StrEnum):
    NO_POSITION = "no_position"
    OK = "ok"
    ESTIMATED = "estimated"
    LAST_KNOWN = "last_known"


class SpeedDistanceFormat(StrEnum):
    TWO_D = "2d"
    THREE_D = "3d"


class ElevationSource(StrEnum):
    POSITIONING_SYSTEM = "positioning_system"
    BAROMETRIC = "barometric"
    DATABASE_SERVICE = "database_service"
    OTHER = "other"


class HeadingSource(StrEnum):
    MOVEMENT = "movement"
    MAGNETIC_COMPASS = "magnetic_compass"


# Flags (16 bits). Presence bits in wire order of the fields they announce.
_SPEED: Final = 1 << 0
_DISTANCE: Final = 1 << 1
_LOCATION: Final = 1 << 2
_ELEVATION: Final = 1 << 3
_HEADING: Final = 1 << 4
_ROLLING_TIME: Final = 1 << 5
_UTC_TIME: Final = 1 << 6
_POSITION_STATUS_SHIFT: Final = 7
_FORMAT_SHIFT: Final = 9
_ELEVATION_SOURCE_SHIFT: Final = 10
_HEADING_SOURCE_SHIFT: Final = 12
_FLAGS_RESERVED: Final = 0xE000

_POSITION_STATUS: Final = tuple(PositionStatus)
_FORMATS: Final = tuple(SpeedDistanceFormat)
_ELEVATION_SOURCES: Final = tuple(ElevationSource)
_HEADING_SOURCES: Final = tuple(HeadingSource)

# (field, presence flag, bytes, signed, steps per unit): the optional fields in wire order.
_SCALED_FIELDS: Final = (
    ("speed_mps", _SPEED, 2, False, 100),
    ("total_distance_m", _DISTANCE, 3, False, 10),
    ("latitude_deg", _LOCATION, 4, True, 10_000_000),
    ("longitude_deg", _LOCATION, 4, True, 10_000_000),
    ("elevation_m", _ELEVATION, 3, True, 100),
    ("heading_deg", _HEADING, 2, False, 100),
    ("rolling_time_s", _ROLLING_TIME, 1, False, 1),
)


class LocationAndSpeed(Characteristic):
    """0x2A67: position, speed, distance, elevation and heading; absent fields are None."""

    UUID = sig_uuid(0x2A67)
    NAME = "Location and Speed (0x2A67)"

    speed_mps: Centi | None = Field(default=None, ge=0, le=655.35)
    total_distance_m: Deci | None = Field(default=None, ge=0, le=1_677_721.5)
    latitude_deg: TenMillionth | None = Field(default=None, ge=-90, le=90)
    longitude_deg: TenMillionth | None = Field(default=None, ge=-180, le=180)
    elevation_m: Centi | None = Field(default=None, ge=-83_886.08, le=83_886.07)
    heading_deg: Centi | None = Field(default=None, ge=0, lt=360)
    rolling_time_s: int | None = Field(default=None, ge=0, le=255)
    utc_time: DeviceDateTime | None = None
    position_status: PositionStatus = PositionStatus.NO_POSITION
    speed_distance_format: SpeedDistanceFormat = SpeedDistanceFormat.TWO_D
    elevation_source: ElevationSource = ElevationSource.POSITIONING_SYSTEM
    heading_source: HeadingSource = HeadingSource.MOVEMENT

    @model_validator(mode="after")
    def _location_is_a_pair(self) -> Self:
        if (self.latitude_deg is None) != (self.longitude_deg is None):
            raise ValueError("latitude_deg and longitude_deg are sent together or not at all")
        return self

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        flags = reader.uint(2, "flags")
        if flags & _FLAGS_RESERVED:
            raise reader.error(
                DecodeErrorKind.RESERVED_FLAGS, f"reserved flag bits set in 0x{flags:04X}", 0
            )
        values: dict[str, Any] = {
            "position_status": _POSITION_STATUS[(flags >> _POSITION_STATUS_SHIFT) & 0b11],
            "speed_distance_format": _FORMATS[(flags >> _FORMAT_SHIFT) & 0b1],
            "elevation_source": _ELEVATION_SOURCES[(flags >> _ELEVATION_SOURCE_SHIFT) & 0b11],
            "heading_source": _HEADING_SOURCES[(flags >> _HEADING_SOURCE_SHIFT) & 0b1],
        }
        for name, flag, size, signed, scale in _SCALED_FIELDS:
            if flags & flag:
                raw = reader.sint(size, name) if signed else reader.uint(size, name)
                values[name] = raw / scale if scale != 1 else raw
        if flags & _UTC_TIME:
            values["utc_time"] = read_date_time(reader, "utc_time")
        return values

    def _write(self, writer: Writer) -> None:
        flags = (
            (_POSITION_STATUS.index(self.position_status) << _POSITION_STATUS_SHIFT)
            | (_FORMATS.index(self.speed_distance_format) << _FORMAT_SHIFT)
            | (_ELEVATION_SOURCES.index(self.elevation_source) << _ELEVATION_SOURCE_SHIFT)
            | (_HEADING_SOURCES.index(self.heading_source) << _HEADING_SOURCE_SHIFT)
        )
        present: list[tuple[float, int, bool, int]] = []
        for name, flag, size, signed, scale in _SCALED_FIELDS:
            value = getattr(self, name)
            if value is not None:
                flags |= flag
                present.append((value, size, signed, scale))
        if self.utc_time is not None:
            flags |= _UTC_TIME
        writer.uint(2, flags)
        for value, size, signed, scale in present:
            raw = round(value * scale)
            if signed:
                writer.sint(size, raw)
            else:
                writer.uint(size, raw)
        if self.utc_time is not None:
            write_date_time(writer, self.utc_time)
