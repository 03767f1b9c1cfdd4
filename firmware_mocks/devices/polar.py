"""Simulated Polar H10 and Verity Sense: the Heart Rate Service and PMD, on a Bumble device.

Self-contained: `build_polar_peer(model, device, source)` is the whole interface, so a kit
table (model -> peer builder) can list it beside the Bluewatch vest. What each sensor does
follows Polar's documents and SDK (docs/pmd.md names them):

- the control point answers reads with the feature bitmap and commands with indications
  (`PmdControlPointResponse.kt`); below an ATT MTU of 232 every command is refused with
  ERROR_INVALID_MTU in four bytes, as a real H10 does (phdiethelm/h10_ecg gatttool.md);
- it offers its real settings (2021 spec pp. 9-10: H10 ACC 25/50/100/200 Hz, +-2/4/8 g, 16 bit;
  ECG 130 Hz, 14 bit; Verity ACC 52 Hz, 8 g, 16 bit, 3 channels with FACTOR 0.000244) and
  refuses others by the status the SDK names (ERROR_INVALID_SAMPLE_RATE, ...);
- the H10 sends ACC as plain 16-bit mG frames (type 1) and ECG as plain 24-bit uV frames
  (type 0); the Verity sends ACC delta-compressed (type 0, counts x FACTOR = g) and PPI records;
  every frame is built with the `sensors.pmd` types;
- one connection: while connected it does not advertise connectably, but keeps broadcasting its
  heart rate in non-connectable advertisements (polar-ble-sdk `BlePolarHrAdvertisement`);
- the sensor clock counts ns since 2000-01-01 and restarts at 2019-01-01 on a power cycle
  (polar-ble-sdk documentation/TimeSystemExplained.md; a fresh H10 reads about 5.996e17).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID, AdvertisingData
from bumble.device import AdvertisingType, Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service

from firmware_mocks.devices.gatt import DeviceIdentity
from firmware_mocks.devices.peripheral import ADVERTISING_INTERVAL_MS, Peripheral
from sensors import (
    POLAR_H10,
    POLAR_VERITY_SENSE,
    BatteryLevel,
    DecodeError,
    DeviceModel,
    DeviceProfile,
    HeartRateMeasurement,
    SensorContact,
)
from sensors.characteristics.polar_advertisement import PolarHrAdvertisement
from sensors.pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    ControlPointOp,
    MeasurementType,
    PmdCommand,
    PmdDataFrame,
    PmdFeatures,
    PmdMeasurementStopped,
    PmdResponse,
    PmdSettings,
    PpiSample,
    ResponseStatus,
    SettingType,
)

logger = logging.getLogger(__name__)

MIN_PMD_MTU: Final = 232
_ATT_HEADER = 3
_FRAME_HEADER = 10
# 2019-01-01T00:00:00Z in ns since 2000-01-01: where an H10's clock restarts.
SENSOR_CLOCK_RESET_NS: Final = 599_616_000 * 1_000_000_000
NS_PER_S: Final = 1_000_000_000
# The Verity's ACC FACTOR at +-8 g (2021 spec p.10: `05 01 40 DA 7F 39`, 0.000244 g per count).
VERITY_ACC_FACTOR: Final = 0.000244
HR_NOTIFY_INTERVAL_S: Final = 1.0
PPI_FRAME_INTERVAL_S: Final = 2.0

ACC = MeasurementType.ACC
ECG = MeasurementType.ECG
PPI = MeasurementType.PPI
Vector = tuple[float, float, float]


class PolarSource(Protocol):
    """What the simulated sensor measures; injected, so scenarios and tests choose it."""

    def acceleration_g(self, count: int, rate_hz: int) -> Sequence[Vector]:
        """The next `count` accelerometer samples at `rate_hz`, in g, sensor frame."""

    def heart_rate(self) -> HeartRateMeasurement:
        """What the Heart Rate Service notifies now (rate, contact, and RR for a chest strap)."""

    def ppi(self) -> Sequence[PpiSample]:
        """Beats since the previous call (the optical peak-to-peak intervals)."""

    def ecg_uv(self, count: int) -> Sequence[int]:
        """The next `count` ECG samples in microvolts."""


@dataclass
class SteadySource:
    """A still wearer at a steady heart rate: gravity on one axis, regular beats. For tests."""

    heart_rate_bpm: int = 60
    gravity_g: Vector = (0.0, 0.0, 1.0)

    def acceleration_g(self, count: int, rate_hz: int) -> Sequence[Vector]:
        del rate_hz
        return [self.gravity_g] * count

    def heart_rate(self) -> HeartRateMeasurement:
        return HeartRateMeasurement(
            heart_rate_bpm=self.heart_rate_bpm, sensor_contact=SensorContact.DETECTED
        )

    def ppi(self) -> Sequence[PpiSample]:
        interval_ms = round(60_000 / self.heart_rate_bpm)
        beats = max(1, round(PPI_FRAME_INTERVAL_S * 1000 / interval_ms))
        return [
            PpiSample(
                hr_bpm=self.heart_rate_bpm,
                ppi_ms=interval_ms,
                error_estimate_ms=10,
                skin_contact=True,
                skin_contact_supported=True,
            )
        ] * beats

    def ecg_uv(self, count: int) -> Sequence[int]:
        return [0] * count


class SensorClock:
    """The sensor's own clock, ns since 2000-01-01; restarts at 2019-01-01 when powered on."""

    def __init__(self, monotonic_ns: Callable[[], int]) -> None:
        self._monotonic_ns = monotonic_ns
        self._origin_ns = monotonic_ns()

    def reset(self) -> None:
        self._origin_ns = self._monotonic_ns()

    def now_ns(self) -> int:
        return SENSOR_CLOCK_RESET_NS + self._monotonic_ns() - self._origin_ns


@dataclass(frozen=True)
class StreamSpec:
    """One stream a model offers: its settings response, how it frames samples, its factor."""

    offered: PmdSettings
    frame_type: int
    compressed: bool = False
    # Samples per notification at the minimum MTU (a frame must fit MTU - 3 bytes).
    samples_per_frame: int = 0
    factor: float | None = None


@dataclass(frozen=True)
class PolarModel:
    profile: DeviceProfile
    streams: Mapping[MeasurementType, StreamSpec]
    serial_prefix: str


def _settings(**values: tuple[int, ...]) -> PmdSettings:
    return PmdSettings({SettingType(kind): tuple(v) for kind, v in values.items()})


POLAR_MODELS: Final[Mapping[DeviceModel, PolarModel]] = {
    DeviceModel.POLAR_H10: PolarModel(
        POLAR_H10,
        {
            # 2021 spec p.9: `F0 01 02 00 00 | 00 04 19 00 32 00 64 00 C8 00 | 01 01 10 00 |
            # 02 03 02 00 04 00 08 00`. 36 x 6 bytes + header fit 229 bytes.
            ACC: StreamSpec(
                _settings(sample_rate=(25, 50, 100, 200), resolution=(16,), range=(2, 4, 8)),
                frame_type=1,
                samples_per_frame=36,
            ),
            # phdiethelm/h10_ecg: `f0 01 00 00 00 00 01 82 00 01 01 0e 00`; 73 samples a frame.
            ECG: StreamSpec(
                _settings(sample_rate=(130,), resolution=(14,)), frame_type=0, samples_per_frame=73
            ),
        },
        "H10",
    ),
    DeviceModel.POLAR_VERITY_SENSE: PolarModel(
        POLAR_VERITY_SENSE,
        {
            # 2021 spec p.10: `F0 01 02 00 00 | 00 01 34 00 | 01 01 10 00 | 02 01 08 00 |
            # 04 01 03`, start answered with FACTOR 0.000244.
            ACC: StreamSpec(
                _settings(sample_rate=(52,), resolution=(16,), range=(8,), channels=(3,)),
                frame_type=0,
                compressed=True,
                samples_per_frame=26,
                factor=VERITY_ACC_FACTOR,
            ),
            PPI: StreamSpec(PmdSettings(), frame_type=0),
        },
        "Sense",
    ),
}

# Which status refuses which setting (PmdControlPointResponse.kt's names).
_REFUSAL: Final[Mapping[SettingType, ResponseStatus]] = {
    SettingType.SAMPLE_RATE: ResponseStatus.ERROR_INVALID_SAMPLE_RATE,
    SettingType.RESOLUTION: ResponseStatus.ERROR_INVALID_RESOLUTION,
    SettingType.RANGE: ResponseStatus.ERROR_INVALID_RANGE,
    SettingType.CHANNELS: ResponseStatus.ERROR_INVALID_NUMBER_OF_CHANNELS,
}


@dataclass
class _Running:
    measurement: MeasurementType
    selection: Mapping[SettingType, int]
    task: asyncio.Task[None]


@dataclass
class PolarPeer:
    """A simulated Polar sensor; `power_on`/`power_off` as the wearer would, and counters."""

    peripheral: Peripheral
    model: PolarModel
    source: PolarSource
    clock: SensorClock
    control_point: Characteristic[Any]
    data: Characteristic[Any]
    running: dict[MeasurementType, _Running] = field(default_factory=dict)
    commands: list[PmdCommand] = field(default_factory=list)
    frames_sent: dict[MeasurementType, int] = field(default_factory=dict)
    _hr_task: asyncio.Task[None] | None = None
    _retired: bool = False
    # The advertised heart-rate record's 3-bit frame counter: it changes with each new value,
    # which is how a scanner tells a fresh reading from a repeat (the SDK's isHrDataUpdated).
    _advertised_frames: int = 0

    @property
    def device(self) -> Device:
        return self.peripheral.device

    async def power_on(self) -> None:
        self.clock.reset()
        await self.peripheral.power_on()

    async def power_off(self) -> None:
        """Drops the link and stops everything; the clock restarts at the next power_on."""
        await self.peripheral.go_offline()

    async def power_cycle(self) -> None:
        await self.peripheral.go_offline()
        self.peripheral.rebooted()
        await self.peripheral.go_online()

    @property
    def heart_rate_running(self) -> bool:
        """Whether the sensor notifies and broadcasts its heart rate (it does while online)."""
        return self._hr_task is not None and not self._hr_task.done()

    def _went_online(self) -> None:
        if not self.heart_rate_running and not self._retired:
            self._hr_task = asyncio.get_running_loop().create_task(
                self._heart_rate(), name=f"{self.peripheral.name}-hr"
            )
            self._hr_task.add_done_callback(_log_failure)

    def _went_offline(self) -> None:
        self._stop_tasks()

    def retire(self) -> None:
        """End the sensor's own tasks (streams, heart rate) for good, for a caller that tears
        the radio down itself: a task left pending dies with its loop, and the links ending
        would otherwise start the heart rate again."""
        self._retired = True
        self._stop_tasks()

    def _stop_tasks(self) -> None:
        self._stop_all()
        if self._hr_task is not None:
            self._hr_task.cancel()
            self._hr_task = None

    # --- control point -----------------------------------------------------------------------

    def _read_features(self, connection: Connection) -> bytes:
        del connection
        return PmdFeatures(measurements=tuple(self.model.streams)).encode()

    def _write_command(self, connection: Connection, value: bytes) -> None:
        try:
            command = PmdCommand.decode(bytes(value))
        except DecodeError:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED) from None
        self.commands.append(command)
        response = self._answer(connection, command)
        # The indication follows the write's response, as on the real sensor.
        task = asyncio.get_running_loop().create_task(
            self.device.indicate_subscriber(connection, self.control_point, response.encode()),
            name=f"{self.peripheral.name}-indicate",
        )
        task.add_done_callback(_log_failure)

    def _answer(self, connection: Connection, command: PmdCommand) -> PmdResponse:
        measurement = command.measurement
        spec = self.model.streams.get(measurement) if measurement is not None else None
        if connection.att_mtu < MIN_PMD_MTU:
            # A real H10 sends the four bytes `f0 <op> <type> 0a` (phdiethelm/h10_ecg).
            status = ResponseStatus.ERROR_INVALID_MTU
        elif measurement is None:
            status = ResponseStatus.ERROR_INVALID_OP_CODE
        elif spec is None:
            status = ResponseStatus.ERROR_NOT_SUPPORTED
        elif command.op is ControlPointOp.GET_MEASUREMENT_SETTINGS:
            return PmdResponse.with_parameters(
                command.op, measurement, ResponseStatus.SUCCESS, spec.offered.encode()
            )
        elif command.op is ControlPointOp.REQUEST_MEASUREMENT_START:
            return self._start(command, measurement, spec)
        elif command.op is ControlPointOp.STOP_MEASUREMENT:
            return self._stop(command, measurement)
        else:
            status = ResponseStatus.ERROR_NOT_SUPPORTED
        return _error(command, status)

    def _stop(self, command: PmdCommand, measurement: MeasurementType) -> PmdResponse:
        running = self.running.pop(measurement, None)
        if running is None:
            return _error(command, ResponseStatus.ERROR_ALREADY_IN_STATE)
        running.task.cancel()
        return PmdResponse(op=command.op, measurement=measurement, status=ResponseStatus.SUCCESS)

    def _start(
        self, command: PmdCommand, measurement: MeasurementType, spec: StreamSpec
    ) -> PmdResponse:
        if measurement in self.running:
            return _error(command, ResponseStatus.ERROR_ALREADY_IN_STATE)
        selected = command.settings or PmdSettings()
        selection: dict[SettingType, int] = {}
        for kind, values in selected.root.items():
            if values[0] not in spec.offered.get(kind):
                status = _REFUSAL.get(kind, ResponseStatus.ERROR_INVALID_PARAMETER)
                return _error(command, status)
            selection[kind] = int(values[0])
        missing = [kind for kind in spec.offered.root if kind not in selection]
        if missing:
            return _error(command, ResponseStatus.ERROR_INVALID_LENGTH)
        task = asyncio.get_running_loop().create_task(
            self._stream(measurement, spec, selection),
            name=f"{self.peripheral.name}-{measurement}",
        )
        task.add_done_callback(_log_failure)
        self.running[measurement] = _Running(measurement, selection, task)
        parameters = (
            PmdSettings({SettingType.FACTOR: (spec.factor,)}).encode()
            if spec.factor is not None
            # A real H10 ends its start response with one byte (`F0 02 02 00 00 01`).
            else b"\x01"
        )
        return PmdResponse.with_parameters(
            command.op, measurement, ResponseStatus.SUCCESS, parameters
        )

    async def stop_by_itself(self, measurement: MeasurementType) -> None:
        """The sensor stops a stream on its own (in its charger, say) and says so."""
        running = self.running.pop(measurement, None)
        if running is not None:
            running.task.cancel()
        notice = PmdMeasurementStopped(measurements=(measurement,)).encode()
        await self.device.indicate_subscribers(self.control_point, notice)

    def _stop_all(self) -> None:
        for running in self.running.values():
            running.task.cancel()
        self.running.clear()

    def on_disconnection(self) -> None:
        """Online streams end with the link (the SDK restarts them after a reconnect)."""
        self._stop_all()
        task = asyncio.get_running_loop().create_task(
            self._advertise_connectable(), name=f"{self.peripheral.name}-advertise"
        )
        task.add_done_callback(_log_failure)

    # --- data ---------------------------------------------------------------------------------

    async def _stream(
        self, measurement: MeasurementType, spec: StreamSpec, selection: Mapping[SettingType, int]
    ) -> None:
        if measurement is PPI:
            while True:
                await asyncio.sleep(PPI_FRAME_INTERVAL_S)
                records = tuple(self.source.ppi())
                await self._send(PmdDataFrame(
                    measurement=PPI, sensor_time_ns=self.clock.now_ns(), frame_type=0,
                    samples=records,
                ))  # fmt: skip
        rate = selection[SettingType.SAMPLE_RATE]
        count = spec.samples_per_frame
        period_s = count / rate
        loop = asyncio.get_running_loop()
        next_at = loop.time() + period_s
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += period_s
            samples: tuple[tuple[int, ...], ...]
            if measurement is ECG:
                samples = tuple((value,) for value in self.source.ecg_uv(count))
            else:
                samples = _acc_counts(self.source.acceleration_g(count, rate), spec)
            await self._send(PmdDataFrame(
                measurement=measurement, sensor_time_ns=self.clock.now_ns(),
                frame_type=spec.frame_type, compressed=spec.compressed, samples=samples,
            ))  # fmt: skip

    async def _send(self, frame: PmdDataFrame) -> None:
        self.frames_sent[frame.measurement] = self.frames_sent.get(frame.measurement, 0) + 1
        await self.device.notify_subscribers(self.data, frame.encode())

    async def _heart_rate(self) -> None:
        while True:
            reading = self.source.heart_rate()
            await self.peripheral.notify(HeartRateMeasurement.UUID, reading.encode())
            await self._broadcast(reading)
            await asyncio.sleep(HR_NOTIFY_INTERVAL_S)

    async def _broadcast(self, reading: HeartRateMeasurement) -> None:
        """Put the heart rate in the advertisement; while another central holds the link, keep
        broadcasting it non-connectably."""
        self._advertised_frames += 1
        data = _advertising_data(self.model.profile, reading, self._advertised_frames)
        changed = data != self.device.advertising_data
        self.device.advertising_data = data
        if not self.peripheral.connections or not self.peripheral.online:
            return
        if self.device.is_advertising and not changed:
            return
        if self.device.is_advertising:
            await self.device.stop_advertising()
        await self.device.start_advertising(
            advertising_type=AdvertisingType.UNDIRECTED_SCANNABLE,
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    async def _advertise_connectable(self) -> None:
        """Free again: the non-connectable broadcast gives way to connectable advertising."""
        if self.device.is_advertising:
            await self.device.stop_advertising()
        if self.peripheral.online and not self.peripheral.connections:
            await self.peripheral.go_online()


class PolarPeripheral(Peripheral):
    """A Polar sensor's radio: online it notifies and broadcasts its heart rate, offline (power
    off or out of range) its streams and heart rate stop, and a reboot restarts its clock. A
    fleet drives a unit through these, as it drives any peripheral."""

    peer: PolarPeer | None = None  # set once by build_polar_peer

    async def go_online(self) -> None:
        await super().go_online()
        if self.peer is not None:
            self.peer._went_online()

    async def go_offline(self) -> None:
        if self.peer is not None:
            self.peer._went_offline()
        await super().go_offline()

    def rebooted(self) -> None:
        if self.peer is not None:
            self.peer.clock.reset()


def _acc_counts(samples_g: Sequence[Vector], spec: StreamSpec) -> tuple[tuple[int, ...], ...]:
    """g to what the frame carries: mG for the H10's plain frames, counts of FACTOR g for the
    Verity's compressed type 0 (AccData.kt)."""
    scale = 1.0 / spec.factor if spec.factor is not None else 1000.0
    limit = (1 << 15) - 1
    return tuple(
        tuple(max(-limit - 1, min(limit, math.floor(v * scale + 0.5))) for v in sample)
        for sample in samples_g
    )


def _error(command: PmdCommand, status: ResponseStatus) -> PmdResponse:
    return PmdResponse(
        op=command.op,
        measurement=command.measurement or MeasurementType.ECG,
        status=status,
    )


def _advertising_data(profile: DeviceProfile, reading: HeartRateMeasurement, frame: int) -> bytes:
    """Flags, the Heart Rate Service and Polar's manufacturer data with the HR record."""
    assert profile.broadcast is not None
    hr = min(reading.heart_rate_bpm, 0xFF)
    record = PolarHrAdvertisement(
        sensor_contact=reading.sensor_contact is not SensorContact.NOT_DETECTED,
        frame_counter=frame % (PolarHrAdvertisement.FRAME_COUNTER_MAX + 1),
        fast_hr_bpm=hr,
        slow_hr_bpm=hr,
    ).encode()
    return bytes(
        AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (
                    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                    (0x180D).to_bytes(2, "little"),
                ),
                (
                    AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
                    profile.broadcast.company_id.to_bytes(2, "little") + record,
                ),
            ]
        )
    )


def build_polar_peer(
    model: DeviceModel,
    device: Device,
    source: PolarSource,
    *,
    monotonic_ns: Callable[[], int],
    identity: DeviceIdentity | None = None,
    battery_pct: int = 90,
) -> PolarPeer:
    """A Polar sensor on `device` (whose name should be "Polar H10 XXXXXXXX" or "Polar Sense
    XXXXXXXX"), measuring what `source` gives. Call `power_on` to start."""
    polar = POLAR_MODELS[model]
    identity = identity or DeviceIdentity(
        "Polar Electro Oy", f"Polar {polar.serial_prefix}", device.name, "1", "5.0.0", "5.0.0"
    )
    peripheral = PolarPeripheral(device, polar.profile, identity)
    peripheral.gatt.set_value(BatteryLevel.UUID, BatteryLevel(battery_pct=battery_pct).encode())
    holder: list[PolarPeer] = []

    def read(connection: Connection) -> bytes:
        return holder[0]._read_features(connection)

    def write(connection: Connection, value: bytes) -> None:
        holder[0]._write_command(connection, value)

    # 2021 spec "Gatt Service and Characteristics Declaration": control point read, write,
    # indicate; data notify; security "None".
    control_point: Characteristic[Any] = Characteristic(
        PMD_CONTROL_POINT_UUID,
        Characteristic.Properties.READ
        | Characteristic.Properties.WRITE
        | Characteristic.Properties.INDICATE,
        Characteristic.READABLE | Characteristic.WRITEABLE,
        CharacteristicValue(read=read, write=write),
    )
    data: Characteristic[Any] = Characteristic(
        PMD_DATA_UUID,
        Characteristic.Properties.NOTIFY,
        Characteristic.Permissions(0),
        b"",
    )
    device.add_service(Service(UUID(PMD_SERVICE_UUID), [control_point, data]))
    device.advertising_data = _advertising_data(polar.profile, source.heart_rate(), 0)
    peer = PolarPeer(peripheral, polar, source, SensorClock(monotonic_ns), control_point, data)
    holder.append(peer)
    peripheral.peer = peer
    device.on(
        device.EVENT_CONNECTION,
        lambda connection: connection.on(
            connection.EVENT_DISCONNECTION, lambda *_: peer.on_disconnection()
        ),
    )
    return peer


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())
