"""The GNSS track: speed by activity, a smooth heading, and the patrol vehicle."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from firmware_mocks.scenario import load_scenario
from firmware_mocks.simulation import OfficerSimulation
from sensors import LocationAndSpeed, PositionStatus
from tests.firmware_mocks.builders import scenario


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = math.radians(b[0] - a[0]) * 6_371_000
    east = math.radians(b[1] - a[1]) * 6_371_000 * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


def fixes(sim: OfficerSimulation, seconds: int) -> list[LocationAndSpeed]:
    out = []
    for _ in range(seconds):
        sim.advance(1.0)
        out.append(sim.location())
    return out


@pytest.mark.parametrize(
    ("activity", "low", "high"),
    [("walking", 1.2, 1.6), ("running", 2.9, 4.1), ("driving", 7.8, 15.2), ("standing", 0, 0.1)],
)
def test_speed_follows_the_activity(activity: str, low: float, high: float) -> None:
    sim = OfficerSimulation(scenario([(0, activity)], duration_s=600), 0, 1)
    sim.advance(30)
    track = fixes(sim, 120)
    speed = statistics.fmean(f.speed_mps or 0.0 for f in track)
    assert low <= speed <= high
    moved = metres_between(
        (track[0].latitude_deg or 0.0, track[0].longitude_deg or 0.0),
        (track[-1].latitude_deg or 0.0, track[-1].longitude_deg or 0.0),
    )
    assert moved <= high * 120 + 15  # never faster than the activity allows (GNSS error aside)
    first, last = track[0].total_distance_m or 0.0, track[-1].total_distance_m or 0.0
    assert low * 118 <= last - first <= high * 121


def test_fixes_are_synthetic_near_the_area_and_well_formed() -> None:
    sim = OfficerSimulation(load_scenario("patrol-shift"), 0, 3)
    for fix in fixes(sim, 60):
        assert fix.position_status is PositionStatus.OK
        assert fix.latitude_deg is not None
        assert abs(fix.latitude_deg - 40.0) < 0.1
        assert fix.longitude_deg is not None
        assert abs(fix.longitude_deg + 75.0) < 0.1
        assert fix.elevation_m is not None
        assert 20 < fix.elevation_m < 100
        assert fix.heading_deg is not None
        assert 0 <= fix.heading_deg < 360
        assert LocationAndSpeed.decode(fix.encode()) == fix


def test_heading_wanders_smoothly() -> None:
    sim = OfficerSimulation(scenario([(0, "walking")], duration_s=700), 0, 8)
    headings = [f.heading_deg or 0.0 for f in fixes(sim, 600)]
    turns = [abs((b - a + 180) % 360 - 180) for a, b in itertools.pairwise(headings)]
    assert statistics.fmean(turns) < 5
    assert max(turns) < 30


def test_the_vehicle_moves_only_with_the_officer_in_it_and_they_return_to_it() -> None:
    trip = scenario(
        [(0, "driving"), (300, "walking"), (900, "running"), (960, "walking"),
         (1500, "sitting_down"), (1600, "driving")],
        duration_s=1900,
    )  # fmt: skip
    for seed in range(5):
        sim = OfficerSimulation(trip, 0, seed)
        sim.advance(300)
        parked = sim.vehicle_position()
        farthest = 0.0
        for _ in range(1200):
            sim.advance(1.0)
            assert sim.vehicle_position() == parked
            farthest = max(farthest, sim.distance_to_vehicle_m)
        assert farthest > 100  # the officer did leave the car
        assert sim.distance_to_vehicle_m < 1.0  # and is back at it to sit down
        sim.advance(200)
        assert metres_between(sim.vehicle_position(), parked) > 500  # driving off again
        assert sim.distance_to_vehicle_m == 0.0


def test_the_fallen_officer_lies_away_from_the_vehicle() -> None:
    for seed in range(5):
        sim = OfficerSimulation(load_scenario("officer-down"), 0, seed)
        sim.advance(310)
        assert sim.distance_to_vehicle_m > 50
        lying = sim.location()
        sim.advance(300)
        now = sim.location()
        assert (now.speed_mps or 0.0) < 0.3
        here = (now.latitude_deg or 0.0, now.longitude_deg or 0.0)
        assert metres_between((lying.latitude_deg or 0.0, lying.longitude_deg or 0.0), here) < 15
