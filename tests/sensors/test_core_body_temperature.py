"""greenTEG CORE: the Core Body Temperature characteristic and the advertised temperature.

Vectors come from the CORE documents and a public capture; where a document contradicts itself
the comment says how, and the test pins the reading the bytes themselves give.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors import (
    CORE_COMPANY_ID,
    CoreAdvertisement,
    CoreBodyTemperature,
    CoreDataQuality,
    DecodeError,
    DecodeErrorKind,
    HeartRateMonitorState,
    TemperatureMeasurement,
    codec_for,
)

CORE_MEASUREMENT_UUID = "00002101-5b1e-4347-b07c-97b514dae121"

# A real CORE, read with simplepyble: jogomu/corealarm, corealarm.py (commit eba4c3f) header
# comment, "Contents: b'\x17@\x0e\xc1\r`\x08\x14\x00' (9)". Flags 0x17: skin, core reserved,
# quality and state, heart rate; no Heat Strain Index byte because bit 5 is clear.
REAL_CAPTURE = "17 400e c10d 6008 14 00"

# Notes v3.1 §2.2 Table 5 gives this example three ways that disagree: the caption's hex
# "0x37-19-0F-A4-5C-0D-2F-00-11-00-27" is 11 bytes (both A4 and 5C for one 2-byte field), the
# table's skin column says 0x0D5C (34.20 °C) yet "35.22°C", and the Python rendering
# b"7\x19\x0f\xa4\r/\x00\x11\x00'" is 10 bytes with skin 0x0DA4. Only the rendering fits the
# 10-byte layout of flags 0x37; its skin temperature is 34.92 °C. Every other field agrees in all
# three: core 0x0F19 = 38.65 °C, reserved 47, quality "poor", HRM not receiving, HR 0, HSI 3.9.
NOTES_TABLE_5 = "37 190f a40d 2f00 11 00 27"
NOTES_TABLE_5_CAPTION = "37 190f a45c 0d2f 00 11 00 27"


def test_real_capture() -> None:
    reading = CoreBodyTemperature.decode(bytes.fromhex(REAL_CAPTURE))
    assert reading == CoreBodyTemperature(
        core_temperature_c=36.48,
        skin_temperature_c=35.21,
        core_reserved=2144,
        quality=CoreDataQuality.EXCELLENT,
        heart_rate_monitor=HeartRateMonitorState.NOT_RECEIVING,
    )
    # Heart rate 0 means "no heart rate received" (spec §3.1.1.6), so it re-encodes as absent.
    assert reading.encode() == bytes.fromhex("07 400e c10d 6008 14")


def test_notes_example_with_every_field() -> None:
    reading = CoreBodyTemperature.decode(bytes.fromhex(NOTES_TABLE_5))
    assert reading == CoreBodyTemperature(
        core_temperature_c=38.65,
        skin_temperature_c=34.92,
        core_reserved=47,
        quality=CoreDataQuality.POOR,
        heart_rate_monitor=HeartRateMonitorState.NOT_RECEIVING,
        heat_strain_index=3.9,
    )


def test_notes_caption_hex_has_a_byte_too_many() -> None:
    with pytest.raises(DecodeError) as caught:
        CoreBodyTemperature.decode(bytes.fromhex(NOTES_TABLE_5_CAPTION))
    assert caught.value.kind is DecodeErrorKind.TRAILING_BYTES
    assert caught.value.offset == 10


def test_registered_under_its_uuid_in_any_spelling() -> None:
    assert codec_for(CORE_MEASUREMENT_UUID) is CoreBodyTemperature
    assert codec_for(CORE_MEASUREMENT_UUID.upper()) is CoreBodyTemperature


# One literal per optional field, in wire order (spec Table 2), with the value it decodes to.
_OPTIONAL_FIELDS = [
    (0x01, "c10d", "skin_temperature_c", 35.21),
    (0x02, "f6ff", "core_reserved", -10),
    (0x04, "32", "quality", CoreDataQuality.FAIR),
    (0x10, "a8", "heart_rate_bpm", 168),
    (0x20, "fe", "heat_strain_index", 25.4),
]


@pytest.mark.parametrize("flags", range(0x40), ids=lambda flags: f"flags=0x{flags:02X}")
def test_every_flag_combination(flags: int) -> None:
    """Each field is on the wire exactly when its flag is set; bit 3 turns 0.01 °C into °F."""
    fahrenheit = bool(flags & 0x08)
    wire = f"{flags:02x} 400e"  # core 3648: 36.48 °C, or 36.48 °F
    expected: dict[str, Any] = {"core_temperature_c": 2.49 if fahrenheit else 36.48}
    for bit, hex_value, field, value in _OPTIONAL_FIELDS:
        if flags & bit:
            wire += hex_value
            expected[field] = value
    if flags & 0x01 and fahrenheit:
        expected["skin_temperature_c"] = 1.78  # 35.21 °F
    reading = CoreBodyTemperature.decode(bytes.fromhex(wire))
    # 0x32: quality 0b010 "fair", heart-rate-monitor state 0b11 "N/A" (None).
    assert reading == CoreBodyTemperature(**expected)
    if not fahrenheit:
        assert reading.encode() == bytes.fromhex(wire)


def test_core_not_available() -> None:
    reading = CoreBodyTemperature.decode(bytes.fromhex("04 ff7f 30"))
    assert reading.core_temperature_c is None
    assert reading.quality is CoreDataQuality.INVALID
    assert reading.heart_rate_monitor is None  # bits 5-4 = 0b11: N/A
    assert reading.encode() == bytes.fromhex("04 ff7f 30")


def test_negative_temperatures_are_signed() -> None:
    reading = CoreBodyTemperature.decode(bytes.fromhex("01 0080 9cff"))
    assert (reading.core_temperature_c, reading.skin_temperature_c) == (-327.68, -1.0)


def test_fahrenheit_is_converted_and_encoded_in_celsius() -> None:
    # 98.60 °F = 37.00 °C, 93.20 °F = 34.00 °C.
    reading = CoreBodyTemperature.decode(bytes.fromhex("09 8426 6824"))
    assert (reading.core_temperature_c, reading.skin_temperature_c) == (37.0, 34.0)
    assert reading.encode() == bytes.fromhex("01 740e 480d")


@pytest.mark.parametrize(
    ("byte", "quality", "monitor"),
    [
        ("00", CoreDataQuality.INVALID, HeartRateMonitorState.NOT_SUPPORTED),
        ("11", CoreDataQuality.POOR, HeartRateMonitorState.NOT_RECEIVING),
        ("22", CoreDataQuality.FAIR, HeartRateMonitorState.RECEIVING),
        ("33", CoreDataQuality.GOOD, None),
        ("04", CoreDataQuality.EXCELLENT, HeartRateMonitorState.NOT_SUPPORTED),
        ("27", None, HeartRateMonitorState.RECEIVING),
    ],
)
def test_quality_and_state(byte: str, quality: CoreDataQuality | None, monitor: object) -> None:
    reading = CoreBodyTemperature.decode(bytes.fromhex(f"04 400e {byte}"))
    assert (reading.quality, reading.heart_rate_monitor) == (quality, monitor)
    assert reading.encode() == bytes.fromhex(f"04 400e {byte}")


def test_quality_and_state_both_not_available_re_encode_as_absent() -> None:
    reading = CoreBodyTemperature.decode(bytes.fromhex("04 400e 37"))
    assert (reading.quality, reading.heart_rate_monitor) == (None, None)
    assert reading.encode() == bytes.fromhex("00 400e")


def test_json_fields_name_the_quality_as_the_spec_does() -> None:
    dumped = CoreBodyTemperature.decode(bytes.fromhex(NOTES_TABLE_5)).model_dump(mode="json")
    assert dumped["quality"] == "poor"
    assert dumped["heart_rate_monitor"] == "not_receiving"
    assert {quality.value for quality in CoreDataQuality} == {
        "invalid", "poor", "fair", "good", "excellent"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("00", DecodeErrorKind.TOO_SHORT, 1),
        ("00 40", DecodeErrorKind.TOO_SHORT, 1),
        ("01 400e", DecodeErrorKind.TOO_SHORT, 3),
        ("03 400e c10d", DecodeErrorKind.TOO_SHORT, 5),
        ("04 400e", DecodeErrorKind.TOO_SHORT, 3),
        ("30 400e 48", DecodeErrorKind.TOO_SHORT, 4),
        ("00 400e 00", DecodeErrorKind.TRAILING_BYTES, 3),
        ("40 400e", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("80 400e", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("04 400e 08", DecodeErrorKind.RESERVED_FLAGS, 3),  # Quality and State bit 3
        ("04 400e 40", DecodeErrorKind.RESERVED_FLAGS, 3),  # bits 7-6
        ("05 400e c10d 05", DecodeErrorKind.RESERVED_VALUE, 5),  # quality codes 5 and 6
        ("04 400e 06", DecodeErrorKind.RESERVED_VALUE, 3),
        ("20 400e ff", DecodeErrorKind.OUT_OF_RANGE, 3),  # HSI above 25.4 (§3.1.1.7)
        ("31 400e c10d 48 ff", DecodeErrorKind.OUT_OF_RANGE, 6),
    ],
)
def test_malformed_payloads_name_kind_and_offset(
    wire: str, kind: DecodeErrorKind, offset: int
) -> None:
    with pytest.raises(DecodeError) as caught:
        CoreBodyTemperature.decode(bytes.fromhex(wire))
    assert caught.value.kind is kind
    assert caught.value.offset == offset
    assert "CORE Core Body Temperature (00002101)" in str(caught.value)


def test_construction_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(ValueError, match="core_temperature_c"):
        CoreBodyTemperature(core_temperature_c=327.67)  # the "not available" code
    with pytest.raises(ValueError, match="heat_strain_index"):
        CoreBodyTemperature(heat_strain_index=25.5)
    with pytest.raises(ValueError, match="heart_rate_bpm"):
        CoreBodyTemperature(heart_rate_bpm=0)


# --- advertisement -------------------------------------------------------------------------------


def test_real_advertisement() -> None:
    """jogomu/corealarm corealarm.py header: "Manufacturer ID: 3062", b'\\x00\\x04u\\x8e'."""
    beacon = CoreAdvertisement.from_manufacturer_data({3062: b"\x00\x04u\x8e"})
    assert beacon == CoreAdvertisement(status=4, core_temperature_c=36.469)
    assert beacon is not None
    assert beacon.measuring
    # The same sensor's GATT read in that capture gave 36.48 °C.


def test_notes_advertisement_example() -> None:
    """Notes Table 2: 00 04 B3 91 is 0x91B3 = 37.299 °C; its footnote's "37.001" is a slip."""
    beacon = CoreAdvertisement.decode(bytes.fromhex("00 04 b391"))
    assert beacon.core_temperature_c == 37.299
    assert (beacon.state, beacon.measuring) == (4, True)
    assert beacon.encode() == bytes.fromhex("00 04 b391")


def test_company_id_is_0x0bf6() -> None:
    assert CORE_COMPANY_ID == 3062


def test_advertisement_state_ignores_the_internal_bits() -> None:
    beacon = CoreAdvertisement.decode(bytes.fromhex("00 f4 0000"))
    assert (beacon.status, beacon.state, beacon.measuring) == (0xF4, 4, True)
    assert not CoreAdvertisement.decode(bytes.fromhex("00 03 b391")).measuring


def test_no_core_entry_is_none() -> None:
    assert CoreAdvertisement.from_manufacturer_data({0x006B: b"\x72\x08\x00"}) is None


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("00 04 b3", DecodeErrorKind.TOO_SHORT, 2),
        ("00 04 b391 00", DecodeErrorKind.TRAILING_BYTES, 4),
        ("01 04 b391", DecodeErrorKind.UNSUPPORTED_VERSION, 0),
    ],
)
def test_malformed_advertisements(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        CoreAdvertisement.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


advertisements = st.builds(
    CoreAdvertisement,
    status=st.integers(0, 0xFF),
    core_temperature_c=st.floats(0, 65.535, allow_nan=False),
)


@given(advertisements)
def test_advertisement_round_trip(beacon: CoreAdvertisement) -> None:
    wire = beacon.encode()
    assert CoreAdvertisement.decode(wire) == beacon
    assert CoreAdvertisement.decode(wire).encode() == wire


# --- the Health Thermometer fallback --------------------------------------------------------------
# Notes §2.3 Table 7: CORE's 0x2A1C is "the 5-byte payload" of flags and an IEEE-11073 FLOAT, NaN
# (0x007FFFFF) when off body, yet the same table says flag bit 2 (Temperature Type present) is 1
# for CORE, which would make it 6 bytes; Table 8 serves the type separately in 0x2A1D instead. The
# existing TemperatureMeasurement decodes both consistent forms and refuses the contradictory one.


@pytest.mark.parametrize(
    ("wire", "celsius"),
    [("00 740100ff", 37.2), ("04 740100ff 02", 37.2), ("00 ffff7f00", None)],
)
def test_core_health_thermometer_payloads(wire: str, celsius: float | None) -> None:
    reading = codec_for("2A1C").decode(bytes.fromhex(wire))
    assert isinstance(reading, TemperatureMeasurement)
    assert reading.temperature_c == celsius


def test_a_type_flag_without_the_type_byte_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        TemperatureMeasurement.decode(bytes.fromhex("04 740100ff"))
    assert (caught.value.kind, caught.value.offset) == (DecodeErrorKind.TOO_SHORT, 5)
