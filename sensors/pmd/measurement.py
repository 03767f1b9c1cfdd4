"""PMD measurement types and the one-byte field that names a measurement on the wire.

Codes from the SDK's `PmdMeasurementType.kt` (the 2021 specification lists 0-6; the August 2024
*online measurement* document adds 9-12). The same byte carries the recording type in bit 7
(`PmdRecordingType.asBitField`: online 0, offline 1); the SDK reads the type through the mask
0x3F (`PmdMeasurementType.fromId`), so bit 6 carries nothing and is ignored as it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from sensors.errors import DecodeErrorKind
from sensors.wire import Reader


class MeasurementType(StrEnum):
    """What a PMD stream measures; the values are the names `bluewatch decode` prints."""

    ECG = "ecg"
    PPG = "ppg"
    ACC = "acc"
    PPI = "ppi"
    GYRO = "gyro"
    MAGNETOMETER = "mag"
    SKIN_TEMP = "skin_temp"
    SDK_MODE = "sdk_mode"
    LOCATION = "location"
    PRESSURE = "pressure"
    TEMPERATURE = "temperature"
    OFFLINE_RECORDING = "offline_recording"
    OFFLINE_HR = "offline_hr"
    OFFLINE_TEMP = "offline_temp"


MEASUREMENT_CODES: Final[Mapping[MeasurementType, int]] = MappingProxyType(
    {
        MeasurementType.ECG: 0,
        MeasurementType.PPG: 1,
        MeasurementType.ACC: 2,
        MeasurementType.PPI: 3,
        # 4 is "Reserved for Future Use" in the 2021 specification.
        MeasurementType.GYRO: 5,
        MeasurementType.MAGNETOMETER: 6,
        MeasurementType.SKIN_TEMP: 7,
        MeasurementType.SDK_MODE: 9,
        MeasurementType.LOCATION: 10,
        MeasurementType.PRESSURE: 11,
        MeasurementType.TEMPERATURE: 12,
        MeasurementType.OFFLINE_RECORDING: 13,
        MeasurementType.OFFLINE_HR: 14,
        MeasurementType.OFFLINE_TEMP: 15,
    }
)
MEASUREMENT_TYPES: Final[Mapping[int, MeasurementType]] = MappingProxyType(
    {code: kind for kind, code in MEASUREMENT_CODES.items()}
)
MEASUREMENT_TYPE_MASK: Final = 0x3F
RECORDING_BIT: Final = 0x80


class RecordingType(StrEnum):
    """Stream now over the data characteristic, or record on the sensor for a later download."""

    ONLINE = "online"
    OFFLINE = "offline"


def measurement_byte(measurement: MeasurementType, recording: RecordingType) -> int:
    """`(recordingType << 7) | measurementType`, as `BlePMDClient.querySettings` builds it."""
    return MEASUREMENT_CODES[measurement] | (
        RECORDING_BIT if recording is RecordingType.OFFLINE else 0
    )


def read_measurement_code(reader: Reader, field: str) -> tuple[MeasurementType, int]:
    """One type byte: the measurement it names (masked with 0x3F) and the whole byte.

    Raises DecodeError(UNKNOWN_MEASUREMENT_TYPE) at the byte for a code no document defines.
    """
    at = reader.position
    byte = reader.uint(1, field)
    code = byte & MEASUREMENT_TYPE_MASK
    measurement = MEASUREMENT_TYPES.get(code)
    if measurement is None:
        raise reader.error(
            DecodeErrorKind.UNKNOWN_MEASUREMENT_TYPE,
            f"measurement type {code} (byte 0x{byte:02X}) is not defined",
            at,
        )
    return measurement, byte


def read_measurement_byte(reader: Reader, field: str) -> tuple[MeasurementType, RecordingType]:
    """The type byte of a control-point command or response: measurement and recording type."""
    measurement, byte = read_measurement_code(reader, field)
    recording = RecordingType.OFFLINE if byte & RECORDING_BIT else RecordingType.ONLINE
    return measurement, recording
