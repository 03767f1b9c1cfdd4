"""Many simulated officers, each wearing a kit of devices, on one virtual radio in one process.

The fleet advances every officer's simulation on a ticker and lets each device send what is due
at the profile's rates, in simulated time: with a time scale of 10, heart rate is notified ten
times per wall-clock second. Each device is built and fed as its model's row in
firmware_mocks/peers.py says. The clock is injected so tests can drive the fleet by hand.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from firmware_mocks.devices.gatt import DeviceIdentity
from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.peers import FIRMWARE_VERSION, PEERS, PeerSpec
from firmware_mocks.radio import VirtualRadio, random_static_address
from firmware_mocks.scenario import Scenario
from firmware_mocks.simulation import OfficerSimulation, imu_rate_hz
from firmware_mocks.vehicle_gnss import NmeaOutput, VehicleGnss
from sensors import (
    PROFILES,
    SAMPLE_INDEX_MODULO,
    DeviceModel,
    ImuBatch,
    SafetyEvent,
    imu_samples_per_notification,
)

logger = logging.getLogger(__name__)

EVENT_SEQUENCE_MODULO: Final = 2**16
# 20 Hz keeps IMU batches and events prompt (50 ms) without loading the CPU with empty ticks.
DEFAULT_TICK_S: Final = 0.05
# What a malformed notification looks like: a valid payload with one trailing byte. Every codec
# refuses trailing bytes, so the gateway must count it and carry on.
CORRUPTION_BYTE: Final = b"\xa5"

# How often a device refreshes the reading in its advertisement (a CORE's core temperature).
ADVERTISEMENT_INTERVAL_S: Final = 1.0


@dataclass
class SimulatedDevice:
    """One wearable: its peripheral plus the firmware's own counters."""

    kind: DeviceModel
    peripheral: Peripheral
    peer: PeerSpec
    next_due: dict[str, float] = field(default_factory=dict)
    imu_buffer: list[tuple[float, float, float]] = field(default_factory=list)
    sample_index: int = 0
    event_sequence: int = 0
    boot_count: int = -1
    advertised_at: float | None = None

    @property
    def samples_motion(self) -> bool:
        """Whether the fleet sends the device's accelerometer in IMU batches (a vest, a helmet;
        a strap or a CORE has none, a Polar sensor streams its own over PMD)."""
        return any(spec.codec is ImuBatch for spec in self.peripheral.profile.characteristics())

    @property
    def profile_rate_hz(self) -> int:
        return imu_rate_hz(self.peripheral.profile.model)


@dataclass
class SimulatedOfficer:
    simulation: OfficerSimulation
    devices: dict[DeviceModel, SimulatedDevice]


@dataclass(frozen=True)
class RosterDevice:
    """One device of a simulated officer, as a gateway's roster names it."""

    model: str
    address: str
    name: str


@dataclass(frozen=True)
class RosterEntry:
    """What the gateway's configuration needs to know about one simulated officer."""

    officer_id: str
    devices: tuple[RosterDevice, ...]


class Fleet:
    """Officers of one scenario on one radio; `step` sends what is due, `run` ticks forever."""

    def __init__(
        self,
        radio: VirtualRadio,
        scenario: Scenario,
        officers: int,
        seed: int,
        *,
        time_scale: float | None = None,
        clock: Callable[[], float] | None = None,
        vehicle_nmea: NmeaOutput | None = None,
    ) -> None:
        self.radio = radio
        self.scenario = scenario
        self.seed = seed
        self.time_scale = time_scale if time_scale is not None else scenario.time_scale
        self._clock = clock
        self._last_tick: float | None = None
        # Every device out of the gateway's reach (set from outside: a soak's dropped links):
        # links end and advertising stops, as in a scenario's dropout, until cleared.
        self.out_of_range = False
        rng = random.Random(seed)
        self.officers: list[SimulatedOfficer] = []
        for index in range(officers):
            simulation = OfficerSimulation(scenario, index, seed + index)
            devices = {
                kind: SimulatedDevice(kind, self._peripheral(kind, simulation, rng), PEERS[kind])
                for kind in simulation.kit
            }
            self.officers.append(SimulatedOfficer(simulation, devices))
        # The unit's one vehicle is the first officer's: they drive it, the others are on foot
        # or in vehicles of their own that this gateway does not read.
        self._vehicle_gnss = (
            None if vehicle_nmea is None else VehicleGnss(self.officers[0].simulation, vehicle_nmea)
        )

    def _peripheral(
        self, kind: DeviceModel, simulation: OfficerSimulation, rng: random.Random
    ) -> Peripheral:
        index = simulation.officer_index
        profile, peer = PROFILES[kind], PEERS[kind]
        serial = f"{kind.value[0].upper()}{index + 1:04d}"
        name = peer.name(kind, serial)
        # RSSI differs per device so link-health views have something to show; -55 to -80 dBm
        # spans a wearable next to the vehicle to one across a car park.
        device = self.radio.device(name, random_static_address(rng), rssi_dbm=rng.randint(-80, -55))
        identity = DeviceIdentity(
            manufacturer=peer.manufacturer,
            model=peer.model_number,
            serial=serial,
            hardware_revision="sim-1",
            firmware_revision=FIRMWARE_VERSION,
            software_revision=FIRMWARE_VERSION,
        )
        return peer.build(device, profile, identity, simulation)

    def roster(self) -> list[RosterEntry]:
        """Each officer's devices, in kit order: what `bluewatch simulate` announces."""
        return [
            RosterEntry(
                officer_id=officer.simulation.officer_id,
                devices=tuple(
                    RosterDevice(kind.value, device.peripheral.address, device.peripheral.name)
                    for kind, device in officer.devices.items()
                ),
            )
            for officer in self.officers
        ]

    async def start(self) -> None:
        """Power every device on with its readable values set, then advertise."""
        for officer in self.officers:
            for device in officer.devices.values():
                await self._send_periodic(officer.simulation, device, force=True)
                await self._send_advertisement(officer.simulation, device, force=True)
                device.boot_count = officer.simulation.boot_count(device.kind)
                await device.peripheral.power_on()

    async def wait_connected(self) -> None:
        """Return once every device has been connected (the scenario's clock has not started:
        a scripted event at 8 s then happens 8 s after the gateway is listening)."""
        for officer in self.officers:
            for device in officer.devices.values():
                await device.peripheral.first_connected.wait()

    async def run(self, duration_s: float | None = None, tick_s: float = DEFAULT_TICK_S) -> None:
        """Tick until `duration_s` of wall-clock time has passed (forever when None)."""
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        while deadline is None or loop.time() < deadline:
            await self.tick()
            await asyncio.sleep(tick_s)

    async def tick(self) -> None:
        """Advance the simulations by the wall-clock time since the last tick, times the scale."""
        now = self._clock() if self._clock else asyncio.get_running_loop().time()
        elapsed = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        await self.step(elapsed * self.time_scale)

    async def step(self, sim_dt_s: float) -> None:
        for officer in self.officers:
            if sim_dt_s > 0:
                officer.simulation.advance(sim_dt_s)
            for device in officer.devices.values():
                try:
                    await self._emit(officer.simulation, device)
                except Exception:  # one device's failure must not stop the fleet's other devices
                    logger.exception("%s: emitting failed", device.peripheral.name)
        if self._vehicle_gnss is not None:
            self._vehicle_gnss.step()

    async def _emit(self, sim: OfficerSimulation, device: SimulatedDevice) -> None:
        faults = sim.faults(device.kind)
        peripheral = device.peripheral
        if not faults.link_up or self.out_of_range:
            if peripheral.online:
                await peripheral.go_offline()
            # A powered-off device loses what it would have measured.
            if device.samples_motion:
                sim.take_imu_samples(device.kind)
            sim.take_events(device.kind)
            device.imu_buffer.clear()
            return
        boot_count = sim.boot_count(device.kind)
        if boot_count != device.boot_count:
            device.boot_count = boot_count
            device.sample_index = 0  # counters restart with the device
            peripheral.rebooted()
        if not peripheral.online:
            await peripheral.go_online()
        await self._send_periodic(sim, device)
        await self._send_advertisement(sim, device)
        await self._send_imu(sim, device)
        await self._send_events(sim, device)

    async def _notify(
        self, sim: OfficerSimulation, device: SimulatedDevice, uuid: str, payload: bytes
    ) -> None:
        """Send one notification; the scenario's malformed-packet fault may corrupt it."""
        if sim.faults(device.kind).corrupt_next:
            payload += CORRUPTION_BYTE
        await device.peripheral.notify(uuid, payload)

    async def _send_periodic(
        self, sim: OfficerSimulation, device: SimulatedDevice, force: bool = False
    ) -> None:
        for spec in device.peripheral.profile.characteristics():
            producer = device.peer.producers.get(spec.uuid)
            if producer is None:
                continue
            if spec.interval_s is None:
                if force:  # a read-only value (a CORE's battery) is set at power-on
                    device.peripheral.gatt.set_value(spec.uuid, producer(sim, device.kind).encode())
                continue
            due = device.next_due.get(spec.uuid, sim.t_s)
            if not force and sim.t_s < due:
                continue
            device.next_due[spec.uuid] = max(due + spec.interval_s, sim.t_s)
            payload = producer(sim, device.kind).encode()
            if force:  # power-on values set for reads, before anyone can subscribe
                device.peripheral.gatt.set_value(spec.uuid, payload)
            else:
                await self._notify(sim, device, spec.uuid, payload)

    async def _send_advertisement(
        self, sim: OfficerSimulation, device: SimulatedDevice, force: bool = False
    ) -> None:
        """Refresh the reading a device broadcasts (a CORE's core temperature) once a second."""
        broadcast, spec = device.peer.broadcast, device.peripheral.profile.broadcast
        if broadcast is None or spec is None:
            return
        if not force and (
            device.advertised_at is not None
            and sim.t_s < device.advertised_at + ADVERTISEMENT_INTERVAL_S
        ):
            return
        device.advertised_at = sim.t_s
        await device.peripheral.set_manufacturer_data(spec.company_id, broadcast(sim).encode())

    async def _send_imu(self, sim: OfficerSimulation, device: SimulatedDevice) -> None:
        if not device.samples_motion:
            return
        device.imu_buffer.extend(sim.take_imu_samples(device.kind))
        per_batch = imu_samples_per_notification(device.peripheral.att_mtu)
        while len(device.imu_buffer) >= per_batch:
            samples, device.imu_buffer = (
                device.imu_buffer[:per_batch],
                device.imu_buffer[per_batch:],
            )
            batch = ImuBatch(
                sample_rate_hz=device.profile_rate_hz,
                first_sample_index=device.sample_index,
                samples_g=tuple(samples),
            )
            device.sample_index = (device.sample_index + per_batch) % SAMPLE_INDEX_MODULO
            await self._notify(sim, device, ImuBatch.UUID, batch.encode())

    async def _send_events(self, sim: OfficerSimulation, device: SimulatedDevice) -> None:
        for event in sim.take_events(device.kind):
            reading = SafetyEvent(
                event=event.kind,
                sequence=device.event_sequence,
                device_ticks_ms=sim.device_clock_ms(device.kind),
                peak_accel_g=event.peak_accel_g,
            )
            device.event_sequence = (device.event_sequence + 1) % EVENT_SEQUENCE_MODULO
            await device.peripheral.notify(SafetyEvent.UUID, reading.encode())
