"""The alert rules with a vehicle: distances and directions, the in-vehicle man-down gate, the
left-vehicle event, a lost device told apart from an officer out of range, and the vehicle's
position for an officer without GNSS. Pure: no sockets, time comes with the data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from gateway.activity import ActivitySummary, Intensity, Posture
from gateway.alerts.engine import AlertEngine
from gateway.alerts.model import Alert, AlertKind, AlertState, Severity
from gateway.alerts.proximity import (
    ProximitySettings,
    VehicleView,
    bearing_deg,
    compass,
    distance_m,
    whereabouts,
)
from gateway.alerts.rules import AlertSettings, OfficerMonitor, officer_profile
from gateway.ble.link import LinkState
from gateway.domain import NS_PER_S, DeviceRef, Point, UnitRef
from gateway.vehicle.track import VehicleFix
from sensors import DeviceModel, LocationAndSpeed, PositionStatus

UNIT = UnitRef("metro-pd", "car-12")
CAR = (40.758896, -73.985130)
VEST = DeviceRef(UNIT, "officer-01", "officer-01-vest", DeviceModel.BLUEWATCH_VEST)
HELMET = DeviceRef(UNIT, "officer-01", "officer-01-helmet", DeviceModel.BLUEWATCH_HELMET)
START_NS = 1_795_615_320 * NS_PER_S  # 2026-11-25 14:02:00 UTC
SETTINGS = AlertSettings(pre_alert_after_s=20, alarm_after_s=30)


def offset(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat, lon = origin
    return (
        lat + north_m / 111_195.0,
        lon + east_m / (111_195.0 * math.cos(math.radians(lat))),
    )


@dataclass
class Scene:
    """One officer, their car, an engine and a clock."""

    car_fix: VehicleFix | None = field(
        default_factory=lambda: VehicleFix(*CAR, time_ns=START_NS, moving=False)
    )
    now_ns: int = START_NS
    alerts: list[Alert] = field(default_factory=list)
    with_vehicle: bool = True

    def __post_init__(self) -> None:
        self.engine = AlertEngine(
            UNIT,
            "cafe",
            clock_ns=lambda: self.now_ns,
            emit=lambda _p: None,
            listeners=(self.alerts.append,),
        )
        view = VehicleView("car-12", ProximitySettings(), lambda: self.car_fix)
        self.monitor = OfficerMonitor(
            officer_profile("officer-01", 60, 35, None),
            SETTINGS,
            self.engine,
            self._points,
            UNIT.officer_tags("officer-01"),
            vehicle=view if self.with_vehicle else None,
        )

    def _points(self, points: list[Point]) -> None:
        pass

    def at(self, seconds: float) -> int:
        self.now_ns = START_NS + int(seconds * NS_PER_S)
        if self.car_fix is not None:  # the car's receiver keeps reporting
            self.car_fix = VehicleFix(*self.car_fix.position, self.now_ns, self.car_fix.moving)
        return self.now_ns

    def helmet_at(self, seconds: float, position: tuple[float, float]) -> None:
        now = self.at(seconds)
        reading = LocationAndSpeed(
            latitude_deg=position[0],
            longitude_deg=position[1],
            position_status=PositionStatus.OK,
        )
        self.monitor.on_reading(HELMET, reading, now)

    def activity(self, seconds: float, intensity: Intensity, posture: Posture) -> None:
        now = self.at(seconds)
        summary = ActivitySummary(now, 1.0, 1.0, 0.0, intensity, posture, None, 50)
        self.monitor.on_activity(VEST, summary)

    def open(self, kind: AlertKind) -> Alert | None:
        return self.engine.open_alert("officer-01", kind)


# --- geometry ------------------------------------------------------------------------------


def test_distance_and_direction() -> None:
    there = offset(CAR, 127.3, 127.3)  # 180 m north-east
    assert distance_m(CAR, there) == pytest.approx(180.0, abs=0.5)
    assert bearing_deg(CAR, there) == pytest.approx(45.0, abs=0.5)
    assert whereabouts(there, CAR).words("car-12") == "180 m north-east of car-12"


@pytest.mark.parametrize(
    ("bearing", "name"),
    [
        (0, "north"),
        (22, "north"),
        (23, "north-east"),
        (180, "south"),
        (292, "west"),
        (359, "north"),
    ],
)
def test_compass_points(bearing: float, name: str) -> None:
    assert compass(bearing) == name


# --- man down ---------------------------------------------------------------------------------


def lie_still(scene: Scene, position: tuple[float, float], seconds: int = 35) -> None:
    for second in range(seconds + 1):
        scene.helmet_at(second, position)
        scene.activity(second, Intensity.STILL, Posture.LYING)


def test_lying_still_in_the_car_is_not_man_down() -> None:
    scene = Scene()
    lie_still(scene, offset(CAR, 1.0, 0.5))
    assert scene.open(AlertKind.OFFICER_DOWN) is None


def test_lying_still_away_from_the_car_alarms_with_where() -> None:
    scene = Scene()
    lie_still(scene, offset(CAR, 127.3, 127.3))
    down = scene.open(AlertKind.OFFICER_DOWN)
    assert down is not None
    assert down.state is AlertState.ACTIVE
    assert down.reason.endswith("; 180 m north-east of car-12")


def test_without_a_helmet_the_message_says_in_radio_range() -> None:
    scene = Scene()
    for second in range(36):
        scene.activity(second, Intensity.STILL, Posture.LYING)
    down = scene.open(AlertKind.OFFICER_DOWN)
    assert down is not None
    assert down.reason.endswith("; in radio range of car-12 (no officer GNSS: car-12's position)")
    # No officer GNSS: the alert carries the car's position (the officer is within radio range).
    assert (down.latitude_deg, down.longitude_deg) == CAR


def test_a_fall_in_a_moving_car_is_not_man_down_but_at_a_parked_car_it_is() -> None:
    for moving, expected in ((True, False), (False, True)):
        scene = Scene()
        assert scene.car_fix is not None
        scene.car_fix = VehicleFix(*CAR, time_ns=START_NS, moving=moving)
        scene.monitor.fall_at_ns = START_NS
        scene.monitor.fall_detail = "fall detected"
        lie_still(scene, offset(CAR, 2.0, 0.0))
        assert (scene.open(AlertKind.OFFICER_DOWN) is not None) is expected
        if expected:
            down = scene.open(AlertKind.OFFICER_DOWN)
            assert down is not None
            assert down.reason.endswith("; at car-12")


def test_a_stale_vehicle_fix_does_not_gate() -> None:
    scene = Scene()
    scene.car_fix = None  # the receiver stopped reporting long ago: no gate, no distance
    lie_still(scene, CAR)
    down = scene.open(AlertKind.OFFICER_DOWN)
    assert down is not None
    assert down.reason == "lying without motion; no motion for 30 s"


def test_without_any_position_the_message_says_so() -> None:
    scene = Scene()
    scene.car_fix = None
    for second in range(36):
        scene.activity(second, Intensity.STILL, Posture.LYING)
    down = scene.open(AlertKind.OFFICER_DOWN)
    assert down is not None
    assert down.reason.endswith("; in radio range of car-12, no position")
    assert down.latitude_deg is None


def test_without_a_vehicle_messages_are_unchanged() -> None:
    scene = Scene(with_vehicle=False)
    lie_still(scene, CAR)
    down = scene.open(AlertKind.OFFICER_DOWN)
    assert down is not None
    assert down.reason == "lying without motion; no motion for 30 s"


# --- leaving the vehicle ------------------------------------------------------------------------


def test_leaving_the_car_on_foot_and_coming_back() -> None:
    scene = Scene()
    scene.activity(0, Intensity.VIGOROUS, Posture.UPRIGHT)
    for second, north in enumerate(range(0, 60, 4)):  # running north at 4 m/s
        scene.helmet_at(second, offset(CAR, north, 0))
    left = [a for a in scene.alerts if a.kind is AlertKind.OFFICER_LEFT_VEHICLE]
    assert len(left) == 1
    assert left[0].severity is Severity.INFO
    assert left[0].reason == "left car-12 on foot: 32 m north, running"
    # Pacing around 20 m (between the two thresholds) neither clears nor raises it again.
    for second in range(20, 30):
        scene.helmet_at(second, offset(CAR, 20 + second % 2 * 12, 0))
    assert len([a for a in scene.alerts if a.kind is AlertKind.OFFICER_LEFT_VEHICLE]) == 1
    scene.helmet_at(31, offset(CAR, 5, 0))
    back = [a for a in scene.alerts if a.kind is AlertKind.OFFICER_LEFT_VEHICLE]
    assert [a.state for a in back] == [AlertState.ACTIVE, AlertState.RESOLVED]
    assert back[-1].reason == "back at car-12"


def test_an_officer_first_seen_far_away_did_not_just_leave() -> None:
    scene = Scene()
    for second in range(10):
        scene.helmet_at(second, offset(CAR, 200 + second, 0))
    assert not [a for a in scene.alerts if a.kind is AlertKind.OFFICER_LEFT_VEHICLE]
    scene.helmet_at(10, offset(CAR, 2, 0))  # at the car now; leaving later counts
    scene.helmet_at(11, offset(CAR, 40, 0))
    assert [a.kind for a in scene.alerts] == [AlertKind.OFFICER_LEFT_VEHICLE]


# --- a lost device versus an officer out of range -------------------------------------------


def test_a_strap_lost_while_the_helmet_still_talks() -> None:
    scene = Scene()
    scene.monitor.on_link(HELMET, LinkState.OK)
    scene.monitor.on_link(VEST, LinkState.OK)
    scene.monitor.on_link(VEST, LinkState.LOST)
    lost = scene.open(AlertKind.DEVICE_LOST)
    assert lost is not None
    assert lost.reason == (
        "vest officer-01-vest lost near car-12 while officer-01-helmet is still in range: "
        "the device, not the officer (strap lost, battery flat)"
    )


def test_everything_lost_at_the_car_is_a_device_problem() -> None:
    scene = Scene()
    scene.helmet_at(0, offset(CAR, 3, 0))
    scene.monitor.on_link(HELMET, LinkState.LOST)
    lost = scene.open(AlertKind.DEVICE_LOST)
    assert lost is not None
    assert lost.reason.startswith("helmet officer-01-helmet lost near car-12 since 14:02 UTC")
    assert "(officer last seen 3 m away)" in lost.reason


def test_an_officer_running_out_of_range() -> None:
    scene = Scene()
    scene.activity(0, Intensity.VIGOROUS, Posture.UPRIGHT)
    for second in range(46):
        scene.helmet_at(second, offset(CAR, 4 * second / math.sqrt(2), 4 * second / math.sqrt(2)))
    scene.at(70)  # 20 s of silence later, both links are lost
    scene.monitor.on_link(VEST, LinkState.STALE)
    scene.monitor.on_link(HELMET, LinkState.LOST)
    lost = scene.open(AlertKind.DEVICE_LOST)
    assert lost is not None
    assert lost.reason == (
        "officer-01 out of range of car-12 since 14:02 UTC, last seen 180 m north-east, running"
    )
    # The alert carries the officer's own last position, not the car's.
    assert lost.latitude_deg is not None
    assert lost.latitude_deg > CAR[0]


def test_lost_without_any_position_says_it_cannot_tell() -> None:
    scene = Scene()
    scene.activity(0, Intensity.LIGHT, Posture.UPRIGHT)
    scene.monitor.on_link(VEST, LinkState.LOST)
    lost = scene.open(AlertKind.DEVICE_LOST)
    assert lost is not None
    assert lost.reason == (
        "officer-01 out of range of car-12 since 14:02 UTC, last seen walking; no position to "
        "tell a lost device from an officer away from the car"
    )
    assert (lost.latitude_deg, lost.longitude_deg) == CAR


def test_device_lost_without_a_vehicle_is_unchanged() -> None:
    scene = Scene(with_vehicle=False)
    scene.monitor.on_link(VEST, LinkState.LOST)
    lost = scene.open(AlertKind.DEVICE_LOST)
    assert lost is not None
    assert lost.reason == "vest officer-01-vest silent: link lost"
    assert lost.latitude_deg is None
