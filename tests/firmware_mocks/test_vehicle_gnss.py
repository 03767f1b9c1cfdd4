"""The simulated car's receiver: one NMEA cycle a simulated second, valid checksums, speed and
course from its travel, and the car standing once the officer got out (mixed-fleet: driving
0-4 s, seated 4-6 s, on foot after)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce

from firmware_mocks.nmea import KNOTS_PER_MPS, SENTENCES_PER_CYCLE
from firmware_mocks.scenario import load_scenario
from firmware_mocks.simulation import OfficerSimulation
from firmware_mocks.vehicle_gnss import NmeaOutput, VehicleGnss

START = datetime(2026, 11, 28, 15, 0, 0, tzinfo=UTC)


def rmc_fields(datagram: bytes) -> list[str]:
    lines = datagram.decode("ascii").split("\r\n")
    assert lines[-1] == ""  # each sentence ends its line
    sentences = lines[:-1]
    assert len(sentences) == SENTENCES_PER_CYCLE
    for line in sentences:
        body, checksum = line[1:].split("*")
        assert int(checksum, 16) == reduce(lambda a, c: a ^ ord(c), body, 0), line
    assert sentences[0].startswith("$GPRMC,")
    return sentences[0].split(",")


def test_the_car_drives_then_stands_once_the_officer_is_out() -> None:
    sent: list[bytes] = []
    simulation = OfficerSimulation(load_scenario("mixed-fleet"), 0, 1)
    gnss = VehicleGnss(simulation, NmeaOutput(START, sent.append))
    for _ in range(40):  # 20 s in half-second ticks
        simulation.advance(0.5)
        gnss.step()
    assert len(sent) == 21  # seconds 0 to 20, one datagram each
    rmc = [rmc_fields(datagram) for datagram in sent]
    assert [fields[1] for fields in rmc[:3]] == ["150000.00", "150001.00", "150002.00"]
    assert all(fields[2] == "A" for fields in rmc)  # a fix throughout
    speeds = [float(fields[7]) / KNOTS_PER_MPS for fields in rmc]
    assert max(speeds[:6]) > 2.0  # driving
    assert speeds[8:] == [0.0] * (len(speeds) - 8)  # the officer is out: the car stands
    positions = {(fields[3], fields[5]) for fields in rmc[8:]}
    assert len(positions) == 1
