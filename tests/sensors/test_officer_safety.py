"""The vendor Officer Safety characteristics against the layouts of docs/gatt-profile.md."""

from __future__ import annotations

import pytest

from sensors import (
    DecodeError,
    DecodeErrorKind,
    DeviceStatus,
    ImuBatch,
    SafetyEvent,
    SafetyEventKind,
    imu_samples_per_notification,
)

# version 1, 50 Hz, first sample 123450 (0x0001E23A), 2 samples of int16 milli-g:
# (12, -981, 105) and (15, -975, 101).
IMU = "01 32 3ae20100 02 0c00 2bfc 6900 0f00 31fc 6500"


def test_imu_batch() -> None:
    reading = ImuBatch.decode(bytes.fromhex(IMU))
    assert reading.sample_rate_hz == 50
    assert reading.first_sample_index == 123450
    assert reading.samples_g == ((0.012, -0.981, 0.105), (0.015, -0.975, 0.101))
    assert reading.encode() == bytes.fromhex(IMU)


def test_imu_full_scale() -> None:
    wire = "01 32 ffffffff 01 0080 ff7f 0000"
    reading = ImuBatch.decode(bytes.fromhex(wire))
    assert reading.samples_g == ((-32.768, 32.767, 0.0),)
    assert reading.first_sample_index == 2**32 - 1
    assert reading.encode() == bytes.fromhex(wire)


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        ("02 32 3ae20100 01 0c00 2bfc 6900", DecodeErrorKind.UNSUPPORTED_VERSION, 0),
        ("00 32 3ae20100 01 0c00 2bfc 6900", DecodeErrorKind.UNSUPPORTED_VERSION, 0),
        ("01 00 3ae20100 01 0c00 2bfc 6900", DecodeErrorKind.OUT_OF_RANGE, 1),
        ("01 c9 3ae20100 01 0c00 2bfc 6900", DecodeErrorKind.OUT_OF_RANGE, 1),
        ("01 32 3ae20100 00", DecodeErrorKind.OUT_OF_RANGE, 6),
        ("01 32 3ae20100 28", DecodeErrorKind.OUT_OF_RANGE, 6),
        ("01 32 3ae20100 03 0c00 2bfc 6900 0f00 31fc 6500", DecodeErrorKind.TOO_SHORT, 7),
        ("01 32 3ae20100 01 0c00 2bfc 6900 0f", DecodeErrorKind.TRAILING_BYTES, 13),
        ("01 32 3ae201", DecodeErrorKind.TOO_SHORT, 2),
    ],
)
def test_imu_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        ImuBatch.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)
    assert "IMU Batch" in str(caught.value)


@pytest.mark.parametrize(("mtu", "samples"), [(23, 2), (27, 2), (185, 29), (247, 39), (517, 39)])
def test_samples_per_notification_fit_the_mtu(mtu: int, samples: int) -> None:
    assert imu_samples_per_notification(mtu) == samples
    assert 7 + 6 * samples <= mtu - 3


@pytest.mark.parametrize(
    ("wire", "event", "sequence", "ticks", "peak"),
    [
        ("01 01 0700 7aef3600 ffff", SafetyEventKind.PANIC_PRESS, 7, 3_600_250, None),
        ("01 02 0800 00000000 ffff", SafetyEventKind.HOLSTER_DRAW, 8, 0, None),
        ("01 03 0900 01000000 ffff", SafetyEventKind.HOLSTER_RETURN, 9, 1, None),
        ("01 04 ffff ffffffff ffff", SafetyEventKind.IM_OK_PRESS, 65535, 2**32 - 1, None),
        ("01 05 0000 10270000 5a0a", SafetyEventKind.FALL_DETECTED, 0, 10_000, 26.5),
        ("01 06 0300 ecf53600 8102", SafetyEventKind.IMPACT, 3, 3_601_900, 6.41),
        ("01 06 0300 ecf53600 0000", SafetyEventKind.IMPACT, 3, 3_601_900, 0.0),
    ],
)
def test_safety_event(
    wire: str, event: SafetyEventKind, sequence: int, ticks: int, peak: float | None
) -> None:
    reading = SafetyEvent.decode(bytes.fromhex(wire))
    assert (reading.event, reading.sequence, reading.device_ticks_ms, reading.peak_accel_g) == (
        event,
        sequence,
        ticks,
        peak,
    )
    assert reading.encode() == bytes.fromhex(wire)


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("01 00 0700 7aef3600 ffff", DecodeErrorKind.RESERVED_VALUE, 1),
        ("01 07 0700 7aef3600 ffff", DecodeErrorKind.RESERVED_VALUE, 1),
        ("03 01 0700 7aef3600 ffff", DecodeErrorKind.UNSUPPORTED_VERSION, 0),
        ("01 01 0700 7aef3600 ff", DecodeErrorKind.TOO_SHORT, 8),
        ("01 01 0700 7aef3600 ffff 00", DecodeErrorKind.TRAILING_BYTES, 10),
    ],
)
def test_safety_event_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        SafetyEvent.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


def test_device_status() -> None:
    wire = "01 01 02 03 e8030000 0500 01"
    reading = DeviceStatus.decode(bytes.fromhex(wire))
    assert reading.firmware_version == "1.2.3"
    assert (reading.device_ticks_ms, reading.boot_count) == (1000, 5)
    assert (reading.charging, reading.sensor_fault) == (True, False)
    assert reading.encode() == bytes.fromhex(wire)
    fault = DeviceStatus.decode(bytes.fromhex("01 ff 00 0a 00000000 0000 02"))
    assert (fault.firmware_version, fault.charging, fault.sensor_fault) == ("255.0.10", False, True)


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("01 01 02 03 e8030000 0500 04", DecodeErrorKind.RESERVED_FLAGS, 10),
        ("01 01 02 03 e8030000 0500", DecodeErrorKind.TOO_SHORT, 10),
        ("02 01 02 03 e8030000 0500 00", DecodeErrorKind.UNSUPPORTED_VERSION, 0),
    ],
)
def test_device_status_malformed(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        DeviceStatus.decode(bytes.fromhex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


def test_firmware_version_is_validated() -> None:
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        DeviceStatus(firmware_version="1.256.0", device_ticks_ms=0, boot_count=0)
