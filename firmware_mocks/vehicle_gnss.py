"""The patrol vehicle's own GNSS receiver: its position as NMEA, once a simulated second.

In the vehicle the gateway reads gpsd, which reads the receiver; the simulated fleet plays the
receiver for one officer's vehicle (the car moves only while that officer is in it,
firmware_mocks/track.py) and sends each second's sentences as one UDP datagram, which a real
gpsd reads from a `udp://` source (gpsd(8)). Speed and course come from the last second's
travel, as a receiver derives them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from firmware_mocks.nmea import cycle
from firmware_mocks.simulation import OfficerSimulation
from firmware_mocks.track import EARTH_RADIUS_M

CYCLE_S: Final = 1.0


@dataclass(frozen=True)
class NmeaOutput:
    """Where the vehicle's sentences go, and the UTC time of the scenario's second 0."""

    start: datetime
    send: Callable[[bytes], None]


class VehicleGnss:
    """Writes the vehicle's fix through `send` for each whole simulated second that passed."""

    def __init__(self, simulation: OfficerSimulation, output: NmeaOutput) -> None:
        self._simulation = simulation
        self._start = output.start
        self._send = output.send
        self._next_s = 0.0
        self._last: tuple[float, float] | None = None
        self._course_deg = 0.0

    def step(self) -> None:
        """Send the cycles now due; call after the simulation advanced."""
        while self._next_s <= self._simulation.t_s:
            # The position now stands for the cycle's second: the track steps on a 1 s grid.
            lat, lon = self._simulation.vehicle_position()
            speed_mps = 0.0
            if self._last is not None:
                metres, bearing = _travel(self._last, (lat, lon))
                speed_mps = metres / CYCLE_S
                if metres > 0:  # a standing receiver keeps its last course
                    self._course_deg = bearing
            self._last = (lat, lon)
            when = self._start + timedelta(seconds=self._next_s)
            sentences = cycle(when, lat, lon, speed_mps=speed_mps, course_deg=self._course_deg)
            self._send(("\r\n".join(sentences) + "\r\n").encode("ascii"))
            self._next_s += CYCLE_S


def _travel(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """Metres and bearing (degrees from north) from `start` to `end` on a local plane."""
    cos_lat = math.cos(math.radians(start[0]))
    north = math.radians(end[0] - start[0]) * EARTH_RADIUS_M
    east = math.radians(end[1] - start[1]) * EARTH_RADIUS_M * cos_lat
    return math.hypot(east, north), math.degrees(math.atan2(east, north)) % 360.0
