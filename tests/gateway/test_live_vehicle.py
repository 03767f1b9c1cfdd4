"""The live view's vehicle line (moving, stopped, parked, no fix, gpsd lost) and the reasons of
open alerts under the table: where the officer is relative to the car."""

from __future__ import annotations

from gateway.alerts.model import Alert, AlertKind, AlertState, Severity
from gateway.domain import NS_PER_S
from gateway.live import LiveState, render, vehicle_line
from gateway.vehicle.protocol import FixMode, Tpv
from gateway.vehicle.track import TrackSettings, VehicleTrack

SETTINGS = TrackSettings(moving_above_mps=1.0, parked_after_s=10.0, parked_interval_s=30.0)


def fix(speed_mps: float) -> Tpv:
    return Tpv(FixMode.FIX_3D, 40.758896, -73.98513, 12.0, speed_mps, 45.0, 5.0)


def test_the_vehicle_line_follows_the_drive_the_stop_and_the_fix() -> None:
    track = VehicleTrack(SETTINGS)
    assert vehicle_line("car-12", False, track) == "car-12: waiting for gpsd"
    track.on_report(Tpv(FixMode.NO_FIX), 0)
    assert vehicle_line("car-12", True, track) == "car-12: no fix yet"
    track.on_report(fix(12.34), 1 * NS_PER_S)
    assert vehicle_line("car-12", True, track) == "car-12: moving 12.3 m/s at 40.75890,-73.98513"
    track.on_report(fix(0.0), 2 * NS_PER_S)  # a red light is not parking yet
    assert vehicle_line("car-12", True, track).startswith("car-12: stopped at 40.75890")
    track.on_report(fix(0.0), 13 * NS_PER_S)
    assert vehicle_line("car-12", True, track) == "car-12: parked at 40.75890,-73.98513"
    track.on_report(Tpv(FixMode.NO_FIX), 14 * NS_PER_S)  # a car park's roof: the last fix stays
    assert vehicle_line("car-12", True, track) == "car-12: no fix, last at 40.75890,-73.98513"
    assert vehicle_line("car-12", False, track).endswith("(gpsd lost)")


def left_car(state: AlertState) -> Alert:
    reason = "left car-12 on foot: 33 m north-east, running"
    kind, info = AlertKind.OFFICER_LEFT_VEHICLE, Severity.INFO
    return Alert("a-1", "officer-01", kind, info, state, reason, "r", "1", "h", 0, 0)


def test_an_open_alert_s_reason_shows_under_the_table_until_it_closes() -> None:
    state = LiveState(["officer-01"])
    state.observe_alert(left_car(AlertState.ACTIVE))
    text = render(state, {}, 0.0, "header", "car-12: parked at 40.75890,-73.98513")
    assert text.splitlines()[1] == "car-12: parked at 40.75890,-73.98513"  # above the table
    assert (
        "officer-01: OFFICER_LEFT_VEHICLE active: left car-12 on foot: 33 m north-east, running"
        in text.splitlines()
    )
    state.observe_alert(left_car(AlertState.RESOLVED))
    text = render(state, {}, 0.0, "header")
    assert "left car-12" not in text
    assert text.splitlines()[1].startswith("officer")  # no vehicle line without a [vehicle]
