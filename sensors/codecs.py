"""The table from characteristic UUID to the type that decodes it, and `decode` over it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from sensors.characteristic import Characteristic
from sensors.characteristics.battery import BatteryLevel
from sensors.characteristics.core_body_temperature import CoreBodyTemperature
from sensors.characteristics.device_info import DEVICE_INFORMATION_TYPES
from sensors.characteristics.heart_rate import (
    BodySensorLocation,
    HeartRateControlPoint,
    HeartRateMeasurement,
)
from sensors.characteristics.location import LocationAndSpeed
from sensors.characteristics.officer_safety import DeviceStatus, ImuBatch, SafetyEvent
from sensors.characteristics.thermometer import TemperatureMeasurement
from sensors.errors import DecodeError, DecodeErrorKind
from sensors.pmd.frame import PmdDataFrame
from sensors.uuids import normalize_uuid

CHARACTERISTIC_TYPES: Final[tuple[type[Characteristic], ...]] = (
    HeartRateMeasurement,
    BodySensorLocation,
    TemperatureMeasurement,
    LocationAndSpeed,
    BatteryLevel,
    *DEVICE_INFORMATION_TYPES,
    ImuBatch,
    SafetyEvent,
    DeviceStatus,
    HeartRateControlPoint,
    CoreBodyTemperature,
    # The PMD data frame needs no context: its layout follows from its header. The PMD control
    # point is not here: what its value means depends on the direction it travelled
    # (sensors/pmd/control_point.py).
    PmdDataFrame,
)

CODECS: Final[Mapping[str, type[Characteristic]]] = MappingProxyType(
    {codec.UUID: codec for codec in CHARACTERISTIC_TYPES}
)


def codec_for(uuid: str) -> type[Characteristic]:
    """The type for a UUID in any spelling; DecodeError(UNKNOWN_CHARACTERISTIC) if there is none."""
    try:
        canonical = normalize_uuid(uuid)
    except ValueError as exc:
        raise DecodeError(DecodeErrorKind.UNKNOWN_CHARACTERISTIC, uuid, str(exc)) from None
    codec = CODECS.get(canonical)
    if codec is None:
        raise DecodeError(
            DecodeErrorKind.UNKNOWN_CHARACTERISTIC, canonical, "no codec for this characteristic"
        )
    return codec


def decode(uuid: str, data: bytes | bytearray | memoryview) -> Characteristic:
    """Decode one value of the characteristic `uuid`; raises DecodeError and nothing else."""
    return codec_for(uuid).decode(data)
