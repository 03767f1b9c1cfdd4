"""Kits: what each officer wears, how scenarios name devices, and the strap and CORE peers."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_mocks.fleet import Fleet, RosterDevice
from firmware_mocks.peers import PEERS, STRAP_ENERGY_EVERY_N
from firmware_mocks.radio import VirtualRadio
from firmware_mocks.scenario import DEFAULT_KIT, ScenarioError, load_scenario
from firmware_mocks.simulation import OfficerSimulation
from sensors import (
    PROFILES,
    CoreAdvertisement,
    CoreBodyTemperature,
    CoreDataQuality,
    DeviceModel,
    HeartRateMeasurement,
    HeartRateMonitorState,
    SensorContact,
    TemperatureMeasurement,
    TemperatureType,
)
from tests.firmware_mocks.builders import scenario

VEST, HELMET = DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET
STRAP, CORE = DeviceModel.GENERIC_HRS, DeviceModel.CORE

KITS = """
name = "kits"
description = "a test scenario"
duration_s = 600

[environment]
ambient_c = 20.0
relative_humidity_pct = 50.0

[roster]
size = 3

[[roster.officers]]
index = 1
kit = ["generic-hrs", "core"]

[[roster.officers]]
index = 2
kit = ["generic-hrs"]

[[routine]]
activity = "walking"
duration_s = [60, 120]
"""


def kits(**sections: Any) -> Any:
    """The KITS roster in code: officer 0 default, 1 a strap and a CORE, 2 a strap alone."""
    roster = {
        "size": 3,
        "officers": [
            {"index": 1, "kit": ["generic-hrs", "core"]},
            {"index": 2, "kit": ["generic-hrs"]},
        ],
    }
    return scenario([(0, "walking")], duration_s=900, roster=roster, **sections)


def test_the_default_kit_is_a_vest_and_a_helmet_and_overrides_are_per_officer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kits.toml"
    path.write_text(KITS)
    roster = load_scenario(path).roster
    assert DEFAULT_KIT == (VEST, HELMET)
    assert [roster.kit_of(i) for i in range(3)] == [(VEST, HELMET), (STRAP, CORE), (STRAP,)]
    assert load_scenario("patrol-shift").roster.kit == DEFAULT_KIT


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (('kit = ["generic-hrs"]', 'kit = ["polar-h12"]'), "roster.officers[1].kit[0]", "Input"),
        (
            ('kit = ["generic-hrs"]', 'kit = ["generic-hrs", "core", "generic-hrs"]'),
            "roster.officers[1].kit",
            "generic-hrs named twice",
        ),
        (('kit = ["generic-hrs"]', "kit = []"), "roster.officers[1].kit", "at least 1"),
        (("size = 3", 'size = 3\nkit = ["helmet"]'), "roster.kit[0]", "bluewatch-helmet"),
    ],
)
def test_a_bad_kit_names_its_key(
    tmp_path: Path, edit: tuple[str, str], key: str, problem: str
) -> None:
    path = tmp_path / "bad-kit.toml"
    path.write_text(KITS.replace(*edit, 1))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_an_event_for_a_device_an_officer_does_not_wear_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bare.toml"
    event = '[[events]]\nat_s = 5\nkind = "panic_press"\ndevice = "vest"\nofficers = [0, 2]\n'
    path.write_text(f"{KITS}\n{event}")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == "events[0].device"
    assert caught.value.problem == "officer 2 wears no vest (kit: generic-hrs)"


def test_a_fault_for_a_device_an_officer_does_not_wear_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bare-fault.toml"
    fault = '[[faults]]\nat_s = 5\nkind = "dropout"\ndevice = "core"\nofficers = [2]\n'
    fault += "duration_s = 10\n"
    path.write_text(f"{KITS}\n{fault}")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == "faults[0].device"


def test_events_and_faults_for_all_officers_skip_those_without_the_device() -> None:
    drill = kits(
        events=[{"at_s": 5, "kind": "panic_press", "device": "vest", "officers": "all"}],
        faults=[
            {"at_s": 1, "kind": "dropout", "device": "helmet", "officers": "all", "duration_s": 20}
        ],
    )
    vested, strapped = OfficerSimulation(drill, 0, 1), OfficerSimulation(drill, 2, 1)
    for sim in (vested, strapped):
        sim.advance(10)
    assert [e.kind.value for e in vested.take_events(VEST)] == ["panic_press"]
    assert not vested.faults(HELMET).link_up
    assert strapped.kit == (STRAP,)
    assert strapped.faults(STRAP).link_up
    with pytest.raises(KeyError):
        strapped.take_events(VEST)


def test_a_fault_for_every_device_concerns_the_whole_kit() -> None:
    outage = kits(
        faults=[{"at_s": 1, "kind": "power_cycle", "device": "all", "officers": [1],
                 "duration_s": 20}]
    )  # fmt: skip
    sim = OfficerSimulation(outage, 1, 1)
    sim.advance(10)
    assert not sim.faults(STRAP).link_up
    assert not sim.faults(CORE).link_up


def test_the_vest_keeps_its_readings_when_a_kit_is_named() -> None:
    """A roster that spells out the default kit simulates exactly what it did without one."""
    plain = scenario([(0, "walking")], duration_s=900)
    spelled = scenario(
        [(0, "walking")], duration_s=900, roster={"size": 1, "kit": list(DEFAULT_KIT)}
    )
    a, b = OfficerSimulation(plain, 0, 4), OfficerSimulation(spelled, 0, 4)
    for _ in range(30):
        a.advance(1.0)
        b.advance(1.0)
        assert a.heart_rate() == b.heart_rate()
        assert a.take_imu_samples(VEST) == b.take_imu_samples(VEST)
        assert a.location() == b.location()


def test_a_strap_and_a_vest_hear_the_same_beats() -> None:
    both = scenario(
        [(0, "walking")],
        duration_s=900,
        roster={"size": 1, "kit": ["bluewatch-vest", "generic-hrs"]},
    )
    sim = OfficerSimulation(both, 0, 2)
    vest: list[float] = []
    strap: list[float] = []
    for _ in range(60):
        sim.advance(1.0)
        vest += sim.heart_rate(VEST).rr_intervals_s
        strap += sim.heart_rate(STRAP).rr_intervals_s
    assert len(vest) > 50
    assert vest == strap


def strap_readings(sim: OfficerSimulation, reads: int) -> list[HeartRateMeasurement]:
    readings = []
    for _ in range(reads):
        sim.advance(2.5)  # a strap read every 2.5 s holds two or three beats
        readings.append(sim.heart_rate(STRAP, energy_every_n=STRAP_ENERGY_EVERY_N))
    return readings


def test_a_strap_sends_several_rr_per_notification_contact_and_energy() -> None:
    readings = strap_readings(OfficerSimulation(kits(), 2, 3), 40)
    assert max(len(r.rr_intervals_s) for r in readings) >= 2
    assert all(r.sensor_contact is SensorContact.DETECTED for r in readings)
    energies = [r.energy_expended_kj for r in readings]
    # HRS 1.0 §3.1.1.3: about once in ten measurements, counting up from the strap's boot.
    assert [i for i, e in enumerate(energies) if e is not None] == [0, 10, 20, 30]
    counted = [e for e in energies if e is not None]
    assert counted == sorted(counted)
    assert counted[-1] > counted[1] > 0


def test_a_strap_counts_more_energy_for_a_runner() -> None:
    running = kits(timeline=[{"at_s": 0, "activity": "running", "officers": "all"}])
    standing = kits(timeline=[{"at_s": 0, "activity": "standing", "officers": "all"}])
    spent = []
    for shift in (running, standing):
        energies = [
            r.energy_expended_kj for r in strap_readings(OfficerSimulation(shift, 2, 3), 31)
        ]
        spent.append((energies[30] or 0) - (energies[0] or 0))
    # Running is 8-12 MET, standing 1.5-2.3 (Ainsworth compendium, docs/simulation.md).
    assert spent[0] > 3 * spent[1] > 0


def test_spurious_rr_sits_beside_the_real_intervals() -> None:
    garmin = kits(
        faults=[{"at_s": 0, "kind": "spurious_rr", "device": "hrs", "officers": [2], "every_n": 2}]
    )
    sim = OfficerSimulation(garmin, 2, 3)
    clean = OfficerSimulation(kits(), 2, 3)
    with_spurious = []
    for _ in range(20):
        sim.advance(1.0)
        clean.advance(1.0)
        noisy, real = sim.heart_rate(STRAP), clean.heart_rate(STRAP)
        assert noisy.rr_intervals_s[: len(real.rr_intervals_s)] == real.rr_intervals_s
        extra = noisy.rr_intervals_s[len(real.rr_intervals_s) :]
        assert extra in ((), (53 / 1024,))  # 52 ms at the field's 1/1024 s
        with_spurious += [bool(extra)] if real.rr_intervals_s else []
    # Every second notification that carries beats, as `every_n = 2` says.
    assert with_spurious == [i % 2 == 1 for i in range(len(with_spurious))]


def test_only_a_heart_rate_device_gets_heart_rate_faults(tmp_path: Path) -> None:
    path = tmp_path / "core-rr.toml"
    fault = '[[faults]]\nat_s = 5\nkind = "spurious_rr"\ndevice = "core"\nofficers = [1]\n'
    path.write_text(f"{KITS}\n{fault}")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.key == "faults[0].device"
    assert "a core sends no heart rate" in caught.value.problem


def test_a_strap_loses_contact_within_contact_loss() -> None:
    slipped = kits(
        faults=[{"at_s": 5, "kind": "contact_loss", "device": "hrs", "officers": [2],
                 "duration_s": 10}]
    )  # fmt: skip
    sim = OfficerSimulation(slipped, 2, 3)
    sim.advance(8)
    off = sim.heart_rate(STRAP)
    assert (off.sensor_contact, off.heart_rate_bpm, off.rr_intervals_s) == (
        SensorContact.NOT_DETECTED, 0, ()
    )  # fmt: skip
    sim.advance(10)
    assert sim.heart_rate(STRAP).sensor_contact is SensorContact.DETECTED


def test_a_core_reports_the_officers_core_temperature_three_ways() -> None:
    sim = OfficerSimulation(kits(), 1, 5)
    sim.advance(30)
    truth = sim.core_temp_c
    service = sim.core_body_temperature()
    assert service.core_temperature_c == pytest.approx(truth, abs=0.005)
    assert service.skin_temperature_c is not None
    assert 30 < service.skin_temperature_c < 38
    assert service.quality is CoreDataQuality.GOOD
    # Paired with the officer's strap, which is on and on the skin: it passes the rate on.
    assert service.heart_rate_monitor is HeartRateMonitorState.RECEIVING
    assert service.heart_rate_bpm == sim.heart_rate(STRAP).heart_rate_bpm
    thermometer = sim.core_thermometer()
    assert thermometer.temperature_type is TemperatureType.BODY
    assert thermometer.temperature_c == pytest.approx(truth, abs=0.005)
    advertised = sim.core_advertisement()
    assert advertised.measuring
    assert advertised.core_temperature_c == pytest.approx(truth, abs=0.0005)


def test_a_core_without_a_strap_receives_no_heart_rate() -> None:
    alone = scenario([(0, "walking")], duration_s=900, roster={"size": 1, "kit": ["core"]})
    reading = OfficerSimulation(alone, 0, 1).core_body_temperature()
    assert reading.heart_rate_monitor is HeartRateMonitorState.NOT_RECEIVING
    assert reading.heart_rate_bpm is None


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), officer=st.sampled_from([1, 2]), steps=st.integers(1, 120))
def test_what_the_strap_and_core_encode_sensors_decodes(
    seed: int, officer: int, steps: int
) -> None:
    sim = OfficerSimulation(kits(), officer, seed)
    sim.advance(steps * 1.7)
    strap = sim.heart_rate(STRAP, energy_every_n=1)
    assert HeartRateMeasurement.decode(strap.encode()) == strap
    if officer == 1:
        readings = (sim.core_body_temperature(), sim.core_thermometer(), sim.core_advertisement())
        for reading in readings:
            assert type(reading).decode(reading.encode()) == reading


def test_every_model_has_a_peer() -> None:
    assert set(PEERS) == set(PROFILES)


async def test_the_fleet_builds_each_officer_s_kit_and_announces_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Officer 3's strap drops out for a while: a device without an accelerometer goes off line
    # and back like any other.
    dropout = {"at_s": 2, "kind": "dropout", "device": "hrs", "officers": [2], "duration_s": 4}
    fleet = Fleet(VirtualRadio(), kits(faults=[dropout]), officers=3, seed=2)
    roster = fleet.roster()
    assert [[d.model for d in entry.devices] for entry in roster] == [
        ["bluewatch-vest", "bluewatch-helmet"], ["generic-hrs", "core"], ["generic-hrs"]
    ]  # fmt: skip
    assert roster[1].devices[1] == RosterDevice(
        "core", fleet.officers[1].devices[CORE].peripheral.address, "CORE-C0002"
    )
    assert roster[2].devices[0].name == "HRM-G0003"
    await fleet.start()
    for _ in range(12):
        await fleet.step(1.0)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    core = fleet.officers[1].devices[CORE].peripheral
    # The value a client reads is what was last notified; both decode with the sensors types.
    service = CoreBodyTemperature.decode(core.gatt.value(CoreBodyTemperature.UUID))
    assert service.core_temperature_c is not None
    assert 36 < service.core_temperature_c < 39
    hts = TemperatureMeasurement.decode(core.gatt.value(TemperatureMeasurement.UUID))
    assert hts.temperature_c is not None
    assert abs(hts.temperature_c - service.core_temperature_c) < 0.05
    # Its advertisement carries the core temperature in 0.001 °C, under greenTEG's company id.
    advertised = _manufacturer_data(core.device.scan_response_data)
    assert CoreAdvertisement.from_manufacturer_data(advertised) is not None
    strap = fleet.officers[2].devices[STRAP].peripheral
    reading = HeartRateMeasurement.decode(strap.gatt.value(HeartRateMeasurement.UUID))
    assert reading.sensor_contact is SensorContact.DETECTED
    assert not math.isnan(reading.heart_rate_bpm)


def _manufacturer_data(payload: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    offset = 0
    while offset < len(payload) and payload[offset]:
        length, ad_type = payload[offset], payload[offset + 1]
        value = payload[offset + 2 : offset + 1 + length]
        if ad_type == 0xFF:
            found[int.from_bytes(value[:2], "little")] = value[2:]
        offset += 1 + length
    return found
