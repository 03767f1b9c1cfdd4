"""Where the officer and the patrol vehicle are: a GNSS track that moves with the activity.

Positions are kept in metres east and north of the scenario's (synthetic) area origin and turned
into latitude and longitude on a local tangent plane. The officer starts in the vehicle; the
vehicle moves only while they are in it. On foot, the officer wanders on a smooth random heading
and turns back in time to reach the vehicle by the next in-vehicle segment. The model steps on a
fixed 1 s grid (the rate of a GNSS fix), so output does not depend on how callers chunk time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from random import Random
from types import MappingProxyType
from typing import Final

from firmware_mocks.scenario import TIME_TOLERANCE_S, Activity, Area, Schedule, Segment

STEP_S: Final = 1.0
EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG)
# Consumer GNSS: a few metres of error that wanders over tens of seconds.
GNSS_HORIZONTAL_SIGMA_M: Final = 2.0
GNSS_VERTICAL_SIGMA_M: Final = 4.0
GNSS_ERROR_TAU_S: Final = 30.0
SPEED_NOISE_MPS: Final = 0.05
HOMING_CAPACITY_FRACTION: Final = 0.8
HOMING_MARGIN_M: Final = 5.0
# Within this of the car the officer is in it; farther, they walk back to it first.
BOARDING_REACH_M: Final = 1.0
WALK_BACK_MPS: Final = 1.4


@dataclass(frozen=True, slots=True)
class Mobility:
    """How an activity moves the officer over ground: speed range (by segment intensity), how
    fast speed settles, and how much the heading wanders (degrees/s, standard deviation)."""

    speed_mps: tuple[float, float]
    speed_tau_s: float
    turn_deg_s: float


MOBILITY: Final[Mapping[Activity, Mobility]] = MappingProxyType(
    {
        # Urban patrol driving, 8-15 m/s (30-55 km/h).
        Activity.DRIVING: Mobility((8.0, 15.0), 6.0, 1.5),
        Activity.SITTING_IN_VEHICLE: Mobility((0.0, 0.0), 3.0, 0.0),
        Activity.SITTING_DOWN: Mobility((0.0, 0.0), 1.0, 0.0),
        Activity.STANDING: Mobility((0.0, 0.0), 1.0, 0.0),
        # Preferred walking speed ~1.4 m/s.
        Activity.WALKING: Mobility((1.25, 1.55), 1.5, 2.0),
        Activity.RUNNING: Mobility((3.0, 4.0), 1.5, 3.0),
        Activity.JUMPING: Mobility((1.5, 2.5), 1.0, 3.0),
        Activity.STRUGGLING: Mobility((0.0, 0.4), 1.0, 20.0),
        Activity.FALLING: Mobility((0.0, 0.0), 0.5, 0.0),
        Activity.LYING_STILL: Mobility((0.0, 0.0), 0.5, 0.0),
    }
)
HEADING_TAU_S: Final = 20.0
MAX_TURN_DEG_S: Final = 90.0


def segment_speed(segment: Segment) -> float:
    """The ground speed an activity settles at, placed in its range by the segment's intensity."""
    low, high = MOBILITY[segment.activity].speed_mps
    return low + (high - low) * segment.intensity


@dataclass(frozen=True, slots=True)
class Terrain:
    """A smooth synthetic elevation field shared by every officer of a scenario run."""

    base_m: float
    phases: tuple[float, float, float]

    def elevation_m(self, east_m: float, north_m: float) -> float:
        p = self.phases
        return (
            self.base_m
            + 12.0 * math.sin(east_m / 900.0 + p[0]) * math.cos(north_m / 1300.0 + p[1])
            + 4.0 * math.sin((east_m + north_m) / 350.0 + p[2])
        )


def draw_terrain(area: Area, rng: Random) -> Terrain:
    return Terrain(
        area.elevation_m,
        (rng.uniform(0, math.tau), rng.uniform(0, math.tau), rng.uniform(0, math.tau)),
    )


class Track:
    """The officer's true and GNSS-measured position, and the patrol vehicle's position."""

    def __init__(self, area: Area, schedule: Schedule, terrain: Terrain, rng: Random) -> None:
        self._area = area
        self._schedule = schedule
        self._terrain = terrain
        self._rng = rng
        self._cos_lat = math.cos(math.radians(area.latitude_deg))
        distance = area.start_spread_m * math.sqrt(rng.random())
        bearing = rng.uniform(0.0, math.tau)
        self.east_m = distance * math.sin(bearing)
        self.north_m = distance * math.cos(bearing)
        self.vehicle_east_m = self.east_m
        self.vehicle_north_m = self.north_m
        self.heading_rad = rng.uniform(0.0, math.tau)
        self._turn_rate = 0.0
        self.speed_mps = 0.0
        self._measured_speed = 0.0
        self.total_distance_m = 0.0
        self._error = [0.0, 0.0, 0.0]
        self._steps = 0
        self._segment_index = 0
        self._capacity_after = self._foot_capacities()

    def _foot_capacities(self) -> list[float]:
        """For each segment, the ground an officer on foot can still cover after it before the
        next in-vehicle segment (infinite when the shift never returns to the vehicle)."""
        segments = self._schedule.segments
        after = [math.inf] * len(segments)
        running = math.inf
        for i in range(len(segments) - 1, -1, -1):
            after[i] = running
            segment = segments[i]
            if segment.in_vehicle:
                running = 0.0
            else:
                running += segment_speed(segment) * (segment.end_s - segment.start_s)
        return after

    @property
    def t_s(self) -> float:
        return self._steps * STEP_S

    def run_until(self, t_s: float) -> None:
        """Step the 1 s grid up to the last step at or before `t_s`."""
        while (self._steps + 1) * STEP_S <= t_s + TIME_TOLERANCE_S:
            self._step()

    def _segment(self, t_s: float) -> tuple[int, Segment]:
        segments = self._schedule.segments
        i = self._segment_index
        while i + 1 < len(segments) and segments[i + 1].start_s <= t_s:
            i += 1
        self._segment_index = i
        return i, segments[i]

    def _step(self) -> None:
        t = self._steps * STEP_S
        index, segment = self._segment(t)
        mobility = MOBILITY[segment.activity]
        rng = self._rng
        target = segment_speed(segment)
        self.speed_mps += (target - self.speed_mps) * (
            1.0 - math.exp(-STEP_S / mobility.speed_tau_s)
        )
        # Heading wanders as an Ornstein-Uhlenbeck turn rate: smooth, not a jitter.
        decay = math.exp(-STEP_S / HEADING_TAU_S)
        sigma = math.radians(mobility.turn_deg_s)
        self._turn_rate = self._turn_rate * decay + sigma * math.sqrt(
            1 - decay * decay
        ) * rng.gauss(0.0, 1.0)
        heading = self.heading_rad + self._turn_rate * STEP_S
        step_m = self.speed_mps * STEP_S
        to_vehicle = self.distance_to_vehicle_m()
        d_east, d_north = self.vehicle_east_m - self.east_m, self.vehicle_north_m - self.north_m
        aboard = segment.in_vehicle and to_vehicle <= BOARDING_REACH_M
        if segment.in_vehicle and not aboard:
            # Due in the car but not back at it yet: walk there; the car never jumps to them.
            step_m = min(WALK_BACK_MPS * STEP_S, to_vehicle)
            self.speed_mps = step_m / STEP_S
            heading = math.atan2(d_east, d_north)
        elif aboard:
            heading = self._steer_home(heading, 0.0, 0.0, self._area.patrol_radius_m)
        else:
            remaining = target * (segment.end_s - t - STEP_S) + self._capacity_after[index]
            if to_vehicle + HOMING_MARGIN_M >= HOMING_CAPACITY_FRACTION * remaining:
                step_m = min(step_m, to_vehicle)  # back at the car: wait there
                heading = self._turn_towards(heading, d_east, d_north)
        self.heading_rad = heading % math.tau
        self.east_m += step_m * math.sin(self.heading_rad)
        self.north_m += step_m * math.cos(self.heading_rad)
        self.total_distance_m += step_m
        if aboard:
            self.vehicle_east_m, self.vehicle_north_m = self.east_m, self.north_m
        error_decay = math.exp(-STEP_S / GNSS_ERROR_TAU_S)
        spread = math.sqrt(1.0 - error_decay * error_decay)
        for axis, sigma_m in enumerate(
            (GNSS_HORIZONTAL_SIGMA_M, GNSS_HORIZONTAL_SIGMA_M, GNSS_VERTICAL_SIGMA_M)
        ):
            self._error[axis] = self._error[axis] * error_decay + sigma_m * spread * rng.gauss(
                0.0, 1.0
            )
        self._measured_speed = max(0.0, self.speed_mps + SPEED_NOISE_MPS * rng.gauss(0.0, 1.0))
        self._steps += 1

    def _steer_home(self, heading: float, east: float, north: float, radius: float) -> float:
        """Turn back towards the patrol area's centre once outside its radius."""
        if math.hypot(self.east_m - east, self.north_m - north) <= radius:
            return heading
        return self._turn_towards(heading, east - self.east_m, north - self.north_m, 10.0)

    @staticmethod
    def _turn_towards(
        heading: float, d_east: float, d_north: float, max_deg_s: float = MAX_TURN_DEG_S
    ) -> float:
        wanted = math.atan2(d_east, d_north)
        error = (wanted - heading + math.pi) % math.tau - math.pi
        limit = math.radians(max_deg_s) * STEP_S
        return heading + max(-limit, min(limit, error))

    def to_lat_lon(self, east_m: float, north_m: float) -> tuple[float, float]:
        """Local tangent plane metres to degrees around the area origin."""
        lat = self._area.latitude_deg + math.degrees(north_m / EARTH_RADIUS_M)
        lon = self._area.longitude_deg + math.degrees(east_m / (EARTH_RADIUS_M * self._cos_lat))
        return lat, (lon + 180.0) % 360.0 - 180.0

    def measured_position(self) -> tuple[float, float, float]:
        """The helmet's fix: latitude, longitude and elevation with GNSS error."""
        lat, lon = self.to_lat_lon(self.east_m + self._error[0], self.north_m + self._error[1])
        elevation = self._terrain.elevation_m(self.east_m, self.north_m) + self._error[2]
        return lat, lon, elevation

    @property
    def measured_speed_mps(self) -> float:
        return self._measured_speed

    @property
    def heading_deg(self) -> float:
        return math.degrees(self.heading_rad) % 360.0

    def vehicle_position(self) -> tuple[float, float]:
        return self.to_lat_lon(self.vehicle_east_m, self.vehicle_north_m)

    def distance_to_vehicle_m(self) -> float:
        return math.hypot(self.vehicle_east_m - self.east_m, self.vehicle_north_m - self.north_m)
