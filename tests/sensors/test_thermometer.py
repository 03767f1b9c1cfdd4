"""0x2A1C against vectors written from the GSS and IEEE 11073-20601 FLOAT rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sensors import (
    DecodeError,
    DecodeErrorKind,
    SpecialValue,
    TemperatureMeasurement,
    TemperatureType,
)

TS = "e907 0b 19 0e 1e 05"  # 2025-11-25 14:30:05
WHEN = datetime(2025, 11, 25, 14, 30, 5)  # noqa: DTZ001 - device-local, as on the wire


# Flags: bit 0 Fahrenheit, bit 1 time stamp, bit 2 temperature type. 0x016E = 366, exponent
# 0xFF = -1 -> 36.6 °C; 0x03DA = 986, exponent -1 -> 98.6 °F = 37.0 °C.
@pytest.mark.parametrize(
    ("wire", "celsius", "timestamp", "kind"),
    [
        ("00 6e0100ff", 36.6, None, None),
        ("01 da0300ff", 37.0, None, None),
        (f"02 6e0100ff {TS}", 36.6, WHEN, None),
        (f"03 da0300ff {TS}", 37.0, WHEN, None),
        ("04 6e0100ff 02", 36.6, None, TemperatureType.BODY),
        ("05 da0300ff 06", 37.0, None, TemperatureType.MOUTH),
        (f"06 6e0100ff {TS} 01", 36.6, WHEN, TemperatureType.ARMPIT),
        (f"07 da0300ff {TS} 09", 37.0, WHEN, TemperatureType.TYMPANUM),
    ],
)
def test_every_flag_combination(
    wire: str, celsius: float, timestamp: datetime | None, kind: TemperatureType | None
) -> None:
    reading = TemperatureMeasurement.decode(bytes.fromhex(wire))
    assert reading.temperature_c == celsius
    assert reading.special_value is None
    assert reading.timestamp == timestamp
    assert reading.temperature_type == kind


@pytest.mark.parametrize(
    ("wire", "celsius"),
    [
        ("00 25000001", 370.0),  # positive exponent: 37 x 10^1
        ("00 728f00fd", 36.722),  # 36722 x 10^-3
        ("00 c9ffffff", -5.5),  # negative mantissa -55 x 10^-1
        ("00 00000000", 0.0),
        ("01 00000000", -17.7778),  # 0 °F, held at 0.1 m°C
    ],
)
def test_float_mantissa_and_exponent(wire: str, celsius: float) -> None:
    assert TemperatureMeasurement.decode(bytes.fromhex(wire)).temperature_c == celsius


@pytest.mark.parametrize(
    ("wire", "special"),
    [
        ("00 ffff7f00", SpecialValue.NAN),
        ("00 00008000", SpecialValue.NRES),
        ("00 feff7f00", SpecialValue.POSITIVE_INFINITY),
        ("00 02008000", SpecialValue.NEGATIVE_INFINITY),
    ],
)
def test_special_values(wire: str, special: SpecialValue) -> None:
    reading = TemperatureMeasurement.decode(bytes.fromhex(wire))
    assert reading.temperature_c is None
    assert reading.special_value is special
    assert reading.encode() == bytes.fromhex(wire)


def test_celsius_encoding_picks_the_coarsest_exact_exponent() -> None:
    assert TemperatureMeasurement(temperature_c=36.6).encode() == bytes.fromhex("00 6e0100ff")
    assert TemperatureMeasurement(temperature_c=37).encode() == bytes.fromhex("00 25000000")
    assert TemperatureMeasurement(temperature_c=36.722).encode() == bytes.fromhex("00 728f00fd")


def test_unknown_date_gives_no_timestamp() -> None:
    reading = TemperatureMeasurement.decode(bytes.fromhex("02 6e0100ff 0000 00 00 0e 1e 05"))
    assert reading.timestamp is None


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("00 6e0100", DecodeErrorKind.TOO_SHORT, 1),
        ("02 6e0100ff e907 0b", DecodeErrorKind.TOO_SHORT, 5),
        ("04 6e0100ff", DecodeErrorKind.TOO_SHORT, 5),
        ("08 6e0100ff", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("80 6e0100ff", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("00 6e0100ff 00", DecodeErrorKind.TRAILING_BYTES, 5),
        ("00 01008000", DecodeErrorKind.RESERVED_VALUE, 1),
        ("04 6e0100ff 00", DecodeErrorKind.RESERVED_VALUE, 5),
        ("04 6e0100ff 0a", DecodeErrorKind.RESERVED_VALUE, 5),
        ("02 6e0100ff e907 0d 19 0e 1e 05", DecodeErrorKind.OUT_OF_RANGE, 7),
        ("02 6e0100ff e907 02 1e 0e 1e 05", DecodeErrorKind.OUT_OF_RANGE, 8),
        ("02 6e0100ff e907 0b 19 18 1e 05", DecodeErrorKind.OUT_OF_RANGE, 9),
        ("02 6e0100ff 0106 0b 19 0e 1e 05", DecodeErrorKind.OUT_OF_RANGE, 5),
        ("00 e8030002", DecodeErrorKind.OUT_OF_RANGE, 1),
    ],
)
def test_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        TemperatureMeasurement.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)
    assert "Temperature Measurement (0x2A1C)" in str(caught.value)


def test_exactly_one_of_value_and_special() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TemperatureMeasurement()
    with pytest.raises(ValueError, match="exactly one"):
        TemperatureMeasurement(temperature_c=36.6, special_value=SpecialValue.NAN)


def test_time_zone_aware_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        TemperatureMeasurement(temperature_c=36.6, timestamp=datetime(2025, 1, 1, tzinfo=UTC))
