"""The gateway against simulated Polar H10 and Verity Sense peers, over bleak on Bumble in-process.

Handshake, MTU refusal then success, start and stop, stop on shutdown and on roster removal,
restart after the link drops or the sensor stops a stream, ACC frames to the fall detector
with anchored times, and PPI to RR intervals.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from firmware_mocks.devices.polar import PolarPeer, SteadySource, build_polar_peer
from firmware_mocks.radio import VirtualRadio
from gateway.acceleration import AccelerationSamples
from gateway.backoff import BackoffPolicy
from gateway.ble.bumble_backend import BumbleClient
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DeviceManager
from gateway.ble.pmd_link import PmdLink
from gateway.ble.pmd_session import PmdSession, SessionState, WantedStream
from gateway.domain import NS_PER_S, DeviceRef, UnitRef
from gateway.outbox import AsyncOutbox, Outbox
from gateway.pipeline import Pipeline
from sensors import DeviceModel, PmdDataFrame
from sensors.pmd import (
    PMD_CONTROL_POINT_UUID,
    ControlPointOp,
    MeasurementType,
    PmdCommand,
    PmdResponse,
    ResponseStatus,
    SettingType,
    decode_indication,
)

TIMEOUT_S = 20
UNIT = UnitRef("pd", "car-1")
H10_ADDRESS = "A0:9E:1A:00:00:10"
VERITY_ADDRESS = "A0:9E:1A:00:00:20"
ACC = MeasurementType.ACC
PPI = MeasurementType.PPI


async def wait_for(condition: object) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)


@dataclass
class Rig:
    radio: VirtualRadio
    stack: BumbleStack
    peer: PolarPeer
    manager: DeviceManager
    pipeline: Pipeline
    batches: list[tuple[AccelerationSamples, list[int]]]
    received_ns: list[int]
    frames: list[PmdDataFrame]
    outbox: Outbox
    manager_task: asyncio.Task[None] | None = None


def ops(peer: PolarPeer) -> list[tuple[ControlPointOp, MeasurementType | None]]:
    return [(c.op, c.measurement) for c in peer.commands]


@pytest_asyncio.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[object]:
    rigs: list[tuple[Rig, asyncio.Task[None], asyncio.Task[None]]] = []

    async def make(
        model: DeviceModel, ref: DeviceRef, name: str, address: str, *, pooled: bool = False
    ) -> Rig:
        """`pooled`: the device is in the pool, not on the roster, until the test adds it."""
        radio = VirtualRadio()
        peer = build_polar_peer(
            model, radio.device(name, address), SteadySource(), monotonic_ns=time.monotonic_ns
        )
        await peer.power_on()
        stack = await BumbleStack.attach(*radio.host_pipe())
        loop = asyncio.get_running_loop()
        outbox = Outbox(tmp_path / f"{ref.device_id}.sqlite3")
        batches: list[tuple[AccelerationSamples, list[int]]] = []
        received_ns: list[int] = []
        frames: list[PmdDataFrame] = []

        def submit(device: DeviceRef, uuid: str, data: bytes, at_ns: int) -> None:
            received_ns.append(at_ns)
            pipeline.submit(device, uuid, data, at_ns)

        manager = DeviceManager(
            [] if pooled else [ref],
            BleakFactory.bumble(stack),
            submit,
            stale_after_s=2,
            lost_after_s=5,
            clock_ns=time.time_ns,
            monotonic=loop.time,
            backoff=BackoffPolicy(first_s=0.05, cap_s=0.2),
            rng=random.Random(1),
            pool=[ref.profile] if pooled else (),
        )
        pipeline = Pipeline(
            AsyncOutbox(outbox),
            monotonic=loop.time,
            observers=[lambda d, r, t: frames.append(r) if isinstance(r, PmdDataFrame) else None],
            imu_observers=[lambda d, batch, times: batches.append((batch, times))],
            pmd_streams=manager.pmd_stream,
        )
        rig = Rig(radio, stack, peer, manager, pipeline, batches, received_ns, frames, outbox)
        manager_task = asyncio.create_task(manager.run())
        rig.manager_task = manager_task
        rigs.append((rig, manager_task, asyncio.create_task(pipeline.run())))
        return rig

    yield make
    for rig, manager_task, pipeline_task in rigs:
        await _shut_down(rig, manager_task)
        pipeline_task.cancel()
        await asyncio.gather(pipeline_task, return_exceptions=True)
        # Off the air, its heart-rate task ended on this loop: left pending, it would be
        # destroyed with the loop and reported in whichever test runs next.
        await rig.stack.close()
        # The sensor hears the links end (and goes back on the air) before its tasks end.
        await wait_for(lambda r=rig: not r.peer.peripheral.connections)
        rig.peer.retire()
        await asyncio.sleep(0)


async def _shut_down(rig: Rig, manager_task: asyncio.Task[None]) -> None:
    """As the gateway stops: the manager's tasks end, then `close` stops streams and links."""
    manager_task.cancel()
    await asyncio.gather(manager_task, return_exceptions=True)
    await rig.manager.close()


H10_REF = DeviceRef(
    UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10, address=H10_ADDRESS, acc_rate_hz=200
)
VERITY_REF = DeviceRef(
    UNIT, "o1", "o1-verity", DeviceModel.POLAR_VERITY_SENSE, address=VERITY_ADDRESS
)


async def test_h10_handshake_start_and_acc_frames_reach_the_fall_detector(make_rig: object) -> None:
    rig: Rig = await make_rig(DeviceModel.POLAR_H10, H10_REF, "Polar H10 0A0B0C10", H10_ADDRESS)  # type: ignore[operator]
    await wait_for(lambda: len(rig.batches) >= 4)
    assert ops(rig.peer)[:2] == [
        (ControlPointOp.GET_MEASUREMENT_SETTINGS, ACC),
        (ControlPointOp.REQUEST_MEASUREMENT_START, ACC),
    ]
    start = rig.peer.commands[1]
    assert start.settings is not None
    assert dict(start.settings.root) == {
        SettingType.SAMPLE_RATE: (200,),
        SettingType.RANGE: (8,),
        SettingType.RESOLUTION: (16,),
    }
    stream = rig.manager.pmd_stream("o1-h10", ACC)
    assert stream is not None
    assert stream.sample_rate_hz == 200
    # Plain 16-bit mG frames of a still wearer: gravity, in g.
    batch, times = rig.batches[-1]
    assert batch.sample_rate_hz == 200
    assert all(sample == pytest.approx((0.0, 0.0, 1.0)) for sample in batch.samples_g)
    # Anchored on the gateway's clock: 5 ms apart, or closer when frames came bunched (a
    # loaded host) and a period's spacing would stamp a sample after its frame arrived
    # (SampleClock); never after the frame arrived, ordered across frames.
    assert all(0 < b - a <= 5_000_000 for a, b in itertools.pairwise(times))
    assert times[-1] <= max(rig.received_ns)
    # On the gateway's clock, not the sensor's (which reads 2019): the last sample sits at its
    # frame's receipt, or a period after the previous frame when frames come bunched (radio
    # jitter, a loaded host), as the vest's batches do (SampleClock). Exact placement is
    # tests/gateway/test_pmd_pipeline.py's.
    assert abs(times[-1] - max(rig.received_ns)) < NS_PER_S
    every = [t for _, ts in rig.batches for t in ts]
    assert every == sorted(every)
    assert len(set(every)) == len(every)
    # The sensor's own clock is kept with the frame, from its 2019 reset.
    assert all(frame.sensor_time_ns >= 599_616_000 * NS_PER_S for frame in rig.frames)

    assert rig.manager_task is not None
    await _shut_down(rig, rig.manager_task)  # streams stopped before the link closes
    assert ops(rig.peer)[-1] == (ControlPointOp.STOP_MEASUREMENT, ACC)
    await wait_for(lambda: not rig.peer.running)


async def test_roster_removal_stops_the_streams_and_disconnects(make_rig: object) -> None:
    rig: Rig = await make_rig(DeviceModel.POLAR_H10, H10_REF, "Polar H10 0A0B0C10", H10_ADDRESS)  # type: ignore[operator]
    await wait_for(lambda: ACC in rig.peer.running)
    await rig.manager.remove("o1-h10")
    assert ops(rig.peer)[-1] == (ControlPointOp.STOP_MEASUREMENT, ACC)
    await wait_for(lambda: not rig.peer.peripheral.connections)
    assert not rig.peer.running
    await asyncio.sleep(0.5)
    assert not rig.peer.peripheral.connections  # not reconnected


async def test_a_device_added_while_running_streams_until_it_is_removed(
    make_rig: object,
) -> None:
    rig: Rig = await make_rig(  # type: ignore[operator]
        DeviceModel.POLAR_H10, H10_REF, "Polar H10 0A0B0C10", H10_ADDRESS, pooled=True
    )
    await asyncio.sleep(1.0)
    assert not rig.peer.peripheral.connections  # a pool device is not connected until added
    rig.manager.add(H10_REF)
    await wait_for(lambda: ACC in rig.peer.running)
    await rig.manager.remove("o1-h10")
    assert ops(rig.peer)[-1] == (ControlPointOp.STOP_MEASUREMENT, ACC)
    await wait_for(lambda: not rig.peer.peripheral.connections)
    assert not rig.peer.running


async def test_after_the_link_drops_the_streams_start_again(make_rig: object) -> None:
    rig: Rig = await make_rig(DeviceModel.POLAR_H10, H10_REF, "Polar H10 0A0B0C10", H10_ADDRESS)  # type: ignore[operator]
    await wait_for(lambda: ACC in rig.peer.running)
    first_clock = rig.peer.clock.now_ns()
    await rig.peer.power_cycle()  # the link drops; the sensor clock restarts at 2019-01-01
    assert not rig.peer.running
    assert rig.peer.clock.now_ns() < first_clock
    await wait_for(lambda: ACC in rig.peer.running)
    starts = [c for c in rig.peer.commands if c.op is ControlPointOp.REQUEST_MEASUREMENT_START]
    assert len(starts) >= 2  # one per connection (more if a session had to be retried)
    before = len(rig.batches)
    await wait_for(lambda: len(rig.batches) > before + 1)
    every = [t for _, ts in rig.batches for t in ts]
    assert every == sorted(every)


async def test_a_stream_the_sensor_stops_is_started_again(make_rig: object) -> None:
    rig: Rig = await make_rig(DeviceModel.POLAR_H10, H10_REF, "Polar H10 0A0B0C10", H10_ADDRESS)  # type: ignore[operator]
    await wait_for(lambda: ACC in rig.peer.running)
    await asyncio.sleep(0.3)
    await rig.peer.stop_by_itself(ACC)
    await wait_for(lambda: ACC in rig.peer.running)
    assert rig.manager.devices["o1-h10"].pmd_problems["stopped_by_sensor"] == 1


async def test_verity_delta_acc_is_scaled_by_its_factor_and_ppi_becomes_rr(
    make_rig: object,
) -> None:
    rig: Rig = await make_rig(  # type: ignore[operator]
        DeviceModel.POLAR_VERITY_SENSE, VERITY_REF, "Polar Sense 0A0B0C20", VERITY_ADDRESS
    )
    await wait_for(lambda: len(rig.batches) >= 2 and any(f.measurement is PPI for f in rig.frames))
    acc_frames = [f for f in rig.frames if f.measurement is ACC]
    assert all(f.compressed and f.frame_type == 0 for f in acc_frames)
    stream = rig.manager.pmd_stream("o1-verity", ACC)
    assert stream is not None
    assert stream.factor == pytest.approx(0.000244, rel=1e-3)
    batch, _ = rig.batches[-1]
    assert batch.sample_rate_hz == 52
    # Counts of 0.000244 g: gravity comes back within one count.
    assert all(sample == pytest.approx((0.0, 0.0, 1.0), abs=0.001) for sample in batch.samples_g)
    await wait_for(lambda: rig.pipeline.counters.points_committed > 0 and _rr_rows(rig.outbox))
    rr = _rr_rows(rig.outbox)
    assert {round(value, 3) for value in rr} == {1.0}  # SteadySource: 60 bpm


def _rr_rows(outbox: Outbox) -> list[float]:
    return [
        float(stored.point.fields["rr_s"])
        for stored in outbox.all_points()
        if stored.point.measurement == "rr_interval"
    ]


async def test_the_h10_refuses_below_mtu_232_and_streams_above() -> None:
    radio = VirtualRadio()
    peer = build_polar_peer(
        DeviceModel.POLAR_H10,
        radio.device("Polar H10 0A0B0C10", H10_ADDRESS),
        SteadySource(),
        monotonic_ns=time.monotonic_ns,
    )
    await peer.power_on()
    stack = await BumbleStack.attach(*radio.host_pipe())
    try:
        # A client that keeps the default MTU of 23: the sensor answers ERROR_INVALID_MTU in
        # four bytes, and the gateway's session sends nothing at all.
        small = BleakClient(H10_ADDRESS, backend=BumbleClient, bumble_stack=stack, mtu=23)
        await _wait_heard(stack, H10_ADDRESS)
        await small.connect()
        indications: asyncio.Queue[bytes] = asyncio.Queue()

        def on_indication(_: BleakGATTCharacteristic, data: bytearray) -> None:
            indications.put_nowait(bytes(data))

        await small.start_notify(PMD_CONTROL_POINT_UUID, on_indication)
        await small.write_gatt_char(
            PMD_CONTROL_POINT_UUID,
            PmdCommand(op=ControlPointOp.GET_MEASUREMENT_SETTINGS, measurement=ACC).encode(),
            response=True,
        )
        answer = await asyncio.wait_for(indications.get(), TIMEOUT_S)
        assert len(answer) == 4
        response = decode_indication(answer)
        assert isinstance(response, PmdResponse)
        assert response.status is ResponseStatus.ERROR_INVALID_MTU
        refused = PmdLink(small, PmdSession(_h10_wanted()), lambda data: None, lambda p: None)
        await refused.start()
        assert refused.session.state is SessionState.FAILED
        assert refused.session.counts["mtu_too_small"] == 1
        assert len(peer.commands) == 1  # only the raw request above
        await small.disconnect()

        # The same sensor over the backend's MTU exchange (247): the session completes.
        await _wait_heard(stack, H10_ADDRESS)
        client = BleakClient(H10_ADDRESS, backend=BumbleClient, bumble_stack=stack)
        await client.connect()
        frames: list[bytes] = []
        link = PmdLink(client, PmdSession(_h10_wanted()), frames.append, lambda p: None)
        await link.start()
        assert link.session.state is SessionState.STREAMING
        await wait_for(lambda: frames)
        assert PmdDataFrame.decode(frames[0]).frame_type == 1
        await link.stop()
        stopped: SessionState = link.session.state
        assert stopped is SessionState.STOPPED
        assert not peer.running
        await client.disconnect()
    finally:
        await stack.close()
        peer.retire()  # its heart-rate task, left pending, would die with the loop


def _h10_wanted() -> Sequence[WantedStream]:
    return [
        WantedStream(
            ACC, {SettingType.SAMPLE_RATE: 50, SettingType.RANGE: 8, SettingType.RESOLUTION: 16}
        )
    ]


async def _wait_heard(stack: BumbleStack, address: str) -> None:
    """Scan until the peer advertises, so the stack knows its address type."""
    heard = asyncio.Event()

    def on_advertisement(advertisement: object) -> None:
        if advertisement.address.to_string(False) == address:  # type: ignore[attr-defined]
            heard.set()

    await stack.add_listener(on_advertisement)
    try:
        await asyncio.wait_for(heard.wait(), TIMEOUT_S)
    finally:
        await stack.remove_listener(on_advertisement)


async def test_a_held_h10_broadcasts_its_heart_rate_but_refuses_a_second_central(
    make_rig: object,
) -> None:
    rig: Rig = await make_rig(DeviceModel.POLAR_H10, H10_REF, "Polar H10 0A0B0C10", H10_ADDRESS)  # type: ignore[operator]
    await wait_for(lambda: ACC in rig.peer.running)
    phone = await BumbleStack.attach(*rig.radio.host_pipe("phone"))
    try:
        await _wait_heard(phone, H10_ADDRESS)  # still advertising: the heart-rate broadcast
        with pytest.raises(TimeoutError):
            await phone.connect(phone.address_for(H10_ADDRESS), 1.0)
    finally:
        await phone.close()
    assert len(rig.peer.peripheral.connections) == 1
