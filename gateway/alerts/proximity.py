"""Where an officer is from their vehicle: distance and direction, and what to say about it. Pure.

The vehicle's own GNSS (gpsd, docs/vehicle.md) against the helmet's: an officer within a few
metres is in or at the car (man-down's in-vehicle gate); beyond `left_vehicle_m` they have left
it on foot; a lost link reads differently for each (docs/alerts.md, "The vehicle").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from gateway.activity import Intensity
from gateway.domain import NS_PER_S, utc_datetime
from gateway.vehicle.track import VehicleFix

# IUGG mean Earth radius: at a few hundred metres the haversine's error is far below GNSS's.
EARTH_RADIUS_M: Final = 6_371_008.8
COMPASS: Final = (
    "north",
    "north-east",
    "east",
    "south-east",
    "south",
    "south-west",
    "west",
    "north-west",
)
# How an officer last moved, in the words a supervisor uses.
PACE: Final = {
    Intensity.STILL: "still",
    Intensity.LIGHT: "walking",
    Intensity.MODERATE: "walking fast",
    Intensity.VIGOROUS: "running",
}


class ProximitySettings(BaseModel):
    """How near is "in the vehicle" and how far is "left it" (part of `[vehicle]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Two consumer receivers a metre apart disagree by a few metres (95 %): within this the
    # officer is in the vehicle or at its door.
    in_vehicle_m: float = Field(default=8.0, gt=0)
    # Beyond this the officer has left on foot; back within `back_at_vehicle_m` they have
    # returned (two thresholds: an officer pacing at 30 m must not flap the event).
    left_vehicle_m: float = Field(default=30.0, gt=0)
    back_at_vehicle_m: float = Field(default=15.0, gt=0)
    # A vehicle fix older than this (a long tunnel, gpsd gone) says nothing of where it is now.
    vehicle_fix_fresh_s: float = Field(default=120.0, gt=0)


@dataclass(frozen=True)
class VehicleView:
    """What an officer's rules may ask of their vehicle: its id, the thresholds, its last fix."""

    vehicle_id: str
    settings: ProximitySettings
    latest: Callable[[], VehicleFix | None]

    def fix_at(self, now_ns: int) -> VehicleFix | None:
        """The vehicle's fix if it is fresh at `now_ns`."""
        fix = self.latest()
        if fix is None or now_ns - fix.time_ns > self.settings.vehicle_fix_fresh_s * NS_PER_S:
            return None
        return fix


@dataclass(frozen=True)
class Whereabouts:
    """An officer seen from the vehicle: how far, and which way."""

    distance_m: float
    direction: str

    def words(self, vehicle_id: str) -> str:
        """ "180 m north-east of car-12"."""
        return f"{self.distance_m:.0f} m {self.direction} of {vehicle_id}"


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two WGS 84 positions (degrees), haversine."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial bearing from a to b, degrees clockwise from true north in [0, 360)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360


def compass(bearing: float) -> str:
    """The nearest of the eight compass points."""
    return COMPASS[round(bearing / 45) % 8]


def whereabouts(officer: tuple[float, float], vehicle: tuple[float, float]) -> Whereabouts:
    """Where the officer is from the vehicle."""
    return Whereabouts(distance_m(vehicle, officer), compass(bearing_deg(vehicle, officer)))


def clock_time(ns: int) -> str:
    """ "14:02 UTC": a time of day a supervisor reads in a message."""
    return utc_datetime(ns).strftime("%H:%M UTC")
