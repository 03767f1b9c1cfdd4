"""The gateway's domain types: who a datum belongs to, the point every sink receives, its lane,
and the table of measurements (docs/data-model.md). Pure: no I/O, no clock, no event loop.

Every module that makes or reads points imports them from here, so the shape of the data is
written once. The measurement table is what docs/data-model.md documents row by row; a test
holds the two together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from functools import cached_property
from typing import Final

from sensors import (
    PROFILES,
    Accelerometer,
    Capability,
    DeviceModel,
    DeviceProfile,
    Placement,
    PmdStream,
)
from sensors.pmd import MeasurementType

NS_PER_S: Final = 1_000_000_000

# Ids travel into MQTT topics, InfluxDB tags, HTTP headers, CAP identifiers and file names: this
# alphabet keeps them from injecting topic levels (`/`, `+`, `#`), line-protocol syntax, path
# components or CAP separators (CAP 1.2 3.2.1: no spaces, commas, "<" or "&").
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"

FieldValue = float | int | bool | str


def utc_datetime(ns: int) -> datetime:
    """A UTC datetime, to the microsecond, from nanoseconds since the epoch."""
    # Integer arithmetic: a float of nanoseconds since 1970 has no exact milliseconds left.
    seconds, remainder = divmod(ns, NS_PER_S)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=remainder // 1000)


def iso_utc(ns: int) -> str:
    """RFC 3339 UTC with milliseconds, as the rest of the gateway writes times."""
    return utc_datetime(ns).isoformat(timespec="milliseconds")


class Lane(IntEnum):
    """Delivery priority: lower first. Retention drops telemetry first, alerts last."""

    ALERT = 0
    EVENT = 1
    TELEMETRY = 2


@dataclass(frozen=True, slots=True)
class Point:
    """One normalized datum: an InfluxDB-shaped point that every sink can render."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int
    lane: Lane = Lane.TELEMETRY


# --- identity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    """The agency and the vehicle (unit) this gateway runs in: the tags of every point."""

    agency: str
    unit: str

    @cached_property
    def tags(self) -> Mapping[str, str]:
        return {"agency": self.agency, "unit": self.unit}

    def officer_tags(self, officer_id: str) -> dict[str, str]:
        """The tags of a point about one officer (officer status, physiology, alerts)."""
        return {"agency": self.agency, "unit": self.unit, "officer": officer_id}


@dataclass(frozen=True)
class DeviceRef:
    """A roster device: whose it is, what it is, how it is recognised, and its point tags."""

    unit: UnitRef
    officer_id: str
    device_id: str
    model: DeviceModel
    address: str | None = None
    name: str | None = None
    # The roster's choice of accelerometer rate and range (None: the model's default) and
    # whether to stream ECG; gateway/config.py checks them against what the model offers.
    acc_rate_hz: int | None = None
    acc_range_g: float | None = None
    ecg: bool = False

    @property
    def profile(self) -> DeviceProfile:
        return PROFILES[self.model]

    @cached_property
    def accelerometer(self) -> Accelerometer | None:
        """The accelerometer as this device runs it: the model's, at the roster's settings."""
        base = self.profile.accelerometer
        if base is None:
            return None
        return replace(
            base,
            rate_hz=base.rate_hz if self.acc_rate_hz is None else self.acc_rate_hz,
            range_g=base.range_g if self.acc_range_g is None else self.acc_range_g,
        )

    @cached_property
    def pmd_streams(self) -> tuple[PmdStream, ...]:
        """The PMD streams to start: the model's default ones, and ECG when the roster asks."""
        return tuple(
            stream
            for stream in self.profile.pmd_streams
            if stream.default_on or (self.ecg and stream.measurement is MeasurementType.ECG)
        )

    @cached_property
    def moves_with_trunk(self) -> bool:
        """Whether this device's accelerometer moves with the officer's trunk: falls, stillness
        and posture are read there (an arm or a head moves on its own; docs/algorithms.md)."""
        profile = self.profile
        return (
            profile.placement is Placement.TORSO and Capability.ACCELERATION in profile.capabilities
        )

    @cached_property
    def tags(self) -> Mapping[str, str]:
        """Computed once: every point of this device carries the same six tags."""
        return {
            **self.unit.tags,
            "officer": self.officer_id,
            "device": self.device_id,
            "model": self.model.value,
            "placement": self.profile.placement.value,
        }


# --- the measurement table ----------------------------------------------------------------------


class Scope(StrEnum):
    """Which tags a measurement's points carry: a device's, an officer's or the unit's."""

    DEVICE = "device"
    OFFICER = "officer"
    UNIT = "unit"


SCOPE_TAGS: Final[Mapping[Scope, tuple[str, ...]]] = {
    Scope.DEVICE: ("agency", "unit", "officer", "device", "model", "placement"),
    Scope.OFFICER: ("agency", "unit", "officer"),
    Scope.UNIT: ("agency", "unit"),
}


class Channel(StrEnum):
    """The MQTT topic level a measurement is published under (docs/data-model.md, MQTT)."""

    TELEMETRY = "telemetry"
    STATUS = "status"  # retained: a new subscriber sees each officer's latest state at once
    ALERT = "alert"


@dataclass(frozen=True)
class Measurement:
    """One row of the data model: name, tags, lane and MQTT channel of a kind of point."""

    name: str
    scope: Scope
    lane: Lane = Lane.TELEMETRY
    channel: Channel = Channel.TELEMETRY
    extra_tags: tuple[str, ...] = ()

    @property
    def tag_keys(self) -> tuple[str, ...]:
        return SCOPE_TAGS[self.scope] + self.extra_tags

    def point(
        self, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time_ns: int
    ) -> Point:
        """A point of this measurement, on its lane."""
        return Point(self.name, tags, fields, time_ns, self.lane)


HEART_RATE: Final = Measurement("heart_rate", Scope.DEVICE)
RR_INTERVAL: Final = Measurement("rr_interval", Scope.DEVICE)
# A Polar H10's ECG, when the roster asks for it (docs/pmd.md): one row per sample.
ECG: Final = Measurement("ecg", Scope.DEVICE)
SKIN_TEMPERATURE: Final = Measurement("skin_temperature", Scope.DEVICE)
# Measured by a CORE sensor; the estimate from heart rate is `physiology.core_temp_c`.
CORE_TEMPERATURE: Final = Measurement("core_temperature", Scope.DEVICE)
LOCATION: Final = Measurement("location", Scope.DEVICE)
ACTIVITY: Final = Measurement("activity", Scope.DEVICE)
BATTERY: Final = Measurement("battery", Scope.DEVICE, channel=Channel.STATUS)
DEVICE_STATUS: Final = Measurement("device_status", Scope.DEVICE, channel=Channel.STATUS)
DEVICE_INFO: Final = Measurement("device_info", Scope.DEVICE)
SAFETY_EVENT: Final = Measurement(
    "safety_event", Scope.DEVICE, lane=Lane.EVENT, extra_tags=("event",)
)
LINK: Final = Measurement("link", Scope.DEVICE, channel=Channel.STATUS)
PHYSIOLOGY: Final = Measurement("physiology", Scope.OFFICER)
OFFICER_STATUS: Final = Measurement("officer_status", Scope.OFFICER)
ALERT: Final = Measurement(
    "alert", Scope.OFFICER, lane=Lane.ALERT, channel=Channel.ALERT, extra_tags=("device",)
)
EVIDENCE: Final = Measurement("evidence", Scope.OFFICER)
GATEWAY: Final = Measurement("gateway", Scope.UNIT)
# The field of the rows that say a pool device joined (False) or left (True) an officer's kit,
# written in each measurement the fleet views read per device (gateway/assignments.py).
RELEASED: Final = "released"
# One row per assignment change of a pool device (who made it, and what): the audit trail.
ASSIGNMENT: Final = Measurement(
    "assignment", Scope.OFFICER, lane=Lane.EVENT, extra_tags=("device",)
)
# The vehicle's own position from gpsd; the `vehicle` tag is its configured id ([vehicle] id).
VEHICLE: Final = Measurement("vehicle", Scope.UNIT, extra_tags=("vehicle",))

MEASUREMENTS: Final[Mapping[str, Measurement]] = {
    m.name: m
    for m in (
        HEART_RATE,
        RR_INTERVAL,
        ECG,
        SKIN_TEMPERATURE,
        CORE_TEMPERATURE,
        LOCATION,
        ACTIVITY,
        BATTERY,
        DEVICE_STATUS,
        DEVICE_INFO,
        SAFETY_EVENT,
        LINK,
        PHYSIOLOGY,
        OFFICER_STATUS,
        ALERT,
        EVIDENCE,
        GATEWAY,
        VEHICLE,
        ASSIGNMENT,
    )
}


def channel_of(point: Point) -> Channel:
    """The MQTT channel of a point: its measurement's, alerts always on the alert channel."""
    if point.lane is Lane.ALERT:
        return Channel.ALERT
    measurement = MEASUREMENTS.get(point.measurement)
    return measurement.channel if measurement is not None else Channel.TELEMETRY
