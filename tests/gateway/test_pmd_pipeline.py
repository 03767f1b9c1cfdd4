"""PMD frames in the pipeline (ACC anchored on receipt, PPI to RR, ECG on request) and the
device manager's held-elsewhere handling, without a radio."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gateway import stand_ins
from gateway.acceleration import AccelerationSamples, acc_frame_g
from gateway.alerts.engine import AlertEngine
from gateway.alerts.model import AlertKind
from gateway.alerts.rules import AlertSettings, OfficerMonitor, officer_profile
from gateway.backoff import BLE_HELD_ELSEWHERE, HELD_ELSEWHERE_CAP_S, HELD_ELSEWHERE_FIRST_S
from gateway.ble.factory import BleakFactory
from gateway.ble.link import LinkState
from gateway.ble.manager import DeviceManager
from gateway.ble.pmd_session import StartedStream
from gateway.domain import DeviceRef, UnitRef
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import PPI_BLOCKED, Pipeline
from sensors import POLAR_H10, DeviceModel, HeartRateMeasurement, PmdDataFrame, SensorContact
from sensors.characteristics.polar_advertisement import PolarHrAdvertisement
from sensors.pmd import MeasurementType, PpiSample, SettingType

UNIT = UnitRef("pd", "car-1")
H10 = DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10, ecg=True)
VERITY = DeviceRef(UNIT, "o1", "o1-verity", DeviceModel.POLAR_VERITY_SENSE)
ACC = MeasurementType.ACC
NS = 1_000_000_000


def started(measurement: MeasurementType, rate: int, factor: float | None = None) -> StartedStream:
    return StartedStream(measurement, {SettingType.SAMPLE_RATE: rate}, factor)


def test_acc_frames_in_g_by_frame_kind() -> None:
    h10 = PmdDataFrame(measurement=ACC, sensor_time_ns=1, frame_type=1, samples=((0, -1000, 500),))
    assert acc_frame_g(h10, None, 50).samples_g == ((0.0, -1.0, 0.5),)
    verity = PmdDataFrame(
        measurement=ACC, sensor_time_ns=1, frame_type=0, compressed=True, samples=((0, 0, 4098),)
    )
    assert acc_frame_g(verity, 0.000244, 52).samples_g[0][2] == pytest.approx(1.0, abs=1e-3)


async def run_pipeline(
    tmp_path: Path,
    frames: list[tuple[DeviceRef, PmdDataFrame, int]],
    streams: dict[tuple[str, MeasurementType], StartedStream],
) -> tuple[Pipeline, list[tuple[AccelerationSamples, list[int]]], Outbox]:
    outbox = Outbox(tmp_path / "o.sqlite3")
    loop = asyncio.get_running_loop()
    batches: list[tuple[AccelerationSamples, list[int]]] = []
    pipeline = Pipeline(
        AsyncOutbox(outbox),
        monotonic=loop.time,
        imu_observers=[lambda d, batch, times: batches.append((batch, times))],
        pmd_streams=lambda device_id, measurement: streams.get((device_id, measurement)),
        batch_delay_s=0.0,
    )
    task = asyncio.create_task(pipeline.run())
    for device, frame, at in frames:
        pipeline.submit(device, PmdDataFrame.UUID, frame.encode(), at)
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return pipeline, batches, outbox


def acc(count: int, sensor_ns: int) -> PmdDataFrame:
    return PmdDataFrame(
        measurement=ACC, sensor_time_ns=sensor_ns, frame_type=1, samples=((0, 0, 1000),) * count
    )


async def test_acc_frames_are_anchored_on_receipt_and_restart_with_the_sensor(
    tmp_path: Path,
) -> None:
    t0 = 1_800_000_000 * NS
    frames = [
        (H10, acc(10, 5 * NS), t0),
        (H10, acc(10, 5 * NS + NS // 5), t0 + NS // 5),
        # The sensor clock went back: powered off and on. The samples after it are a new
        # recording, anchored afresh on their receipt (a minute later).
        (H10, acc(10, NS), t0 + 60 * NS),
    ]
    pipeline, batches, _ = await run_pipeline(tmp_path, frames, {("o1-h10", ACC): started(ACC, 50)})
    assert [len(times) for _, times in batches] == [10, 10, 10]
    assert batches[0][1][-1] == t0  # the last sample at receipt
    assert batches[0][1][0] == t0 - 9 * NS // 50
    assert batches[1][1][-1] == t0 + NS // 5
    assert batches[2][1][-1] == t0 + 60 * NS
    assert batches[0][0].samples_g[0] == (0.0, 0.0, 1.0)
    assert not pipeline.counters.pmd_frames_unused


async def test_acc_without_a_started_stream_is_counted_not_used(tmp_path: Path) -> None:
    pipeline, batches, _ = await run_pipeline(tmp_path, [(H10, acc(5, NS), NS)], {})
    assert not batches
    assert pipeline.counters.pmd_frames_unused == {"no_started_stream": 1}


async def test_ppi_becomes_rr_through_the_plausibility_filter(tmp_path: Path) -> None:
    def beat(ppi_ms: int, *, blocker: bool = False) -> PpiSample:
        return PpiSample(hr_bpm=60, ppi_ms=ppi_ms, error_estimate_ms=10, blocker=blocker,
                         skin_contact=True, skin_contact_supported=True)  # fmt: skip

    frame = PmdDataFrame(
        measurement=MeasurementType.PPI,
        sensor_time_ns=NS,
        frame_type=0,
        samples=(beat(1000), beat(1010), beat(990, blocker=True), beat(300), beat(1000)),
    )
    pipeline, _, outbox = await run_pipeline(tmp_path, [(VERITY, frame, 100 * NS)], {})
    rows = [s.point for s in outbox.all_points() if s.point.measurement == "rr_interval"]
    assert sorted(float(r.fields["rr_s"]) for r in rows) == [1.0, 1.0, 1.01]
    # The last kept beat ends at receipt; the refused ones still took their time.
    assert max(r.time_ns for r in rows) == 100 * NS
    assert pipeline.counters.rr_rejected_by_reason[PPI_BLOCKED] == 1
    assert pipeline.counters.rr_rejected == 2


async def test_ecg_rows_when_the_roster_asks(tmp_path: Path) -> None:
    ecg = PmdDataFrame(
        measurement=MeasurementType.ECG, sensor_time_ns=NS, frame_type=0, samples=((-5,), (7,))
    )
    plain = DeviceRef(UNIT, "o2", "o2-h10", DeviceModel.POLAR_H10)
    streams = {
        ("o1-h10", MeasurementType.ECG): started(MeasurementType.ECG, 130),
        ("o2-h10", MeasurementType.ECG): started(MeasurementType.ECG, 130),
    }
    pipeline, _, outbox = await run_pipeline(tmp_path, [(H10, ecg, NS), (plain, ecg, NS)], streams)
    rows = [s.point for s in outbox.all_points() if s.point.measurement == "ecg"]
    assert [(r.tags["device"], r.fields["uv"]) for r in rows] == [("o1-h10", -5), ("o1-h10", 7)]
    assert pipeline.counters.pmd_frames_unused == {"ecg_not_used": 1}


def test_held_elsewhere_backoff_is_slow_and_capped() -> None:
    assert BLE_HELD_ELSEWHERE.delay_s(1, lambda: 0.5) == HELD_ELSEWHERE_FIRST_S
    assert BLE_HELD_ELSEWHERE.delay_s(50, lambda: 0.5) == HELD_ELSEWHERE_CAP_S


async def test_a_held_sensor_is_said_once_and_its_advertised_heart_rate_is_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    received: list[bytes] = []
    loop = asyncio.get_running_loop()
    now = [0.0]
    manager = DeviceManager(
        [DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10, address="A0:9E:1A:00:00:01")],
        BleakFactory.bluez(),
        lambda ref, uuid, data, t: None,
        stale_after_s=5,
        lost_after_s=20,
        clock_ns=lambda: 0,
        monotonic=lambda: now[0],
        rng=random.Random(1),
        on_broadcast=lambda ref, data, t: received.append(data),
    )
    managed = manager.devices["o1-h10"]
    device = BLEDevice("A0:9E:1A:00:00:01", "Polar H10 0A0B0C01", None)

    def advertise(counter: int, bpm: int, after_s: float = 1.0) -> None:
        now[0] += after_s
        record = PolarHrAdvertisement(
            sensor_contact=True, frame_counter=counter, fast_hr_bpm=bpm, slow_hr_bpm=bpm
        )
        manager._on_advertisement(
            "default",
            device,
            AdvertisementData(
                local_name="Polar H10 0A0B0C01",
                manufacturer_data={0x006B: record.encode()},
                service_data={},
                service_uuids=[],
                tx_power=None,
                rssi=-60,
                platform_data=(),
            ),
        )

    advertise(0, 70)
    assert not received  # connectable and not held: the GATT heart rate is used
    with caplog.at_level(logging.WARNING):
        for attempt in (1, 2, 3):
            delay = manager._retry_delay(managed, TimeoutError("no connection"), attempt)
            assert delay >= HELD_ELSEWHERE_FIRST_S * 0.75
    held = [r for r in caplog.records if "another central" in r.getMessage()]
    assert len(held) == 1
    assert managed.health.state(loop.time()) is LinkState.HELD_ELSEWHERE
    advertise(1, 72)
    advertise(1, 72, after_s=0.1)  # heard again within the second: taken once, as notified
    advertise(2, 75)
    # The one path for broadcasts (gateway/stand_ins.py) turns them into heart-rate readings.
    readings = [stand_ins.broadcast(POLAR_H10, data) for data in received]
    assert readings == [
        HeartRateMeasurement(heart_rate_bpm=bpm, sensor_contact=SensorContact.DETECTED)
        for bpm in (72, 75)
    ]
    assert managed.health.state(loop.time()) is LinkState.HELD_ELSEWHERE


def test_held_elsewhere_clears_a_device_lost_warning() -> None:
    points: list[object] = []
    engine = AlertEngine(UNIT, "cfg", clock_ns=lambda: 0, emit=points.append)
    monitor = OfficerMonitor(
        officer_profile("o1", 60, None, None), AlertSettings(), engine, lambda p: None, {}
    )
    h10 = DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10)
    monitor.on_link(h10, LinkState.LOST)
    assert {a.kind for a in engine.open_alerts()} == {AlertKind.DEVICE_LOST}
    monitor.on_link(h10, LinkState.HELD_ELSEWHERE)
    assert engine.open_alert("o1", AlertKind.DEVICE_LOST) is None
