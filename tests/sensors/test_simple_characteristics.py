"""Battery Level and the Device Information strings."""

from __future__ import annotations

import pytest

from sensors import (
    BatteryLevel,
    DecodeError,
    DecodeErrorKind,
    FirmwareRevision,
    ManufacturerName,
    SerialNumber,
)


@pytest.mark.parametrize(("wire", "pct"), [("00", 0), ("57", 87), ("64", 100)])
def test_battery_level(wire: str, pct: int) -> None:
    reading = BatteryLevel.decode(bytes.fromhex(wire))
    assert reading.battery_pct == pct
    assert reading.encode() == bytes.fromhex(wire)


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("65", DecodeErrorKind.OUT_OF_RANGE, 0),
        ("ff", DecodeErrorKind.OUT_OF_RANGE, 0),
        ("5700", DecodeErrorKind.TRAILING_BYTES, 1),
    ],
)
def test_battery_level_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        BatteryLevel.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)
    assert "Battery Level (0x2A19)" in str(caught.value)


def test_device_information_text() -> None:
    assert ManufacturerName.decode(b"Bluewatch Labs").text == "Bluewatch Labs"
    assert FirmwareRevision.decode(b"1.4.2\x00\x00").text == "1.4.2"  # NUL padding dropped
    assert SerialNumber.decode("VST-0042-é".encode()).encode() == "VST-0042-é".encode()
    assert SerialNumber.decode(b"").text == ""


@pytest.mark.parametrize(("wire", "offset"), [(b"\xff", 0), (b"ok\xc3", 2), (b"a\x00b", 1)])
def test_device_information_invalid_text(wire: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        SerialNumber.decode(wire)
    assert (caught.value.kind, caught.value.offset) == (DecodeErrorKind.INVALID_TEXT, offset)


def test_device_information_length_limit() -> None:
    with pytest.raises(DecodeError) as caught:
        SerialNumber.decode(b"x" * 513)
    assert caught.value.kind is DecodeErrorKind.OUT_OF_RANGE
    with pytest.raises(ValueError, match="NUL"):
        SerialNumber(text="a\x00")
