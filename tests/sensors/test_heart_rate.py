"""0x2A37 and 0x2A38 against byte vectors written from the Bluetooth GSS, every flag combination."""

from __future__ import annotations

import pytest

from sensors import (
    BodySensorLocation,
    DecodeError,
    DecodeErrorKind,
    HeartRateMeasurement,
    SensorContact,
)

# (wire bytes, heart_rate_bpm, sensor_contact, energy_expended_kj, rr_intervals_s) for flags
# 0x00-0x1F: bit 0 uint16 value, bits 1-2 contact status, bit 3 energy, bit 4 RR intervals.
# 0x4801 is 328 bpm as uint16; 0x1234 is 4660 kJ; RR 0x0400 = 1024/1024 s, 0x0330 = 816/1024 s.
VECTORS = [
    ("00 48", 72, "not_supported", None, ()),
    ("01 4801", 328, "not_supported", None, ()),
    ("02 48", 72, "not_supported", None, ()),
    ("03 4801", 328, "not_supported", None, ()),
    ("04 48", 72, "not_detected", None, ()),
    ("05 4801", 328, "not_detected", None, ()),
    ("06 48", 72, "detected", None, ()),
    ("07 4801", 328, "detected", None, ()),
    ("08 48 3412", 72, "not_supported", 4660, ()),
    ("09 4801 3412", 328, "not_supported", 4660, ()),
    ("0a 48 3412", 72, "not_supported", 4660, ()),
    ("0b 4801 3412", 328, "not_supported", 4660, ()),
    ("0c 48 3412", 72, "not_detected", 4660, ()),
    ("0d 4801 3412", 328, "not_detected", 4660, ()),
    ("0e 48 3412", 72, "detected", 4660, ()),
    ("0f 4801 3412", 328, "detected", 4660, ()),
    ("10 48 0004 3003", 72, "not_supported", None, (1.0, 0.796875)),
    ("11 4801 0004 3003", 328, "not_supported", None, (1.0, 0.796875)),
    ("12 48 0004 3003", 72, "not_supported", None, (1.0, 0.796875)),
    ("13 4801 0004 3003", 328, "not_supported", None, (1.0, 0.796875)),
    ("14 48 0004 3003", 72, "not_detected", None, (1.0, 0.796875)),
    ("15 4801 0004 3003", 328, "not_detected", None, (1.0, 0.796875)),
    ("16 48 0004 3003", 72, "detected", None, (1.0, 0.796875)),
    ("17 4801 0004 3003", 328, "detected", None, (1.0, 0.796875)),
    ("18 48 3412 0004 3003", 72, "not_supported", 4660, (1.0, 0.796875)),
    ("19 4801 3412 0004 3003", 328, "not_supported", 4660, (1.0, 0.796875)),
    ("1a 48 3412 0004 3003", 72, "not_supported", 4660, (1.0, 0.796875)),
    ("1b 4801 3412 0004 3003", 328, "not_supported", 4660, (1.0, 0.796875)),
    ("1c 48 3412 0004 3003", 72, "not_detected", 4660, (1.0, 0.796875)),
    ("1d 4801 3412 0004 3003", 328, "not_detected", 4660, (1.0, 0.796875)),
    ("1e 48 3412 0004 3003", 72, "detected", 4660, (1.0, 0.796875)),
    ("1f 4801 3412 0004 3003", 328, "detected", 4660, (1.0, 0.796875)),
]


@pytest.mark.parametrize(("wire", "bpm", "contact", "energy", "rr"), VECTORS, ids=str)
def test_every_flag_combination_decodes(
    wire: str, bpm: int, contact: str, energy: int | None, rr: tuple[float, ...]
) -> None:
    reading = HeartRateMeasurement.decode(bytes.fromhex(wire))
    assert reading == HeartRateMeasurement(
        heart_rate_bpm=bpm,
        sensor_contact=SensorContact(contact),
        energy_expended_kj=energy,
        rr_intervals_s=rr,
    )


@pytest.mark.parametrize(("wire", "bpm", "contact", "energy", "rr"), VECTORS, ids=str)
def test_encoding_is_canonical(
    wire: str, bpm: int, contact: str, energy: int | None, rr: tuple[float, ...]
) -> None:
    """Encoding writes contact "not supported" as 0b00, so flags with bits 1-2 = 0b01 change."""
    data = bytes.fromhex(wire)
    encoded = HeartRateMeasurement.decode(data).encode()
    if (data[0] >> 1) & 0b11 == 0b01:
        assert encoded == bytes([data[0] & ~0x02]) + data[1:]
    else:
        assert encoded == data


def test_uint16_format_with_a_small_value_encodes_as_uint8() -> None:
    assert HeartRateMeasurement.decode(bytes.fromhex("01 4800")).encode() == bytes.fromhex("00 48")


def test_rr_intervals_are_held_at_wire_resolution() -> None:
    reading = HeartRateMeasurement(heart_rate_bpm=60, rr_intervals_s=(0.8,))
    assert reading.rr_intervals_s == (819 / 1024,)
    assert reading.encode() == bytes.fromhex("10 3c 3303")


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("00", DecodeErrorKind.TOO_SHORT, 1),
        ("01 48", DecodeErrorKind.TOO_SHORT, 1),
        ("08 48 34", DecodeErrorKind.TOO_SHORT, 2),
        ("10 48", DecodeErrorKind.TOO_SHORT, 2),
        ("10 48 0004 30", DecodeErrorKind.TRAILING_BYTES, 2),
        ("00 48 00", DecodeErrorKind.TRAILING_BYTES, 2),
        ("20 48", DecodeErrorKind.RESERVED_FLAGS, 0),
        ("80 48", DecodeErrorKind.RESERVED_FLAGS, 0),
    ],
)
def test_malformed_payloads_name_kind_and_offset(
    wire: str, kind: DecodeErrorKind, offset: int
) -> None:
    with pytest.raises(DecodeError) as caught:
        HeartRateMeasurement.decode(bytes.fromhex(wire))
    assert caught.value.kind is kind
    assert caught.value.offset == offset
    assert "Heart Rate Measurement (0x2A37)" in str(caught.value)
    assert f"byte offset {offset}" in str(caught.value)


def test_construction_refuses_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="heart_rate_bpm"):
        HeartRateMeasurement(heart_rate_bpm=70_000)
    with pytest.raises(ValueError, match="rr_intervals_s"):
        HeartRateMeasurement(heart_rate_bpm=60, rr_intervals_s=(-0.1,))


@pytest.mark.parametrize(
    ("wire", "location"),
    [("00", "other"), ("01", "chest"), ("02", "wrist"), ("03", "finger"), ("04", "hand"),
     ("05", "ear_lobe"), ("06", "foot")],
)  # fmt: skip
def test_body_sensor_location(wire: str, location: str) -> None:
    reading = BodySensorLocation.decode(bytes.fromhex(wire))
    assert reading.body_sensor_location == location
    assert reading.encode() == bytes.fromhex(wire)


@pytest.mark.parametrize("wire", ["07", "ff"])
def test_body_sensor_location_reserved_codes(wire: str) -> None:
    with pytest.raises(DecodeError) as caught:
        BodySensorLocation.decode(bytes.fromhex(wire))
    assert caught.value.kind is DecodeErrorKind.RESERVED_VALUE
