"""Polar sensors in simulated kits: the officer's one body drives an H10 and a Verity Sense."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest

from firmware_mocks.devices.polar import SENSOR_CLOCK_RESET_NS, PolarPeripheral
from firmware_mocks.fleet import Fleet
from firmware_mocks.peers import OfficerPolarSource
from firmware_mocks.radio import VirtualRadio
from firmware_mocks.scenario import Scenario
from firmware_mocks.simulation import OfficerSimulation
from sensors import DeviceModel, HeartRateMeasurement, SensorContact
from sensors.characteristics.polar_advertisement import PolarHrAdvertisement
from tests.firmware_mocks.builders import scenario
from tests.firmware_mocks.test_kits import _manufacturer_data

VEST, H10 = DeviceModel.BLUEWATCH_VEST, DeviceModel.POLAR_H10
VERITY, CORE = DeviceModel.POLAR_VERITY_SENSE, DeviceModel.CORE


def polar_kits(**sections: Any) -> Scenario:
    """Officer 0 falls at 20 s wearing a vest, an H10 and a Verity; officer 1 an H10 and a CORE,
    officer 2 a Verity alone."""
    roster = {
        "size": 3,
        "officers": [
            {"index": 0, "kit": ["bluewatch-vest", "polar-h10", "polar-verity-sense"]},
            {"index": 1, "kit": ["polar-h10", "core"]},
            {"index": 2, "kit": ["polar-verity-sense"]},
        ],
    }
    return scenario([(0, "walking"), (20, "falling")], duration_s=600, roster=roster, **sections)


def test_kits_name_polar_sensors_by_model() -> None:
    kits = polar_kits()
    assert [kits.roster.kit_of(i) for i in range(3)] == [
        (VEST, H10, VERITY), (H10, CORE), (VERITY,)
    ]  # fmt: skip


def test_the_h10_hears_the_vest_s_beats_and_the_verity_sends_them_as_ppi() -> None:
    sim = OfficerSimulation(polar_kits(), 0, 4)
    vest: list[float] = []
    h10: list[float] = []
    ppi: list[int] = []
    for _ in range(30):
        sim.advance(1.0)
        vest += sim.heart_rate(VEST).rr_intervals_s
        h10 += sim.heart_rate(H10).rr_intervals_s
        # An optical sensor's HR service carries no RR: its beats come as PPI records.
        assert sim.heart_rate(VERITY, with_rr=False).rr_intervals_s == ()
        ppi += [record.ppi_ms for record in sim.ppi(VERITY)]
    assert len(vest) > 20
    assert h10 == vest
    # The same beats: RR in the strap's 1/1024 s, PPI in whole milliseconds.
    assert ppi == pytest.approx([interval * 1000 for interval in vest], abs=1.0)


def test_ppi_loses_skin_contact_within_contact_loss() -> None:
    slipped = polar_kits(
        faults=[{"at_s": 5, "kind": "contact_loss", "device": "verity", "officers": [2],
                 "duration_s": 10}]
    )  # fmt: skip
    sim = OfficerSimulation(slipped, 2, 3)
    sim.advance(4.0)
    assert all(record.skin_contact for record in sim.ppi(VERITY))
    sim.advance(5.0)
    records = sim.ppi(VERITY)
    assert records
    assert not any(record.skin_contact for record in records)
    assert all(record.blocker for record in records)


@pytest.mark.parametrize("rate_hz", [25, 200])
def test_the_h10_streams_the_fall_at_the_rate_the_gateway_chose(rate_hz: int) -> None:
    sim = OfficerSimulation(polar_kits(), 0, 4)
    source = OfficerPolarSource(sim, H10)
    frame = 36  # the H10's ACC samples per frame
    magnitudes: list[float] = []
    while sim.t_s < 26.0:
        sim.advance(frame / rate_hz)
        magnitudes += [math.dist(s, (0.0, 0.0, 0.0)) for s in source.acceleration_g(frame, rate_hz)]
    # One sample per 1/rate of simulated time: the stream keeps up with the body.
    assert len(magnitudes) == pytest.approx(26.0 * rate_hz, abs=frame)
    before, during = magnitudes[: 18 * rate_hz], magnitudes[19 * rate_hz : 23 * rate_hz]
    assert max(before) < 3.0  # walking
    assert max(during) > 3.0  # the impact, seen even at 25 Hz
    assert min(during) < 0.5  # the near free fall before it


def test_acceleration_skips_ahead_instead_of_lagging_simulated_time() -> None:
    sim = OfficerSimulation(polar_kits(), 1, 4)
    sim.advance(1.0)
    assert len(sim.acceleration_g(H10, 36, 50)) == 36
    sim.advance(100.0)  # a long pause (or a high time scale): the stream does not replay it
    assert len(sim.acceleration_g(H10, 36, 50)) == 36
    assert sim.acceleration_g(H10, 0, 50) == []


async def test_the_fleet_builds_polar_sensors_that_measure_the_officer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle = {"at_s": 2, "kind": "power_cycle", "device": "h10", "officers": [1], "duration_s": 2}
    fleet = Fleet(VirtualRadio(), polar_kits(faults=[cycle]), officers=3, seed=2)
    roster = fleet.roster()
    assert [[d.model for d in entry.devices] for entry in roster] == [
        ["bluewatch-vest", "polar-h10", "polar-verity-sense"],
        ["polar-h10", "core"],
        ["polar-verity-sense"],
    ]
    # A Polar unit is named as Polar names them, which is how a scanner recognises the model.
    assert roster[1].devices[0].name == "Polar H10 P0002"
    assert roster[2].devices[0].name == "Polar Sense P0003"
    await fleet.start()
    await asyncio.sleep(0.05)  # the heart-rate timer's first notification
    h10 = fleet.officers[1].devices[H10].peripheral
    assert isinstance(h10, PolarPeripheral)
    assert h10.peer is not None
    reading = HeartRateMeasurement.decode(h10.gatt.value(HeartRateMeasurement.UUID))
    assert reading.sensor_contact is SensorContact.DETECTED
    assert 40 < reading.heart_rate_bpm < 200
    advertised = PolarHrAdvertisement.from_manufacturer_data(
        _manufacturer_data(h10.device.advertising_data)
    )
    assert advertised is not None
    assert advertised.heart_rate_bpm == reading.heart_rate_bpm
    peer = h10.peer
    clock_before = peer.clock.now_ns()
    states = []
    await fleet.step(3.0)  # inside the power cycle: off the air, heart rate stopped
    states.append((h10.online, peer.heart_rate_running))
    await asyncio.sleep(0.05)
    await fleet.step(2.0)  # back: the sensor clock restarts at 2019-01-01, the heart rate too
    states.append((h10.online, peer.heart_rate_running))
    assert states == [(False, False), (True, True)]
    assert peer.clock.now_ns() - SENSOR_CLOCK_RESET_NS < clock_before - SENSOR_CLOCK_RESET_NS
    for officer in fleet.officers:
        for device in officer.devices.values():
            await device.peripheral.go_offline()
    names = [d.peripheral.name for o in fleet.officers for d in o.devices.values()]
    assert not [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and _of_this_fleet(r, names)
    ]


def _of_this_fleet(record: logging.LogRecord, names: list[str]) -> bool:
    """Whether a warning is this fleet's: asyncio reports a pending task of an earlier test,
    collected now, in whichever test runs when the collector does."""
    if record.name != "asyncio":
        return True
    return any(name in record.getMessage() for name in names)
