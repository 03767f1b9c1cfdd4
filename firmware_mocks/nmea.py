"""NMEA 0183 as a GNSS receiver writes it: one second's sentences for a position and motion.

A receiver's 1 Hz cycle is RMC (time, position, speed, course), GGA (quality, satellites,
altitude), GSA (fix mode, satellites used) and GSV (satellites in view), which is what gpsd
needs to report TPV and SKY. Pure: the simulated vehicle (firmware_mocks/vehicle_gnss.py) and
the tests' gpsfake logs write their sentences here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

KNOTS_PER_MPS: Final = 1.943844
SATELLITES: Final = (2, 5, 12, 15, 18, 21, 24, 29)
# Five sentences a cycle: RMC, GGA, GSA and two GSV pages of four satellites.
SENTENCES_PER_CYCLE: Final = 5


def sentence(body: str) -> str:
    """`$body*CS`: the checksum is the XOR of every character between `$` and `*`."""
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


def cycle(
    when: datetime,
    lat: float,
    lon: float,
    *,
    speed_mps: float = 0.0,
    course_deg: float = 0.0,
    fix: bool = True,
) -> list[str]:
    """The sentences of one second: fixed, or searching (no position, void status)."""
    hms = when.strftime("%H%M%S") + ".00"
    dmy = when.strftime("%d%m%y")
    sats = ",".join(f"{prn:02d}" for prn in SATELLITES)
    if fix:
        knots = speed_mps * KNOTS_PER_MPS
        rmc = f"GPRMC,{hms},A,{_lat(lat)},{_lon(lon)},{knots:.2f},{course_deg:.1f},{dmy},,,A"
        gga = f"GPGGA,{hms},{_lat(lat)},{_lon(lon)},1,{len(SATELLITES):02d},0.9,12.0,M,-34.2,M,,"
        gsa = f"GPGSA,A,3,{sats}{',' * (12 - len(SATELLITES))},1.6,0.9,1.3"
    else:
        rmc = f"GPRMC,{hms},V,,,,,,,{dmy},,,N"
        gga = f"GPGGA,{hms},,,,,0,00,,,M,,M,,"
        gsa = f"GPGSA,A,1,{',' * 12},,,"
    gsv = [
        f"GPGSV,2,{page + 1},{len(SATELLITES):02d},"
        + ",".join(
            f"{prn:02d},{30 + 5 * i:02d},{(45 * i) % 360:03d},{(40 if fix else 0):02d}"
            for i, prn in enumerate(SATELLITES[4 * page : 4 * page + 4], start=4 * page)
        )
        for page in range(2)
    ]
    return [sentence(body) for body in (rmc, gga, gsa, *gsv)]
