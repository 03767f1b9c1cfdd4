"""Readings to points: the data model of docs/data-model.md, as one table. Pure.

Every point carries the same tags (agency, unit, officer, device, kind), so dashboards can group
and filter by any of them; values are fields with their unit in the name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from gateway.outbox import FieldValue, Lane, Point
from sensors import (
    BatteryLevel,
    BodySensorLocation,
    Characteristic,
    DeviceKind,
    DeviceStatus,
    HeartRateMeasurement,
    LocationAndSpeed,
    SafetyEvent,
    TemperatureMeasurement,
)
from sensors.characteristics.device_info import DeviceInformationText

NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True)
class Source:
    """Who and what a reading came from."""

    agency: str
    unit: str
    officer_id: str
    device_id: str
    kind: DeviceKind

    @cached_property
    def tags(self) -> Mapping[str, str]:
        return {
            "agency": self.agency,
            "unit": self.unit,
            "officer": self.officer_id,
            "device": self.device_id,
            "kind": self.kind.value,
        }


def _present(**fields: FieldValue | None) -> dict[str, FieldValue]:
    return {name: value for name, value in fields.items() if value is not None}


def _heart_rate(reading: HeartRateMeasurement, source: Source, time_ns: int) -> list[Point]:
    points = [
        Point(
            "heart_rate",
            source.tags,
            _present(
                bpm=reading.heart_rate_bpm,
                sensor_contact=reading.sensor_contact.value,
                energy_kj=reading.energy_expended_kj,
                rr_count=len(reading.rr_intervals_s),
            ),
            time_ns,
        )
    ]
    # Beats end at the notification, one after another: the last RR interval ends "now", each
    # earlier one ends where the next began. Distinct times keep every beat as its own row.
    end_ns = time_ns
    for rr_s in reversed(reading.rr_intervals_s):
        points.append(Point("rr_interval", source.tags, {"rr_s": rr_s}, end_ns))
        end_ns -= max(1, int(rr_s * NS_PER_S))
    return points


def _temperature(reading: TemperatureMeasurement, source: Source, time_ns: int) -> list[Point]:
    fields = _present(
        celsius=reading.temperature_c,
        special=reading.special_value.value if reading.special_value else None,
    )
    return [Point("skin_temperature", source.tags, fields, time_ns)]


def _location(reading: LocationAndSpeed, source: Source, time_ns: int) -> list[Point]:
    fields = _present(
        latitude_deg=reading.latitude_deg,
        longitude_deg=reading.longitude_deg,
        speed_mps=reading.speed_mps,
        heading_deg=reading.heading_deg,
        elevation_m=reading.elevation_m,
        total_distance_m=reading.total_distance_m,
        position_status=reading.position_status.value,
    )
    return [Point("location", source.tags, fields, time_ns)]


def _battery(reading: BatteryLevel, source: Source, time_ns: int) -> list[Point]:
    return [Point("battery", source.tags, {"pct": reading.battery_pct}, time_ns)]


def _status(reading: DeviceStatus, source: Source, time_ns: int) -> list[Point]:
    fields: dict[str, FieldValue] = {
        "firmware": reading.firmware_version,
        "ticks_ms": reading.device_ticks_ms,
        "boot_count": reading.boot_count,
        "charging": reading.charging,
        "sensor_fault": reading.sensor_fault,
    }
    return [Point("device_status", source.tags, fields, time_ns)]


def _event(reading: SafetyEvent, source: Source, time_ns: int) -> list[Point]:
    tags = {**source.tags, "event": reading.event.value}
    fields = _present(
        sequence=reading.sequence,
        device_ticks_ms=reading.device_ticks_ms,
        peak_g=reading.peak_accel_g,
    )
    return [Point("safety_event", tags, fields, time_ns, Lane.EVENT)]


def _device_text(reading: DeviceInformationText, source: Source, time_ns: int) -> list[Point]:
    name = type(reading).__name__.lower()
    return [Point("device_info", source.tags, {name: reading.text}, time_ns)]


def _sensor_location(reading: BodySensorLocation, source: Source, time_ns: int) -> list[Point]:
    return [
        Point(
            "device_info",
            source.tags,
            {"sensor_location": reading.body_sensor_location.value},
            time_ns,
        )
    ]


Normalizer = Callable[[Characteristic, Source, int], list[Point]]
# IMU batches are absent on purpose: raw 50 Hz motion is summarised (gateway.activity), not stored.
NORMALIZERS: Final[dict[type[Characteristic], Normalizer]] = {
    HeartRateMeasurement: _heart_rate,  # type: ignore[dict-item]
    TemperatureMeasurement: _temperature,  # type: ignore[dict-item]
    LocationAndSpeed: _location,  # type: ignore[dict-item]
    BatteryLevel: _battery,  # type: ignore[dict-item]
    DeviceStatus: _status,  # type: ignore[dict-item]
    SafetyEvent: _event,  # type: ignore[dict-item]
    BodySensorLocation: _sensor_location,  # type: ignore[dict-item]
}


def points_for(reading: Characteristic, source: Source, time_ns: int) -> list[Point]:
    """The points one reading becomes (none for IMU batches, which are summarised instead)."""
    if isinstance(reading, DeviceInformationText):
        return _device_text(reading, source, time_ns)
    normalizer = NORMALIZERS.get(type(reading))
    return normalizer(reading, source, time_ns) if normalizer else []
