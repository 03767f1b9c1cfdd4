"""The facade the BLE side drives: determinism, readings, events, faults, and each scenario's
promise."""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest

from firmware_mocks.scenario import ClockSkewFault, load_scenario
from firmware_mocks.simulation import DeviceEvent, DevicePlan, OfficerSimulation
from sensors import (
    DeviceModel,
    HeartRateMeasurement,
    LocationAndSpeed,
    SafetyEventKind,
    SensorContact,
    TemperatureMeasurement,
    TemperatureType,
)
from tests.firmware_mocks.builders import scenario

VEST, HELMET = DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET


def record(sim: OfficerSimulation, steps: list[float]) -> dict[str, Any]:
    """Everything the devices report while advancing by `steps`, read after each step."""
    out: dict[str, list[Any]] = {
        "imu_v": [], "imu_h": [], "rr": [], "events_v": [], "events_h": [], "fixes": []
    }  # fmt: skip
    for dt in steps:
        sim.advance(dt)
        out["imu_v"] += sim.take_imu_samples(VEST)
        out["imu_h"] += sim.take_imu_samples(HELMET)
        out["rr"] += sim.heart_rate().rr_intervals_s
        out["events_v"] += sim.take_events(VEST)
        out["events_h"] += sim.take_events(HELMET)
        if abs(sim.t_s - round(sim.t_s)) < 1e-6 and round(sim.t_s) % 10 == 0:
            out["fixes"].append(
                (round(sim.t_s), sim.location(), sim.heart_rate().heart_rate_bpm,
                 sim.skin_temperature(), sim.core_temp_c)
            )  # fmt: skip
    return out


def test_same_seed_same_outputs_different_seed_different() -> None:
    down = load_scenario("officer-down")
    steps = [1.0] * 320
    first = record(OfficerSimulation(down, 0, 42), steps)
    again = record(OfficerSimulation(down, 0, 42), steps)
    other = record(OfficerSimulation(down, 0, 43), steps)
    assert first == again
    for key in ("imu_v", "imu_h", "rr", "fixes"):
        assert first[key] != other[key]
    assert (
        OfficerSimulation(down, 1, 42).vehicle_position()
        != OfficerSimulation(down, 0, 42).vehicle_position()
    )


def test_outputs_do_not_depend_on_how_time_is_chunked() -> None:
    down = load_scenario("officer-down")
    coarse = record(OfficerSimulation(down, 0, 9), [10.0] * 32)
    fine = record(OfficerSimulation(down, 0, 9), [0.02] * 500 + [0.5] * 18 + [1.0] * 301)
    assert coarse == fine


def test_any_step_size_works_and_negative_steps_are_refused() -> None:
    sim = OfficerSimulation(load_scenario("patrol-shift"), 0, 1)
    for dt in (0.001, 0.02, 1.0, 60.0, 0.0):
        sim.advance(dt)
    assert sim.t_s == pytest.approx(61.021)
    assert len(sim.take_imu_samples(VEST)) == math.floor(61.021 * 50) + 1
    with pytest.raises(ValueError, match="dt_s"):
        sim.advance(-1.0)
    with pytest.raises(ValueError, match="dt_s"):
        sim.advance(math.nan)


def test_readings_are_valid_sensors_values_that_survive_the_wire() -> None:
    sim = OfficerSimulation(load_scenario("patrol-shift"), 2, 5)
    assert sim.officer_id == "officer-03"
    sim.advance(30)
    heart = sim.heart_rate()
    assert isinstance(heart.heart_rate_bpm, int)
    assert heart.sensor_contact is SensorContact.DETECTED
    assert 20 <= len(heart.rr_intervals_s) <= 60
    skin = sim.skin_temperature()
    assert skin.temperature_type is TemperatureType.BODY
    assert skin.temperature_c is not None
    assert 30 < skin.temperature_c < 38
    fix = sim.location()
    for reading in (heart, skin, fix):
        assert type(reading).decode(reading.encode()) == reading
    assert isinstance(heart, HeartRateMeasurement)
    assert isinstance(skin, TemperatureMeasurement)
    assert isinstance(fix, LocationAndSpeed)
    assert all(abs(axis) < 32 for sample in sim.take_imu_samples(VEST) for axis in sample)
    assert sim.activity in {"sitting_in_vehicle", "standing", "driving", "walking"}
    assert 0 <= sim.battery_pct(VEST) <= 100
    assert sim.device_clock_ms(VEST) == 30_000


def test_patrol_shift_is_uneventful() -> None:
    """Eight hours: no fall-like impact (>6 g then stillness), no events, core below 38 °C."""
    shift = load_scenario("patrol-shift")
    sim = OfficerSimulation(shift, 0, 1)
    core = []
    activities = set()
    previous_peak = 0.0
    while sim.t_s < shift.duration_s:
        sim.advance(60.0)
        core.append(sim.core_temp_c)
        activities.add(sim.activity)
        mags = [math.sqrt(x * x + y * y + z * z) for x, y, z in sim.take_imu_samples(VEST)]
        peak = max(mags)
        still = statistics.pstdev(mags[-1500:]) < 0.02
        assert not (previous_peak > 6.0 and still)
        assert peak < 6.0
        previous_peak = peak
        assert sim.take_events(VEST) == []
        assert sim.take_events(HELMET) == []
    assert min(core) > 36.9
    assert max(core) < 38.0
    assert statistics.fmean(core) < 37.6
    assert {"driving", "sitting_in_vehicle", "walking"} <= activities
    assert not activities & {"falling", "lying_still"}
    assert sim.battery_pct(VEST) > 50


@pytest.mark.parametrize("officer", [0, 1])
def test_heat_stress_drives_core_temperature_past_38_5(officer: int) -> None:
    heat = load_scenario("heat-stress")
    sim = OfficerSimulation(heat, officer, 3)
    sim.advance(600)
    early_core, early_hr = sim.core_temp_c, sim.heart_rate().heart_rate_bpm
    while sim.t_s < heat.duration_s:
        sim.advance(10.0)
    assert sim.core_temp_c > 38.5
    assert sim.core_temp_c - early_core > 1.0  # over tens of minutes, not at once
    assert sim.heart_rate().heart_rate_bpm > early_hr + 15  # cardiac drift with the heat


def test_foot_pursuit_drives_heart_rate_up_and_it_recovers() -> None:
    pursuit = load_scenario("foot-pursuit")
    sim = OfficerSimulation(pursuit, 0, 2)
    sim.advance(470)
    before = sim.heart_rate().heart_rate_bpm
    sim.advance(250)  # sprinting since 480 s
    chasing = sim.heart_rate().heart_rate_bpm
    speed = sim.location().speed_mps
    sim.advance(1200 - sim.t_s)
    assert chasing > 0.85 * sim.profile.max_hr_bpm
    assert chasing - before > 50
    assert speed is not None
    assert 2.8 < speed < 4.2
    assert sim.heart_rate().heart_rate_bpm < chasing - 40


def test_panic_and_holster_events_arrive_on_time_for_the_right_officer() -> None:
    panic = load_scenario("panic-press")
    sim = OfficerSimulation(panic, 0, 1)
    sim.advance(609.9)
    assert sim.take_events(VEST) == []
    sim.advance(0.2)
    assert sim.take_events(VEST) == [DeviceEvent(SafetyEventKind.PANIC_PRESS, None)]
    bystander = OfficerSimulation(panic, 1, 1)
    bystander.advance(panic.duration_s)
    assert bystander.take_events(VEST) == []
    holster = OfficerSimulation(load_scenario("holster-draw"), 0, 1)
    holster.advance(600)
    assert [e.kind for e in holster.take_events(VEST)] == [SafetyEventKind.HOLSTER_DRAW]
    holster.advance(100)
    assert [e.kind for e in holster.take_events(VEST)] == [SafetyEventKind.HOLSTER_RETURN]
    assert holster.take_events(HELMET) == []


def test_device_dropout_power_cycle_and_link_drop() -> None:
    sim = OfficerSimulation(load_scenario("device-dropout"), 0, 1)
    sim.advance(299)
    boots = sim.boot_count(HELMET)
    assert sim.faults(HELMET).link_up
    assert sim.device_clock_ms(HELMET) == 299_000
    sim.take_imu_samples(HELMET)
    sim.advance(2)  # 301 s: powered off
    assert not sim.faults(HELMET).link_up
    assert sim.take_imu_samples(HELMET) == []
    assert sim.device_clock_ms(HELMET) == 0
    assert sim.faults(VEST).link_up  # the other device is unaffected
    sim.advance(118)  # 419 s
    assert not sim.faults(HELMET).link_up
    sim.advance(2)  # 421 s: booted again at 420 s
    assert sim.faults(HELMET).link_up
    assert sim.boot_count(HELMET) == boots + 1
    assert sim.device_clock_ms(HELMET) == 1_000
    assert len(sim.take_imu_samples(HELMET)) == 51  # only samples since boot: 0 .. 1 s
    sim.advance(900 - sim.t_s + 1)  # 901 s: the vest's link is down, the vest runs on
    vest_boots = sim.boot_count(VEST)
    assert not sim.faults(VEST).link_up
    assert sim.device_clock_ms(VEST) == 901_000
    sim.advance(60)
    assert sim.faults(VEST).link_up
    assert sim.boot_count(VEST) == vest_boots


def test_malformed_notifications_come_at_the_configured_rate() -> None:
    sim = OfficerSimulation(load_scenario("malformed-packets"), 0, 1)
    assert not any(sim.faults(VEST).corrupt_next for _ in range(100))  # before the window
    sim.advance(61)
    vest = [sim.faults(VEST).corrupt_next for _ in range(200)]
    helmet = [sim.faults(HELMET).corrupt_next for _ in range(70)]
    assert sum(vest) == 10
    assert vest[19]
    assert vest[39]
    assert sum(helmet) == 10
    assert helmet[6]
    sim.advance(1000)  # past the vest's 15 minutes; the helmet goes on
    assert not any(sim.faults(VEST).corrupt_next for _ in range(100))
    assert sum(sim.faults(HELMET).corrupt_next for _ in range(70)) == 10


def test_clock_skew_drifts_by_the_configured_ppm() -> None:
    skew = load_scenario("clock-skew")
    sim = OfficerSimulation(skew, 0, 1)
    vest_samples = helmet_samples = 0
    while sim.t_s < 3600:
        sim.advance(60.0)
        vest_samples += len(sim.take_imu_samples(VEST))
        helmet_samples += len(sim.take_imu_samples(HELMET))
    assert sim.faults(VEST).clock_ppm == 150
    assert sim.faults(HELMET).clock_ppm == -80
    assert sim.device_clock_ms(VEST) == pytest.approx(3_600_000 * (1 + 150e-6), abs=1)
    assert sim.device_clock_ms(HELMET) == pytest.approx(3_600_000 * (1 - 80e-6), abs=1)
    # Samples are clocked by the device's own crystal: 27 more, and 14 fewer, in the hour.
    assert vest_samples == math.floor(3600 * (1 + 150e-6) * 50) + 1
    assert helmet_samples == math.floor(3600 * (1 - 80e-6) * 50 + 1e-6) + 1
    unskewed = OfficerSimulation(skew, 1, 1)
    unskewed.advance(3600)
    assert unskewed.device_clock_ms(VEST) == 3_600_000


def test_device_clock_wraps_at_2_to_the_32() -> None:
    skew = ClockSkewFault(kind="clock_skew", at_s=0, ppm=100.0, device="vest", officers="all")
    plan = DevicePlan([skew], drain_pct_per_h=0.0, battery_pct=100.0, boot_count=1)
    wrap_s = 2**32 / 1000 / (1 + 100e-6)
    assert plan.clock_ms(wrap_s - 1) == pytest.approx(2**32 - 1000 * (1 + 100e-6), abs=1)
    assert plan.clock_ms(wrap_s + 5) == pytest.approx(5000 * (1 + 100e-6), abs=1)


def test_low_battery_drains_and_the_device_dies() -> None:
    sim = OfficerSimulation(load_scenario("low-battery"), 0, 1)
    assert sim.battery_pct(VEST) == 12
    assert sim.battery_pct(HELMET) == 22
    sim.advance(600)
    assert sim.battery_pct(VEST) == 7  # 12 % - 30 %/h x 10 min
    sim.advance(830)  # 1430 s: flat at 1440 s
    assert sim.battery_pct(VEST) == 1
    assert sim.faults(VEST).link_up
    sim.advance(20)
    assert sim.battery_pct(VEST) == 0
    assert not sim.faults(VEST).link_up
    assert sim.take_imu_samples(VEST) == []
    sim.advance(2400 - sim.t_s)
    assert not sim.faults(VEST).link_up  # a flat battery stays flat
    assert sim.battery_pct(HELMET) == 9
    assert sim.faults(HELMET).link_up


def test_a_vest_that_is_off_measures_no_beats() -> None:
    cycle = scenario(
        [(0, "standing")],
        duration_s=600,
        faults=[{"at_s": 100, "kind": "power_cycle", "duration_s": 50, "device": "vest",
                 "officers": [0]}],
    )  # fmt: skip
    sim = OfficerSimulation(cycle, 0, 1)
    sim.advance(99)
    assert len(sim.heart_rate().rr_intervals_s) > 60
    sim.advance(21)  # 120 s: off
    assert sim.heart_rate().rr_intervals_s == ()
    sim.advance(32)  # 152 s: booted at 150 s
    since_boot = sim.heart_rate().rr_intervals_s
    assert 0 < sum(since_boot) <= 2.0
