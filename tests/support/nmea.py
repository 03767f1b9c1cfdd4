"""NMEA 0183 logs written for the tests: a drive, a stop and a loss of fix, for gpsfake to replay.

A receiver's 1 Hz cycle is RMC (time, position, speed, course), GGA (quality, satellites,
altitude), GSA (fix mode, satellites used) and GSV (satellites in view), which is what gpsd
needs to report TPV and SKY. Positions advance on a flat-earth step: the legs are short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

KNOTS_PER_MPS: Final = 1.943844
METRES_PER_DEG_LAT: Final = 111_320.0
START: Final = datetime(2026, 11, 25, 14, 0, 0, tzinfo=UTC)
# Times Square, where the fleet simulation's officers walk.
ORIGIN: Final = (40.758896, -73.985130)
SATELLITES: Final = (2, 5, 12, 15, 18, 21, 24, 29)


@dataclass(frozen=True)
class Leg:
    """`seconds` of one kind of travel: at `speed_mps` on `course_deg`, or without a fix."""

    seconds: int
    speed_mps: float = 0.0
    course_deg: float = 0.0
    fix: bool = True


def _checksum(body: str) -> str:
    value = 0
    for char in body:
        value ^= ord(char)
    return f"${body}*{value:02X}"


def _lat(deg: float) -> str:
    minutes = abs(deg) % 1 * 60
    return f"{int(abs(deg)):02d}{minutes:07.4f},{'N' if deg >= 0 else 'S'}"


def _lon(deg: float) -> str:
    minutes = abs(deg) % 1 * 60
    return f"{int(abs(deg)):03d}{minutes:07.4f},{'E' if deg >= 0 else 'W'}"


def cycle(when: datetime, lat: float, lon: float, leg: Leg) -> list[str]:
    """The sentences of one second: fixed, or searching (no position, void status)."""
    hms = when.strftime("%H%M%S") + ".00"
    dmy = when.strftime("%d%m%y")
    sats = ",".join(f"{prn:02d}" for prn in SATELLITES)
    if leg.fix:
        knots = leg.speed_mps * KNOTS_PER_MPS
        rmc = f"GPRMC,{hms},A,{_lat(lat)},{_lon(lon)},{knots:.2f},{leg.course_deg:.1f},{dmy},,,A"
        gga = f"GPGGA,{hms},{_lat(lat)},{_lon(lon)},1,{len(SATELLITES):02d},0.9,12.0,M,-34.2,M,,"
        gsa = f"GPGSA,A,3,{sats}{',' * (12 - len(SATELLITES))},1.6,0.9,1.3"
    else:
        rmc = f"GPRMC,{hms},V,,,,,,,{dmy},,,N"
        gga = f"GPGGA,{hms},,,,,0,00,,,M,,M,,"
        gsa = f"GPGSA,A,1,{',' * 12},,,"
    gsv = [
        f"GPGSV,2,{page + 1},{len(SATELLITES):02d},"
        + ",".join(
            f"{prn:02d},{30 + 5 * i:02d},{(45 * i) % 360:03d},{(40 if leg.fix else 0):02d}"
            for i, prn in enumerate(SATELLITES[4 * page : 4 * page + 4], start=4 * page)
        )
        for page in range(2)
    ]
    return [_checksum(body) for body in (rmc, gga, gsa, *gsv)]


def log(legs: list[Leg], origin: tuple[float, float] = ORIGIN) -> str:
    """The NMEA text of `legs` in order, one cycle a second from START."""
    lat, lon = origin
    lines: list[str] = []
    second = 0
    for leg in legs:
        for _ in range(leg.seconds):
            lines += cycle(START + timedelta(seconds=second), lat, lon, leg)
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
