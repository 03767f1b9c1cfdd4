"""Readings that reach the gateway another way than through a device's own characteristic.

A CORE repeats its core temperature on the Health Thermometer service (a stand-in, used only
when its Core Body Temperature characteristic is missing: `ServiceSpec.fallback_for`) and in its
advertisement (`DeviceProfile.broadcast`, heard while no link is up); a Polar sensor broadcasts
its heart rate (used while another central holds it: `BroadcastSpec.use`). Each becomes the
reading of
the characteristic they stand in for, so the alert rules, the live view and the stored rows treat
them alike; `source` says which way each came (the `source` field of `core_temperature` rows,
docs/data-model.md). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sensors import (
    Characteristic,
    CoreAdvertisement,
    CoreBodyTemperature,
    DeviceProfile,
    HeartRateMeasurement,
    SensorContact,
    TemperatureMeasurement,
)
from sensors.characteristics.polar_advertisement import PolarHrAdvertisement

# What a reading that arrived in an advertisement says it came through.
ADVERTISEMENT_SOURCE: Final = "advertisement"

Convert = Callable[[Characteristic], Characteristic | None]


def _core_from_thermometer(reading: Characteristic) -> Characteristic | None:
    assert isinstance(reading, TemperatureMeasurement)
    if reading.temperature_c is None:  # NaN off the body (notes §2.3): no reading
        return None
    return CoreBodyTemperature(core_temperature_c=round(reading.temperature_c, 2))


def _core_from_advertisement(reading: Characteristic) -> Characteristic | None:
    assert isinstance(reading, CoreAdvertisement)
    # The notes define no "no reading" value: only a measuring sensor's temperature is one.
    if not reading.measuring:
        return None
    return CoreBodyTemperature(core_temperature_c=round(reading.core_temperature_c, 2))


def _heart_rate_from_advertisement(reading: Characteristic) -> Characteristic | None:
    assert isinstance(reading, PolarHrAdvertisement)
    # The rate the SDK shows (hrForDisplay) and the contact bit; a broadcast carries no RR.
    contact = SensorContact.DETECTED if reading.sensor_contact else SensorContact.NOT_DETECTED
    return HeartRateMeasurement(heart_rate_bpm=reading.heart_rate_bpm, sensor_contact=contact)


# (type of the reading that arrived, type it stands in for) -> the conversion.
CONVERSIONS: Final[Mapping[tuple[type[Characteristic], type[Characteristic]], Convert]] = (
    MappingProxyType(
        {
            (TemperatureMeasurement, CoreBodyTemperature): _core_from_thermometer,
            (CoreAdvertisement, CoreBodyTemperature): _core_from_advertisement,
            (PolarHrAdvertisement, HeartRateMeasurement): _heart_rate_from_advertisement,
        }
    )
)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _keep(reading: Characteristic) -> Characteristic | None:
    return reading


@dataclass(frozen=True, slots=True)
class Route:
    """How readings of one characteristic of one model arrive: the source their rows name, and
    `arrive`, which turns a stand-in's reading into the one it stands in for (None: the
    reading carries nothing) and leaves any other reading as it is."""

    source: str
    arrive: Convert = _keep


def route(profile: DeviceProfile, uuid: str, arrived_as: type[Characteristic]) -> Route:
    """The route of characteristic `uuid` of `profile`, decoded as `arrived_as`; fixed per
    model and characteristic, so a caller on the hot path computes it once."""
    service = profile.service_of(uuid)
    if service is None:
        return Route(uuid)
    source = _slug(service.name)
    primary = next(
        (c.codec for c in profile.characteristics() if c.uuid == service.fallback_for), None
    )
    convert = None if primary is None else CONVERSIONS.get((arrived_as, primary))
    return Route(source) if convert is None else Route(source, convert)


def broadcast(profile: DeviceProfile, data: bytes) -> Characteristic | None:
    """The reading a device's advertisement carries (`data`: its manufacturer data after the
    company identifier), as the characteristic reading it stands in for; None if it carries
    none (its source is ADVERTISEMENT_SOURCE). Raises DecodeError for bytes the broadcast's
    codec refuses."""
    spec = profile.broadcast
    if spec is None:
        return None
    reading = spec.codec.decode(data)
    for (arrived_as, _), convert in CONVERSIONS.items():
        if arrived_as is spec.codec:
            return convert(reading)
    return reading
