"""A CORE's core temperature by its stand-ins: the Health Thermometer service when its own
characteristic is missing, and its advertisement while not connected (gateway/stand_ins.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.domain import DeviceRef, UnitRef
from gateway.normalize import points_for
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import Pipeline
from gateway.stand_ins import broadcast, route
from sensors import (
    BatteryLevel,
    CoreAdvertisement,
    CoreBodyTemperature,
    DeviceModel,
    HeartRateMeasurement,
    SensorContact,
    TemperatureMeasurement,
    TemperatureType,
)
from sensors.characteristics.polar_advertisement import PolarHrAdvertisement
from sensors.profiles import CORE, POLAR_H10, POLAR_VERITY_SENSE, VEST

UNIT = UnitRef("metro-pd", "car-12")
CORE_REF = DeviceRef(UNIT, "officer-03", "officer-03-core", DeviceModel.CORE)
THERMOMETER = TemperatureMeasurement.UUID


def test_a_core_with_its_own_characteristic_leaves_the_thermometer_alone() -> None:
    served = [CoreBodyTemperature.UUID, THERMOMETER, BatteryLevel.UUID]
    assert [spec.codec for spec in CORE.in_use(served)] == [CoreBodyTemperature, BatteryLevel]


def test_a_core_without_it_uses_the_thermometer_and_skips_what_it_lacks() -> None:
    assert [spec.codec for spec in CORE.in_use([THERMOMETER.upper()])] == [TemperatureMeasurement]


def test_required_services_are_used_whatever_the_unit_says() -> None:
    # A vest missing a required characteristic is a fault to surface, not to skip: the read of
    # it fails and the device manager retries.
    assert VEST.in_use([]) == tuple(
        spec for service in VEST.services if service.required for spec in service.characteristics
    )


def test_the_thermometer_of_a_core_carries_its_core_temperature() -> None:
    reading = TemperatureMeasurement(temperature_c=37.84, temperature_type=TemperatureType.BODY)
    way = route(CORE, THERMOMETER, TemperatureMeasurement)
    assert way.arrive(reading) == CoreBodyTemperature(core_temperature_c=37.84)
    assert way.source == "health_thermometer"
    # Off the body CORE sends NaN (notes §2.3): no reading, no row.
    assert way.arrive(TemperatureMeasurement(special_value="nan")) is None


def test_the_thermometer_of_a_vest_stays_its_skin_temperature() -> None:
    reading = TemperatureMeasurement(temperature_c=34.1)
    assert route(VEST, THERMOMETER, TemperatureMeasurement).arrive(reading) is reading
    own = CoreBodyTemperature(core_temperature_c=37.0)
    assert route(CORE, CoreBodyTemperature.UUID, CoreBodyTemperature).arrive(own) is own


def test_the_advertisement_carries_the_core_temperature_while_measuring() -> None:
    # notes §2.1 Table 2's example, 0x91B3 = 37.299 °C (docs/core-and-hrs.md).
    assert broadcast(CORE, bytes.fromhex("0004b391")) == CoreBodyTemperature(
        core_temperature_c=37.3
    )
    not_measuring = CoreAdvertisement(status=2, core_temperature_c=37.0).encode()
    assert broadcast(CORE, not_measuring) is None
    assert broadcast(VEST, bytes.fromhex("0004b391")) is None


def test_a_polar_advertisement_carries_the_heart_rate_with_its_contact_bit() -> None:
    # A real Verity Sense (Navideck/universal_ble #69): two gpb records, then `37 00 55`:
    # contact bit set, 85 bpm.
    wire = bytes.fromhex("72 08 00 00 00 00 00 00 00 00 7A 01 05 37 00 55")
    assert broadcast(POLAR_VERITY_SENSE, wire) == HeartRateMeasurement(
        heart_rate_bpm=85, sensor_contact=SensorContact.DETECTED
    )
    off = PolarHrAdvertisement(sensor_contact=False, fast_hr_bpm=0).encode()
    assert broadcast(POLAR_H10, off) == HeartRateMeasurement(
        heart_rate_bpm=0, sensor_contact=SensorContact.NOT_DETECTED
    )


def test_rows_say_which_way_the_core_temperature_came() -> None:
    (point,) = points_for(CoreBodyTemperature(core_temperature_c=37.5), CORE_REF, 1)
    assert point.fields == {"measured_c": 37.5, "source": "core_body_temperature"}


async def test_the_pipeline_stores_all_three_as_core_temperature_rows(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    outbox.register_sink("check")
    seen: list[object] = []
    pipeline = Pipeline(
        AsyncOutbox(outbox),
        monotonic=asyncio.get_running_loop().time,
        observers=[lambda device, reading, t: seen.append(reading)],
    )
    task = asyncio.create_task(pipeline.run())
    own = CoreBodyTemperature(core_temperature_c=37.61, skin_temperature_c=34.2)
    pipeline.submit(CORE_REF, CoreBodyTemperature.UUID, own.encode(), 1)
    thermometer = TemperatureMeasurement(temperature_c=37.62, temperature_type=TemperatureType.BODY)
    pipeline.submit(CORE_REF, THERMOMETER, thermometer.encode(), 2)
    pipeline.submit_broadcast(CORE_REF, bytes.fromhex("0004b391"), 3)
    pipeline.submit_broadcast(CORE_REF, b"\x07", 4)  # a version CORE never defined: refused
    async with asyncio.timeout(5):
        while pipeline.counters.points_committed < 3:
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = [row.point for row in outbox.pending("check", 100)]
    assert [(p.measurement, p.fields["source"], p.fields["measured_c"]) for p in rows] == [
        ("core_temperature", "core_body_temperature", 37.61),
        ("core_temperature", "health_thermometer", 37.62),
        ("core_temperature", "advertisement", 37.3),
    ]
    # The alert rules see one kind of reading, whichever way it came.
    assert [type(r) for r in seen] == [CoreBodyTemperature] * 3
    assert pipeline.counters.decode_errors == 1
