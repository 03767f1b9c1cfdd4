"""NMEA logs written for the tests: a drive, a stop and a loss of fix, for gpsfake to replay.

The sentences come from firmware_mocks/nmea.py (the simulated vehicle writes the same); here
only the legs. Positions advance on a flat-earth step: the legs are short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from firmware_mocks.nmea import cycle

METRES_PER_DEG_LAT: Final = 111_320.0
START: Final = datetime(2026, 11, 25, 14, 0, 0, tzinfo=UTC)
# Times Square, where the fleet simulation's officers walk.
ORIGIN: Final = (40.758896, -73.985130)


@dataclass(frozen=True)
class Leg:
    """`seconds` of one kind of travel: at `speed_mps` on `course_deg`, or without a fix."""

    seconds: int
    speed_mps: float = 0.0
    course_deg: float = 0.0
    fix: bool = True

    def cycle(self, when: datetime, lat: float, lon: float) -> list[str]:
        """One second of this leg's sentences at `lat`, `lon`."""
        return cycle(
            when, lat, lon, speed_mps=self.speed_mps, course_deg=self.course_deg, fix=self.fix
        )


def log(legs: list[Leg], origin: tuple[float, float] = ORIGIN) -> str:
    """The NMEA text of `legs` in order, one cycle a second from START."""
    lat, lon = origin
    lines: list[str] = []
    second = 0
    for leg in legs:
        for _ in range(leg.seconds):
            lines += leg.cycle(START + timedelta(seconds=second), lat, lon)
            north = leg.speed_mps * math.cos(math.radians(leg.course_deg))
            east = leg.speed_mps * math.sin(math.radians(leg.course_deg))
            lat += north / METRES_PER_DEG_LAT
            lon += east / (METRES_PER_DEG_LAT * math.cos(math.radians(lat)))
            second += 1
    return "\r\n".join(lines) + "\r\n"


# A drive north-east at 12 m/s, a stop, then the car enters a tunnel (no fix).
DRIVE_STOP_TUNNEL: Final = [Leg(8, 12.0, 45.0), Leg(6), Leg(6, fix=False)]


def write(path: Path, legs: list[Leg]) -> Path:
    path.write_text(log(legs), encoding="ascii")
    return path
