"""0x2A67 Location and Speed against vectors written from the GSS layout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from sensors import DecodeError, DecodeErrorKind, LocationAndSpeed

NONE: dict[str, Any] = {
    "speed_mps": None,
    "total_distance_m": None,
    "latitude_deg": None,
    "longitude_deg": None,
    "elevation_m": None,
    "heading_deg": None,
    "rolling_time_s": None,
    "utc_time": None,
    "position_status": "no_position",
    "speed_distance_format": "2d",
    "elevation_source": "positioning_system",
    "heading_source": "movement",
}
WHEN = datetime(2025, 11, 25, 14, 30, 5)  # noqa: DTZ001 - device-local, as on the wire

# Flags are 16-bit little-endian. Values: 0x008E = 142 -> 1.42 m/s; 0x003039 = 12345 -> 1234.5 m;
# 0x184447C0 = 407128000 -> 40.7128°; 0xD3E394A0 = -740060000 -> -74.006°; 0x00041A = 1050 ->
# 10.5 m; 0xFFFFF6 = -10 -> -0.1 m; 0x240E = 9230 -> 92.3°.
VECTORS = [
    ("0000", {}),
    ("0100 8e00", {"speed_mps": 1.42}),
    ("0200 393000", {"total_distance_m": 1234.5}),
    ("0400 c0474418 a094e3d3", {"latitude_deg": 40.7128, "longitude_deg": -74.006}),
    ("0800 1a0400", {"elevation_m": 10.5}),
    ("0800 f6ffff", {"elevation_m": -0.1}),
    ("1000 0e24", {"heading_deg": 92.3}),
    ("2000 1e", {"rolling_time_s": 30}),
    ("4000 e907 0b 19 0e 1e 05", {"utc_time": WHEN}),
    ("8000", {"position_status": "ok"}),
    ("0001", {"position_status": "estimated"}),
    ("8001", {"position_status": "last_known"}),
    ("0002", {"speed_distance_format": "3d"}),
    ("0004", {"elevation_source": "barometric"}),
    ("0008", {"elevation_source": "database_service"}),
    ("000c", {"elevation_source": "other"}),
    ("0010", {"heading_source": "magnetic_compass"}),
    (
        "ff1f 8e00 393000 c0474418 a094e3d3 1a0400 0e24 1e e9070b190e1e05",
        {
            "speed_mps": 1.42,
            "total_distance_m": 1234.5,
            "latitude_deg": 40.7128,
            "longitude_deg": -74.006,
            "elevation_m": 10.5,
            "heading_deg": 92.3,
            "rolling_time_s": 30,
            "utc_time": WHEN,
            "position_status": "last_known",
            "speed_distance_format": "3d",
            "elevation_source": "other",
            "heading_source": "magnetic_compass",
        },
    ),
]


@pytest.mark.parametrize(("wire", "fields"), VECTORS)
def test_decode_and_encode(wire: str, fields: dict[str, Any]) -> None:
    data = bytes.fromhex(wire)
    reading = LocationAndSpeed.decode(data)
    assert reading.model_dump() == NONE | fields
    assert reading.encode() == data


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("00", DecodeErrorKind.TOO_SHORT, 0),
        ("0100 8e", DecodeErrorKind.TOO_SHORT, 2),
        ("0400 c0474418 a094", DecodeErrorKind.TOO_SHORT, 6),
        ("0020", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("0080", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("0000 00", DecodeErrorKind.TRAILING_BYTES, 2),
        ("0400 80763d36 00000000", DecodeErrorKind.OUT_OF_RANGE, 2),  # latitude 91°
        ("0400 00000000 4014596b", DecodeErrorKind.OUT_OF_RANGE, 6),  # longitude 180.1°
        ("1000 a08c", DecodeErrorKind.OUT_OF_RANGE, 2),  # heading 360.00°
        ("4000 e907 0b 19 0e 3c 05", DecodeErrorKind.OUT_OF_RANGE, 7),  # minute 60
    ],
)
def test_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        LocationAndSpeed.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)
    assert "Location and Speed (0x2A67)" in str(caught.value)


def test_latitude_without_longitude_is_refused() -> None:
    with pytest.raises(ValueError, match="together"):
        LocationAndSpeed(latitude_deg=1.0)
