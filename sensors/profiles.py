"""The vest and the helmet as data: which services they carry, which characteristics, how often.

The gateway reads these tables to know what to subscribe to and how fresh each stream should be;
the simulated firmware reads the same tables to know what to serve. Nothing here branches on
device kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from sensors.characteristic import Characteristic
from sensors.characteristics.battery import BatteryLevel
from sensors.characteristics.device_info import DEVICE_INFORMATION_TYPES
from sensors.characteristics.heart_rate import BodySensorLocation, HeartRateMeasurement
from sensors.characteristics.location import LocationAndSpeed
from sensors.characteristics.officer_safety import (
    OFFICER_SAFETY_SERVICE_UUID,
    DeviceStatus,
    ImuBatch,
    SafetyEvent,
)
from sensors.characteristics.thermometer import TemperatureMeasurement
from sensors.uuids import normalize_uuid, sig_uuid


class DeviceKind(StrEnum):
    VEST = "vest"
    HELMET = "helmet"


class Property(StrEnum):
    READ = "read"
    NOTIFY = "notify"


@dataclass(frozen=True, slots=True)
class CharacteristicSpec:
    """One characteristic a device serves: its codec, properties and nominal notify period."""

    codec: type[Characteristic]
    properties: frozenset[Property]
    # Seconds between notifications in normal operation; None for on-event or read-only values.
    interval_s: float | None = None

    @property
    def uuid(self) -> str:
        return self.codec.UUID


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    uuid: str
    name: str
    characteristics: tuple[CharacteristicSpec, ...]


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    kind: DeviceKind
    name_prefix: str
    # What the device puts in its advertisement; a scanner recognises the kind from this set.
    advertised_services: frozenset[str]
    services: tuple[ServiceSpec, ...]
    imu_rate_hz: int

    def characteristics(self) -> Iterable[CharacteristicSpec]:
        for service in self.services:
            yield from service.characteristics

    def notified(self) -> tuple[CharacteristicSpec, ...]:
        return tuple(c for c in self.characteristics() if Property.NOTIFY in c.properties)


READ = frozenset({Property.READ})
NOTIFY = frozenset({Property.NOTIFY})
READ_NOTIFY = frozenset({Property.READ, Property.NOTIFY})

HEART_RATE_SERVICE: Final = sig_uuid(0x180D)
HEALTH_THERMOMETER_SERVICE: Final = sig_uuid(0x1809)
BATTERY_SERVICE: Final = sig_uuid(0x180F)
DEVICE_INFORMATION_SERVICE: Final = sig_uuid(0x180A)
LOCATION_NAVIGATION_SERVICE: Final = sig_uuid(0x1819)

# Rates: heart rate once a second (the HRS norm), skin temperature every 5 s (it changes over
# minutes), location at the 1 Hz of a GNSS fix, battery every minute, device status every minute
# (its ticks let the gateway track clock drift). IMU notifications carry batches at imu_rate_hz.
_BATTERY = ServiceSpec(
    BATTERY_SERVICE, "Battery", (CharacteristicSpec(BatteryLevel, READ_NOTIFY, 60.0),)
)
_DEVICE_INFORMATION = ServiceSpec(
    DEVICE_INFORMATION_SERVICE,
    "Device Information",
    tuple(CharacteristicSpec(codec, READ) for codec in DEVICE_INFORMATION_TYPES),
)


# Both devices carry the same vendor service: the vest sends panic, holster, "I'm OK" and fall
# events on it, the helmet sends impacts.
_OFFICER_SAFETY = ServiceSpec(
    OFFICER_SAFETY_SERVICE_UUID,
    "Officer Safety",
    (
        CharacteristicSpec(ImuBatch, NOTIFY),
        CharacteristicSpec(SafetyEvent, NOTIFY),
        CharacteristicSpec(DeviceStatus, READ_NOTIFY, 60.0),
    ),
)


VEST: Final = DeviceProfile(
    kind=DeviceKind.VEST,
    name_prefix="BW-Vest",
    advertised_services=frozenset({OFFICER_SAFETY_SERVICE_UUID, HEART_RATE_SERVICE}),
    services=(
        ServiceSpec(
            HEART_RATE_SERVICE,
            "Heart Rate",
            (
                CharacteristicSpec(HeartRateMeasurement, NOTIFY, 1.0),
                CharacteristicSpec(BodySensorLocation, READ),
            ),
        ),
        ServiceSpec(
            HEALTH_THERMOMETER_SERVICE,
            "Health Thermometer",
            (CharacteristicSpec(TemperatureMeasurement, NOTIFY, 5.0),),
        ),
        _OFFICER_SAFETY,
        _BATTERY,
        _DEVICE_INFORMATION,
    ),
    imu_rate_hz=50,
)

HELMET: Final = DeviceProfile(
    kind=DeviceKind.HELMET,
    name_prefix="BW-Helmet",
    advertised_services=frozenset({OFFICER_SAFETY_SERVICE_UUID, LOCATION_NAVIGATION_SERVICE}),
    services=(
        ServiceSpec(
            LOCATION_NAVIGATION_SERVICE,
            "Location and Navigation",
            (CharacteristicSpec(LocationAndSpeed, NOTIFY, 1.0),),
        ),
        _OFFICER_SAFETY,
        _BATTERY,
        _DEVICE_INFORMATION,
    ),
    imu_rate_hz=50,
)

PROFILES: Final[Mapping[DeviceKind, DeviceProfile]] = MappingProxyType(
    {profile.kind: profile for profile in (VEST, HELMET)}
)


def profile_for_services(service_uuids: Iterable[str]) -> DeviceProfile | None:
    """The profile whose advertised services all appear in `service_uuids`, if exactly one does."""
    seen = {normalize_uuid(uuid) for uuid in service_uuids}
    matches = [p for p in PROFILES.values() if p.advertised_services <= seen]
    return matches[0] if len(matches) == 1 else None
