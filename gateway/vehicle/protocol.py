"""gpsd's JSON protocol (gpsd_json(5)), the part the gateway reads: WATCH, TPV and SKY. Pure.

gpsd answers a WATCH with VERSION, DEVICES and WATCH, then streams one JSON object per line.
The protocol asks clients to ignore classes and fields they do not know (gpsd adds them across
releases: PPS, TOFF, GST, ATT...), so anything but TPV and SKY parses to None; a line that is
not JSON, or a TPV or SKY with a wrongly typed field, is a `GpsdProtocolError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# JSON reports only: no NMEA passthrough, no raw data.
WATCH_COMMAND: Final = b'?WATCH={"enable":true,"json":true}\n'


class FixMode(IntEnum):
    """TPV `mode`: gpsd reports 0 until the receiver has said anything about its fix."""

    UNKNOWN = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3

    @property
    def label(self) -> str:
        return FIX_LABELS[self]

    @property
    def has_position(self) -> bool:
        return self >= FixMode.FIX_2D


FIX_LABELS: Final = {
    FixMode.UNKNOWN: "unknown",
    FixMode.NO_FIX: "none",
    FixMode.FIX_2D: "2d",
    FixMode.FIX_3D: "3d",
}


class GpsdProtocolError(ValueError):
    """A line gpsd sent that is not a report the protocol describes."""


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _TpvJson(_Report):
    mode: FixMode = FixMode.UNKNOWN
    lat: float | None = None
    lon: float | None = None
    # gpsd 3.20+ splits altitude; `alt` is the older spelling of altMSL.
    alt_msl: float | None = Field(default=None, alias="altMSL")
    alt: float | None = None
    speed: float | None = None  # m/s over ground
    track: float | None = None  # degrees from true north
    eph: float | None = None  # estimated horizontal position error, m (95 %)


class _SatelliteJson(_Report):
    used: bool = False


class _SkyJson(_Report):
    n_sat: int | None = Field(default=None, alias="nSat")
    u_sat: int | None = Field(default=None, alias="uSat")
    satellites: tuple[_SatelliteJson, ...] | None = None


@dataclass(frozen=True, slots=True)
class Tpv:
    """Time-position-velocity: one fix report (position fields absent without a fix)."""

    mode: FixMode
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    altitude_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    error_m: float | None = None


@dataclass(frozen=True, slots=True)
class Sky:
    """The satellites the receiver sees and how many of them its fix uses."""

    visible: int
    used: int


def parse_report(line: bytes) -> Tpv | Sky | None:
    """One line from gpsd: a TPV or SKY report, or None for any other class."""
    try:
        obj = json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise GpsdProtocolError(f"not JSON: {line[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise GpsdProtocolError(f"not a JSON object: {line[:80]!r}")
    try:
        if obj.get("class") == "TPV":
            return _tpv(_TpvJson.model_validate(obj))
        if obj.get("class") == "SKY":
            return _sky(_SkyJson.model_validate(obj))
    except ValidationError as exc:
        raise GpsdProtocolError(f"malformed {obj.get('class')}: {exc.errors()[0]['msg']}") from exc
    return None


def _tpv(report: _TpvJson) -> Tpv:
    if not report.mode.has_position or report.lat is None or report.lon is None:
        # A receiver without a fix may repeat its last position; it is not where the car is.
        return Tpv(report.mode)
    return Tpv(
        report.mode,
        report.lat,
        report.lon,
        report.alt_msl if report.alt_msl is not None else report.alt,
        report.speed,
        report.track,
        report.eph,
    )


def _sky(report: _SkyJson) -> Sky:
    # uSat and nSat arrived in protocol 3.14 (gpsd 3.20); older daemons list the satellites only.
    satellites = report.satellites or ()
    visible = report.n_sat if report.n_sat is not None else len(satellites)
    used = report.u_sat if report.u_sat is not None else sum(s.used for s in satellites)
    return Sky(visible, used)
