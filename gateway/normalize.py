"""Readings to points: one normalizer per reading type, as a table. Pure.

Every point of a device carries its five tags (`DeviceRef.tags`), so dashboards can group and
filter by any of them; values are fields with their unit in the name. The measurements and
their lanes are the table in gateway/domain.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Final

from gateway.domain import (
    BATTERY,
    CORE_TEMPERATURE,
    DEVICE_INFO,
    DEVICE_STATUS,
    HEART_RATE,
    LOCATION,
    NS_PER_S,
    RR_INTERVAL,
    SAFETY_EVENT,
    SKIN_TEMPERATURE,
    DeviceRef,
    FieldValue,
    Point,
)
from gateway.stand_ins import route
from sensors import (
    BatteryLevel,
    BodySensorLocation,
    Characteristic,
    CoreBodyTemperature,
    DeviceStatus,
    HeartRateMeasurement,
    LocationAndSpeed,
    SafetyEvent,
    TemperatureMeasurement,
)
from sensors.characteristics.device_info import DeviceInformationText


def _present(**fields: FieldValue | None) -> dict[str, FieldValue]:
    return {name: value for name, value in fields.items() if value is not None}


def heart_rate_points(
    reading: HeartRateMeasurement,
    device: DeviceRef,
    time_ns: int,
    rr_rejected: Collection[int] = (),
) -> list[Point]:
    """The heart-rate row, and one row per beat the RR filter kept (`rr_rejected`: indexes into
    the reading's RR intervals that it refused; gateway/analytics/rr_filter.py)."""
    rr = reading.rr_intervals_s
    fields = _present(
        bpm=reading.heart_rate_bpm,
        sensor_contact=reading.sensor_contact.value,
        energy_kj=reading.energy_expended_kj,
        rr_count=len(rr) - len(rr_rejected),
        rr_rejected=len(rr_rejected) or None,
    )
    return [
        HEART_RATE.point(device.tags, fields, time_ns),
        *rr_points(rr, device, time_ns, rr_rejected),
    ]


def rr_points(
    rr: Sequence[float], device: DeviceRef, time_ns: int, rr_rejected: Collection[int] = ()
) -> list[Point]:
    """One row per kept RR interval (strap RR or a Verity's PPI), the last ending at `time_ns`.

    Beats end at the notification, one after another: the last RR interval ends "now", each
    earlier one ends where the next began. A refused interval still took its time, so it moves
    the earlier beats back, though it is not stored. Distinct times keep every beat as its own
    row.
    """
    points = []
    end_ns = time_ns
    for index in range(len(rr) - 1, -1, -1):
        if index not in rr_rejected:
            points.append(RR_INTERVAL.point(device.tags, {"rr_s": rr[index]}, end_ns))
        end_ns -= max(1, int(rr[index] * NS_PER_S))
    return points


def _heart_rate(reading: HeartRateMeasurement, device: DeviceRef, time_ns: int) -> list[Point]:
    return heart_rate_points(reading, device, time_ns)


def _temperature(reading: TemperatureMeasurement, device: DeviceRef, time_ns: int) -> list[Point]:
    fields = _present(
        celsius=reading.temperature_c,
        special=reading.special_value.value if reading.special_value else None,
    )
    return [SKIN_TEMPERATURE.point(device.tags, fields, time_ns)]


def _core(reading: CoreBodyTemperature, device: DeviceRef, time_ns: int) -> list[Point]:
    source = route(device.profile, CoreBodyTemperature.UUID, CoreBodyTemperature).source
    return core_temperature_points(reading, device, time_ns, source)


def core_temperature_points(
    reading: CoreBodyTemperature, device: DeviceRef, time_ns: int, source: str
) -> list[Point]:
    """The core-temperature row; `source` says which way it came (gateway/stand_ins.py): the
    CORE's own service, its Health Thermometer stand-in, or its advertisement."""
    fields = _present(
        measured_c=reading.core_temperature_c,
        skin_c=reading.skin_temperature_c,
        quality=reading.quality.value if reading.quality else None,
        heart_rate_bpm=reading.heart_rate_bpm,
        heat_strain_index=reading.heat_strain_index,
    )
    if not fields:
        return []
    return [CORE_TEMPERATURE.point(device.tags, {**fields, "source": source}, time_ns)]


def _location(reading: LocationAndSpeed, device: DeviceRef, time_ns: int) -> list[Point]:
    fields = _present(
        latitude_deg=reading.latitude_deg,
        longitude_deg=reading.longitude_deg,
        speed_mps=reading.speed_mps,
        heading_deg=reading.heading_deg,
        elevation_m=reading.elevation_m,
        total_distance_m=reading.total_distance_m,
        position_status=reading.position_status.value,
    )
    return [LOCATION.point(device.tags, fields, time_ns)]


def _battery(reading: BatteryLevel, device: DeviceRef, time_ns: int) -> list[Point]:
    return [BATTERY.point(device.tags, {"pct": reading.battery_pct}, time_ns)]


def _status(reading: DeviceStatus, device: DeviceRef, time_ns: int) -> list[Point]:
    fields: dict[str, FieldValue] = {
        "firmware": reading.firmware_version,
        "ticks_ms": reading.device_ticks_ms,
        "boot_count": reading.boot_count,
        "charging": reading.charging,
        "sensor_fault": reading.sensor_fault,
    }
    return [DEVICE_STATUS.point(device.tags, fields, time_ns)]


def _event(reading: SafetyEvent, device: DeviceRef, time_ns: int) -> list[Point]:
    tags = {**device.tags, "event": reading.event.value}
    fields = _present(
        sequence=reading.sequence,
        device_ticks_ms=reading.device_ticks_ms,
        peak_g=reading.peak_accel_g,
    )
    return [SAFETY_EVENT.point(tags, fields, time_ns)]


def _device_text(reading: DeviceInformationText, device: DeviceRef, time_ns: int) -> list[Point]:
    name = type(reading).__name__.lower()
    return [DEVICE_INFO.point(device.tags, {name: reading.text}, time_ns)]


def _sensor_location(reading: BodySensorLocation, device: DeviceRef, time_ns: int) -> list[Point]:
    return [
        DEVICE_INFO.point(
            device.tags,
            {"sensor_location": reading.body_sensor_location.value},
            time_ns,
        )
    ]


Normalizer = Callable[[Characteristic, DeviceRef, int], list[Point]]
# IMU batches are absent on purpose: raw 50 Hz motion is summarised (gateway.activity), not stored.
NORMALIZERS: Final[dict[type[Characteristic], Normalizer]] = {
    HeartRateMeasurement: _heart_rate,  # type: ignore[dict-item]
    TemperatureMeasurement: _temperature,  # type: ignore[dict-item]
    CoreBodyTemperature: _core,  # type: ignore[dict-item]
    LocationAndSpeed: _location,  # type: ignore[dict-item]
    BatteryLevel: _battery,  # type: ignore[dict-item]
    DeviceStatus: _status,  # type: ignore[dict-item]
    SafetyEvent: _event,  # type: ignore[dict-item]
    BodySensorLocation: _sensor_location,  # type: ignore[dict-item]
}


def points_for(reading: Characteristic, device: DeviceRef, time_ns: int) -> list[Point]:
    """The points one reading becomes (none for IMU batches, which are summarised instead)."""
    if isinstance(reading, DeviceInformationText):
        return _device_text(reading, device, time_ns)
    normalizer = NORMALIZERS.get(type(reading))
    return normalizer(reading, device, time_ns) if normalizer else []
