"""Simulated peers as a table: for each device model, how the fleet builds it and feeds it.

A row says what a unit of the model calls itself (name, Device Information), which simulated
reading each of its periodic characteristics carries, what it broadcasts in its manufacturer
data, and which peripheral class serves it: `Peripheral` for a plain GATT server, a subclass
for a device with a protocol of its own (a control point that answers writes). A new model is a
new row here after its profile in sensors/profiles.py; the fleet itself does not change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from bumble.device import Device

from firmware_mocks.devices.gatt import DeviceIdentity
from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.devices.polar import POLAR_MODELS, PPI, Vector, build_polar_peer
from firmware_mocks.simulation import OfficerSimulation
from sensors import (
    PROFILES,
    BatteryLevel,
    Characteristic,
    CoreBodyTemperature,
    DeviceModel,
    DeviceProfile,
    DeviceStatus,
    HeartRateMeasurement,
    LocationAndSpeed,
    TemperatureMeasurement,
)
from sensors.pmd import PpiSample

FIRMWARE_VERSION: Final = "1.4.2"
# HRS 1.0 §3.1.1.3: a strap that reports energy expended includes it about once in ten
# measurements, so the rest stay short.
STRAP_ENERGY_EVERY_N: Final = 10

# The simulated reading a characteristic carries now, for a device of the given model.
Producer = Callable[[OfficerSimulation, DeviceModel], Characteristic]
# The reading a device broadcasts in its manufacturer data (the profile's `broadcast`).
Broadcast = Callable[[OfficerSimulation], Characteristic]
# Builds the peripheral that serves a unit: (radio device, profile, identity, the officer's
# simulation it measures) -> peripheral.
PeripheralBuilder = Callable[[Device, DeviceProfile, DeviceIdentity, OfficerSimulation], Peripheral]


def _plain(
    device: Device, profile: DeviceProfile, identity: DeviceIdentity, sim: OfficerSimulation
) -> Peripheral:
    """A GATT server whose values the fleet sets and notifies."""
    del sim
    return Peripheral(device, profile, identity)


@dataclass(frozen=True)
class OfficerPolarSource:
    """What a simulated Polar sensor measures on its officer: acceleration where it is worn, at
    the rate the gateway chose; the heart rate and beats of the officer's one heart (RR on the
    H10's Heart Rate Service, PPI records on the Verity's PMD stream)."""

    sim: OfficerSimulation
    model: DeviceModel

    def acceleration_g(self, count: int, rate_hz: int) -> Sequence[Vector]:
        return self.sim.acceleration_g(self.model, count, rate_hz)

    def heart_rate(self) -> HeartRateMeasurement:
        # An optical sensor's intervals go over PMD as PPI: its Heart Rate Service sends none.
        return self.sim.heart_rate(self.model, with_rr=PPI not in POLAR_MODELS[self.model].streams)

    def ppi(self) -> Sequence[PpiSample]:
        return self.sim.ppi(self.model)

    def ecg_uv(self, count: int) -> Sequence[int]:
        # The simulation has no ECG waveform: a flat trace, as SteadySource sends.
        return [0] * count


def _polar(
    device: Device, profile: DeviceProfile, identity: DeviceIdentity, sim: OfficerSimulation
) -> Peripheral:
    """A Polar sensor (its own PMD service and heart-rate timer) measuring the officer. Its
    clock is the host's monotonic clock, as a real sensor's runs in real time."""
    peer = build_polar_peer(
        profile.model,
        device,
        OfficerPolarSource(sim, profile.model),
        monotonic_ns=time.monotonic_ns,
        identity=identity,
        battery_pct=sim.battery_pct(profile.model),
    )
    return peer.peripheral


def _battery(sim: OfficerSimulation, kind: DeviceModel) -> Characteristic:
    return BatteryLevel(battery_pct=sim.battery_pct(kind))


def _status(sim: OfficerSimulation, kind: DeviceModel) -> Characteristic:
    return DeviceStatus(
        firmware_version=FIRMWARE_VERSION,
        device_ticks_ms=sim.device_clock_ms(kind),
        boot_count=sim.boot_count(kind),
    )


@dataclass(frozen=True)
class PeerSpec:
    """How the fleet simulates every unit of one model."""

    manufacturer: str
    model_number: str
    # Periodic characteristics (the profile gives their rate): uuid -> the reading now.
    producers: Mapping[str, Producer]
    # The unit's name is "<prefix><separator><serial>"; None: the profile's name prefix.
    name_prefix: str | None = None
    broadcast: Broadcast | None = None
    build: PeripheralBuilder = _plain
    # Polar names its units "Polar H10 8C4A1B2D", and is recognised by that "Polar H10 ".
    name_separator: str = "-"

    def name(self, model: DeviceModel, serial: str) -> str:
        prefix = PROFILES[model].name_prefix if self.name_prefix is None else self.name_prefix
        return f"{prefix}{self.name_separator}{serial}"


_BLUEWATCH = "Bluewatch Simulated Devices"

PEERS: Final[Mapping[DeviceModel, PeerSpec]] = MappingProxyType(
    {
        DeviceModel.BLUEWATCH_VEST: PeerSpec(
            manufacturer=_BLUEWATCH,
            model_number="BW-Vest-SIM",
            producers={
                HeartRateMeasurement.UUID: lambda sim, kind: sim.heart_rate(kind),
                TemperatureMeasurement.UUID: lambda sim, kind: sim.skin_temperature(),
                BatteryLevel.UUID: _battery,
                DeviceStatus.UUID: _status,
            },
        ),
        DeviceModel.BLUEWATCH_HELMET: PeerSpec(
            manufacturer=_BLUEWATCH,
            model_number="BW-Helmet-SIM",
            producers={
                LocationAndSpeed.UUID: lambda sim, kind: sim.location(),
                BatteryLevel.UUID: _battery,
                DeviceStatus.UUID: _status,
            },
        ),
        # A chest strap with the Heart Rate Service as a Garmin HRM-Dual or a Wahoo TICKR has
        # it: several RR intervals per notification, sensor contact, energy expended.
        DeviceModel.GENERIC_HRS: PeerSpec(
            manufacturer="Simulated Straps",
            model_number="HRM-SIM",
            name_prefix="HRM",
            producers={
                HeartRateMeasurement.UUID: lambda sim, kind: sim.heart_rate(
                    kind, energy_every_n=STRAP_ENERGY_EVERY_N
                ),
                BatteryLevel.UUID: _battery,
            },
        ),
        # greenTEG CORE: its own service at 1 Hz, the core temperature repeated on the Health
        # Thermometer service, and the core temperature broadcast in the advertisement.
        DeviceModel.CORE: PeerSpec(
            manufacturer="greenTEG AG (simulated)",
            model_number="CORE-SIM",
            producers={
                CoreBodyTemperature.UUID: lambda sim, kind: sim.core_body_temperature(),
                TemperatureMeasurement.UUID: lambda sim, kind: sim.core_thermometer(),
                BatteryLevel.UUID: _battery,
            },
            broadcast=lambda sim: sim.core_advertisement(),
        ),
        # Polar H10 and Verity Sense: the Polar peer (firmware_mocks/devices/polar.py) sends its
        # heart rate, PMD streams and advertised heart rate itself, on its own timers, from the
        # officer's simulation; the fleet keeps its battery level and drives its power and link.
        DeviceModel.POLAR_H10: PeerSpec(
            manufacturer="Polar Electro Oy",
            model_number="Polar H10",
            producers={BatteryLevel.UUID: _battery},
            build=_polar,
            name_separator=" ",
        ),
        DeviceModel.POLAR_VERITY_SENSE: PeerSpec(
            manufacturer="Polar Electro Oy",
            model_number="Polar Verity Sense",
            producers={BatteryLevel.UUID: _battery},
            build=_polar,
            name_separator=" ",
        ),
    }
)
