"""The Heart Rate Service as real straps send it, and the Heart Rate Control Point (0x2A39)."""

from __future__ import annotations

import pytest

from sensors import (
    DecodeError,
    DecodeErrorKind,
    HeartRateControlCommand,
    HeartRateControlPoint,
    HeartRateMeasurement,
    SensorContact,
    codec_for,
)

# (strap, notification as captured, bpm, contact, RR ticks of 1/1024 s)
CAPTURES = [
    # Garmin HRM-Dual, Garmin developer forum thread 319496 "HRM Dual - extra data in heart rate
    # characteristic data": "10 38 2d 04 35 00 ... bpm: 56 rrList: [1044, 52]". The second RR,
    # 53/1024 s = 52 ms, is spurious (it is absent from the same strap's ANT+ stream); decoding
    # keeps it, gateway/analytics/rr_filter.py refuses it.
    ("Garmin HRM-Dual", "10 38 2d04 3500", 56, SensorContact.NOT_SUPPORTED, (1069, 53)),
    # Polar H10 read with gatttool, Stack Overflow question 50477232 "Reading Heart Rate
    # Measurement (x2A37) values": "10 48 2c 03" and "10 49 5e 03 96 03".
    ("Polar H10", "10 48 2c03", 72, SensorContact.NOT_SUPPORTED, (812,)),
    ("Polar H10", "10 49 5e03 9603", 73, SensorContact.NOT_SUPPORTED, (862, 918)),
    # An unbranded Bluetooth/ANT+ strap read with gatttool, Stack Overflow question 60599696
    # ("Garmin BLE heart rate monitor cannot get HRM data"): "16 34 e4 04", contact detected.
    ("unbranded strap", "16 34 e404", 52, SensorContact.DETECTED, (1252,)),
    ("unbranded strap", "16 33 de04", 51, SensorContact.DETECTED, (1246,)),
]


@pytest.mark.parametrize(("strap", "wire", "bpm", "contact", "ticks"), CAPTURES, ids=str)
def test_real_captures(
    strap: str, wire: str, bpm: int, contact: SensorContact, ticks: tuple[int, ...]
) -> None:
    reading = HeartRateMeasurement.decode(bytes.fromhex(wire))
    assert reading.heart_rate_bpm == bpm
    assert reading.sensor_contact is contact
    assert reading.rr_intervals_s == tuple(tick / 1024 for tick in ticks)
    assert reading.energy_expended_kj is None
    assert reading.encode() == bytes.fromhex(wire)


def test_the_garmin_rr_values_in_milliseconds() -> None:
    reading = HeartRateMeasurement.decode(bytes.fromhex("10 38 2d04 3500"))
    assert [round(rr * 1000) for rr in reading.rr_intervals_s] == [1044, 52]


def test_a_full_notification_carries_nine_rr_intervals() -> None:
    """The default ATT MTU of 23 leaves 20 bytes: flags, a uint8 rate and nine RR values."""
    wire = bytes.fromhex("10 b4") + bytes.fromhex("5501") * 9  # 180 bpm, 341/1024 s each
    assert len(wire) == 20
    reading = HeartRateMeasurement.decode(wire)
    assert reading.rr_intervals_s == (341 / 1024,) * 9


def test_contact_not_supported_is_not_contact_lost() -> None:
    """Bits 1-2: 0b00 and 0b01 mean the strap cannot tell; only 0b10 says contact is lost."""
    contacts = [HeartRateMeasurement.decode(bytes([flags, 60])).sensor_contact for flags in
                (0x00, 0x02, 0x04, 0x06)]  # fmt: skip
    assert contacts == [
        SensorContact.NOT_SUPPORTED,
        SensorContact.NOT_SUPPORTED,
        SensorContact.NOT_DETECTED,
        SensorContact.DETECTED,
    ]


def test_energy_expended_saturates_until_reset() -> None:
    """HRS 1.0 §3.1: at 0xFFFF kJ the strap holds the value until a client resets it."""
    saturated = HeartRateMeasurement.decode(bytes.fromhex("08 48 ffff"))
    assert saturated.energy_expended_kj == 65535
    assert saturated.energy_expended_saturated
    assert not HeartRateMeasurement.decode(bytes.fromhex("08 48 feff")).energy_expended_saturated
    assert not HeartRateMeasurement.decode(bytes.fromhex("00 48")).energy_expended_saturated


def test_reset_energy_expended() -> None:
    assert codec_for("2A39") is HeartRateControlPoint
    command = HeartRateControlPoint.decode(b"\x01")
    assert command.command is HeartRateControlCommand.RESET_ENERGY_EXPENDED
    assert HeartRateControlPoint().encode() == b"\x01"
    assert command.model_dump(mode="json") == {"command": "reset_energy_expended"}


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("00", DecodeErrorKind.RESERVED_VALUE, 0),
        ("02", DecodeErrorKind.RESERVED_VALUE, 0),
        ("ff", DecodeErrorKind.RESERVED_VALUE, 0),
        ("01 00", DecodeErrorKind.TRAILING_BYTES, 1),
    ],
)
def test_control_point_refuses_reserved_values(
    wire: str, kind: DecodeErrorKind, offset: int
) -> None:
    with pytest.raises(DecodeError) as caught:
        HeartRateControlPoint.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)
    assert "Heart Rate Control Point (0x2A39)" in str(caught.value)
