"""The vehicle track without sockets: moving versus parked, the row cadence, no fix, backoff."""

from __future__ import annotations

from gateway.backoff import GPSD_RECONNECT
from gateway.domain import NS_PER_S
from gateway.vehicle.protocol import FixMode, Sky, Tpv
from gateway.vehicle.track import TrackSettings, VehicleTrack

SETTINGS = TrackSettings(moving_above_mps=1.0, parked_after_s=10.0, parked_interval_s=30.0)


def fix(speed_mps: float, lat: float = 40.0) -> Tpv:
    return Tpv(FixMode.FIX_3D, lat, -73.0, 12.0, speed_mps, 45.0, 5.0)


def replay(track: VehicleTrack, reports: list[Tpv], start_s: int = 0) -> list[int]:
    """Feed one report a second; the seconds at which a row was written."""
    rows = []
    for second, report in enumerate(reports, start=start_s):
        now_ns = second * NS_PER_S
        track.on_report(report, now_ns)
        if track.row_due(now_ns):
            track.row_written(now_ns)
            rows.append(second)
    return rows


def test_one_row_a_second_while_moving() -> None:
    track = VehicleTrack(SETTINGS)
    assert replay(track, [fix(12.0)] * 20) == list(range(20))
    assert track.moving


def test_reports_a_little_early_still_make_1_hz() -> None:
    track = VehicleTrack(SETTINGS)
    rows = []
    for i in range(10):
        now_ns = int(i * 0.95 * NS_PER_S)  # a receiver clock slightly fast against ours
        track.on_report(fix(12.0), now_ns)
        if track.row_due(now_ns):
            track.row_written(now_ns)
            rows.append(i)
    assert rows == list(range(10))


def test_parked_rows_come_every_parked_interval() -> None:
    track = VehicleTrack(SETTINGS)
    rows = replay(track, [fix(0.2)] * 95)
    assert rows == [0, 30, 60, 90]
    assert not track.moving


def test_a_stop_is_parked_after_parked_after_s_with_a_row_at_once() -> None:
    track = VehicleTrack(SETTINGS)
    rows = replay(track, [fix(12.0)] * 5 + [fix(0.0)] * 45)
    # 1 Hz while moving and through the first 10 s standing (a red light is not parking), then
    # a row as it becomes parked (second 15), then the parked cadence.
    assert rows == [*range(16), 45]
    assert track.last_fix is not None
    assert not track.last_fix.moving


def test_noise_below_the_threshold_never_moves_a_parked_vehicle() -> None:
    track = VehicleTrack(SETTINGS)
    replay(track, [fix(0.9), fix(0.1)] * 30)
    assert not track.moving


def test_losing_the_fix_writes_a_row_at_once_then_parked_cadence() -> None:
    track = VehicleTrack(SETTINGS)
    rows = replay(track, [fix(12.0)] * 3 + [Tpv(FixMode.NO_FIX)] * 40)
    assert rows == [0, 1, 2, 3, 33]
    fields = track.fields()
    assert fields["fix"] == "none"
    assert fields["fix_mode"] == 1
    assert "latitude_deg" not in fields
    assert "speed_mps" not in fields


def test_the_last_fix_survives_a_tunnel() -> None:
    track = VehicleTrack(SETTINGS)
    replay(track, [fix(12.0, lat=40.5), Tpv(FixMode.NO_FIX)])
    assert track.last_fix is not None
    assert track.last_fix.latitude_deg == 40.5
    assert track.last_fix.time_ns == 0


def test_a_change_of_fix_forgets_the_satellites_of_the_old_one() -> None:
    track = VehicleTrack(SETTINGS)
    track.on_report(fix(12.0), 0)
    track.on_report(Sky(visible=8, used=8), 0)
    track.on_report(Tpv(FixMode.NO_FIX), NS_PER_S)
    assert "satellites_used" not in track.fields()
    track.on_report(Sky(visible=8, used=0), NS_PER_S)
    assert track.fields()["satellites_used"] == 0


def test_fix_coming_back_writes_a_row_at_once() -> None:
    track = VehicleTrack(SETTINGS)
    rows = replay(track, [fix(0.0)] * 2 + [Tpv(FixMode.NO_FIX)] * 3 + [fix(0.0)])
    assert rows == [0, 2, 5]


def test_nothing_before_the_first_tpv() -> None:
    track = VehicleTrack(SETTINGS)
    track.on_report(Sky(visible=9, used=0), 0)
    assert not track.row_due(0)


def test_fields_while_moving() -> None:
    track = VehicleTrack(SETTINGS)
    track.on_report(Sky(visible=9, used=7), 0)
    track.on_report(fix(12.0), 0)
    assert track.fields() == {
        "fix_mode": 3,
        "fix": "3d",
        "moving": True,
        "latitude_deg": 40.0,
        "longitude_deg": -73.0,
        "altitude_m": 12.0,
        "speed_mps": 12.0,
        "heading_deg": 45.0,
        "error_m": 5.0,
        "satellites_used": 7,
        "satellites_visible": 9,
    }


def test_a_standing_vehicle_has_no_heading_and_a_2d_fix_no_altitude() -> None:
    track = VehicleTrack(SETTINGS)
    track.on_report(Tpv(FixMode.FIX_2D, 40.0, -73.0, 12.0, 0.0, 45.0), 0)
    fields = track.fields()
    assert "heading_deg" not in fields
    assert "altitude_m" not in fields


def test_gpsd_reconnect_backoff_doubles_to_its_cap() -> None:
    no_jitter = [GPSD_RECONNECT.delay_s(attempt, lambda: 0.5) for attempt in range(1, 8)]
    assert no_jitter == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert GPSD_RECONNECT.delay_s(1, lambda: 0.0) == 0.75
