"""The simulation model of one officer's kit: what each worn device's firmware reports.

An officer wears a kit of device models (the scenario's roster: a vest and a helmet unless it
says otherwise); every device reads the one physiology, motion and track model of its officer.

`OfficerSimulation` is the facade the BLE side drives: it advances simulated time (passed in,
never read from a clock) and answers with readings built from the `sensors` types. Everything is
deterministic in (scenario, officer index, seed), and every model steps on its own fixed grid, so
the outputs do not depend on how a caller chunks time into `advance` calls.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from random import Random
from types import MappingProxyType
from typing import Final

from firmware_mocks.motion import HELMET, VEST, MotionModel, Mount, NoiseSource, draw_mount
from firmware_mocks.physiology import AROUSAL_KICK_BPM, Physiology, draw_profile
from firmware_mocks.scenario import (
    EVENT_DEVICE,
    TIME_TOLERANCE_S,
    ClockSkewFault,
    ContactLossFault,
    DropoutFault,
    Fault,
    LowBatteryFault,
    MalformedFault,
    PowerCycleFault,
    Scenario,
    SpuriousRrFault,
    build_schedule,
    targets,
)
from firmware_mocks.track import Track, draw_terrain
from sensors import (
    PROFILES,
    CoreAdvertisement,
    CoreBodyTemperature,
    CoreDataQuality,
    DeviceModel,
    HeartRateMeasurement,
    HeartRateMonitorState,
    LocationAndSpeed,
    PositionStatus,
    SafetyEventKind,
    SensorContact,
    TemperatureMeasurement,
    TemperatureType,
)
from sensors.characteristics.core_body_temperature import CORE_STATE_MEASURING
from sensors.characteristics.heart_rate import ENERGY_EXPENDED_MAX_KJ
from sensors.pmd import PpiSample

CLOCK_WRAP: Final = 2**32
BOOT_COUNT_WRAP: Final = 2**16
PPM: Final = 1e-6
# Odometer field of 0x2A67: 24 bits of decimetres; it rolls over like an odometer.
DISTANCE_WRAP_M: Final = 0x100_0000 / 10
# When the devices report a fall: the helmet at once, the vest after its own check of the impact.
HELMET_IMPACT_DELAY_S: Final = 0.1
VEST_FALL_FLAG_DELAY_S: Final = 1.5
# The window over which a device takes the peak it reports with a fall or an impact.
PEAK_WINDOW_S: Final = 2.0
PEAK_EVENTS: Final = frozenset({SafetyEventKind.FALL_DETECTED, SafetyEventKind.IMPACT})


def imu_rate_hz(model: DeviceModel) -> int:
    """The rate a simulated device samples its accelerometer at (the profile's)."""
    accelerometer = PROFILES[model].accelerometer
    if accelerometer is None:
        raise ValueError(f"a {model.value} has no accelerometer")
    return accelerometer.rate_hz


# Where on the body a device feels the motion model. The H10 is on the chest as the vest is. The
# Verity Sense is on the upper arm, which the motion model does not render on its own: it feels
# the trunk's posture, gait and falls (arm swing is not modelled), and the gateway, not the
# motion, is what keeps an arm sensor from raising man-down (docs/algorithms.md).
_DEVICE_INDEX: Final = MappingProxyType(
    {
        DeviceModel.BLUEWATCH_VEST: VEST,
        DeviceModel.BLUEWATCH_HELMET: HELMET,
        DeviceModel.POLAR_H10: VEST,
        DeviceModel.POLAR_VERITY_SENSE: VEST,
    }
)
# A Verity Sense's PPI error estimate for a still, well-placed sensor (the SDK's PPI samples
# show 5-20 ms; PolarVeritySense.md).
PPI_ERROR_ESTIMATE_MS: Final = 10


def sends_heart_rate(model: DeviceModel) -> bool:
    """Whether a device of `model` notifies Heart Rate Measurements (its profile says so)."""
    return any(spec.codec is HeartRateMeasurement for spec in PROFILES[model].notified())


@dataclass(frozen=True)
class DeviceEvent:
    """A safety event a device sends now; `peak_accel_g` for falls and impacts, else None."""

    kind: SafetyEventKind
    peak_accel_g: float | None


@dataclass(frozen=True)
class DeviceFaults:
    """What is wrong with a device's link or clock right now."""

    link_up: bool  # False while the device is powered off or its link dropped
    corrupt_next: bool  # True when the next notification of this device should be sent malformed
    clock_ppm: float  # device clock error in parts per million (0 normally)


@dataclass(frozen=True, slots=True)
class _Interval:
    """A stretch of time over which a device's power, link, clock rate and drain are constant."""

    start_s: float
    powered: bool
    link: bool
    ppm: float
    malformed_every_n: int
    malformed_fault: int
    battery_pct: float
    drain_pct_per_h: float
    boot_count: int
    boot_at_s: float
    device_s: float  # seconds on the device clock since boot, at start_s
    skin_contact: bool = True


def _fault_end(fault: Fault) -> float:
    duration = fault.duration_s
    return math.inf if duration is None else fault.at_s + duration


class DevicePlan:
    """One device's power, link, clock and battery over the whole shift, fixed by the faults.

    The device is switched on at the start of the shift (clock at 0); a power cycle or a flat
    battery turns it off, and booting again increments the boot count and restarts the clock.
    """

    def __init__(
        self,
        faults: Sequence[Fault],
        drain_pct_per_h: float,
        battery_pct: float,
        boot_count: int,
    ) -> None:
        edges = sorted(
            {0.0, *(f.at_s for f in faults), *(_fault_end(f) for f in faults)} - {math.inf}
        )
        intervals: list[_Interval] = []
        level, dead, was_on = battery_pct, False, True
        boot, boot_at, device_s = boot_count, 0.0, 0.0
        for i, t0 in enumerate(edges):
            t1 = edges[i + 1] if i + 1 < len(edges) else math.inf
            active = [(n, f) for n, f in enumerate(faults) if f.at_s <= t0 < _fault_end(f)]
            drain = drain_pct_per_h
            for _, fault in active:
                if isinstance(fault, LowBatteryFault):
                    drain = fault.drain_pct_per_h
                    if fault.at_s == t0 and fault.start_pct is not None:
                        level = fault.start_pct
            off = dead or any(isinstance(f, PowerCycleFault) for _, f in active)
            if not off and not was_on:
                boot, boot_at, device_s = (boot + 1) % BOOT_COUNT_WRAP, t0, 0.0
            malformed = [(f.every_n, n) for n, f in active if isinstance(f, MalformedFault)]
            every_n, which = min(malformed) if malformed else (0, -1)
            ppm = sum(f.ppm for _, f in active if isinstance(f, ClockSkewFault))
            link = not off and not any(isinstance(f, DropoutFault) for _, f in active)
            contact = not any(isinstance(f, ContactLossFault) for _, f in active)
            state = _Interval(
                start_s=t0,
                powered=not off,
                link=link,
                ppm=ppm,
                malformed_every_n=every_n,
                malformed_fault=which,
                battery_pct=level,
                drain_pct_per_h=0.0 if off else drain,
                boot_count=boot,
                boot_at_s=boot_at,
                device_s=device_s,
                skin_contact=contact,
            )
            intervals.append(state)
            if off:
                was_on = False
                continue
            was_on = True
            if drain > 0 and t0 + level / drain * 3600.0 < t1:
                # The battery goes flat inside this stretch: the device dies and stays off.
                death = t0 + level / drain * 3600.0
                intervals.append(
                    replace(
                        state,
                        start_s=death,
                        powered=False,
                        link=False,
                        battery_pct=0.0,
                        drain_pct_per_h=0.0,
                        device_s=0.0,
                    )
                )
                level, dead, was_on = 0.0, True, False
                continue
            if t1 < math.inf:
                device_s += (t1 - t0) * (1.0 + ppm * PPM)
                level -= drain * (t1 - t0) / 3600.0
        self._intervals = intervals
        self._starts = [iv.start_s for iv in intervals]

    def at(self, t_s: float) -> _Interval:
        return self._intervals[max(0, bisect.bisect_right(self._starts, t_s) - 1)]

    def device_seconds(self, t_s: float) -> float:
        """Seconds on the device's own clock since its last boot (0 while it is off)."""
        iv = self.at(t_s)
        if not iv.powered:
            return 0.0
        return iv.device_s + (t_s - iv.start_s) * (1.0 + iv.ppm * PPM)

    def clock_ms(self, t_s: float) -> int:
        """The device clock in milliseconds since boot, wrapping at 2**32 as the firmware's does."""
        return math.floor(self.device_seconds(t_s) * 1000.0) % CLOCK_WRAP

    def battery_pct(self, t_s: float) -> int:
        iv = self.at(t_s)
        level = iv.battery_pct - iv.drain_pct_per_h * (t_s - iv.start_s) / 3600.0
        # A fuel gauge shows 1 % until the cell is really flat.
        return min(100, max(0, math.ceil(level - 1e-9)))

    def samples_until(self, t_s: float, rate_hz: float) -> int:
        """How many samples the current boot has taken by `t_s` (sample k at device time k/rate)."""
        if not self.at(t_s).powered:
            return 0
        return math.floor((self.device_seconds(t_s) + TIME_TOLERANCE_S) * rate_hz) + 1

    def sample_times(self, boot_count: int, first: int, stop: int, rate_hz: float) -> list[float]:
        """Simulated times of samples [first, stop) of boot `boot_count`, through clock skew."""
        times: list[float] = []
        pieces = [iv for iv in self._intervals if iv.boot_count == boot_count and iv.powered]
        for n, iv in enumerate(pieces):
            rate = 1.0 + iv.ppm * PPM
            last = n + 1 == len(pieces)
            device_end = math.inf if last else pieces[n + 1].device_s
            lo = max(first, math.ceil(iv.device_s * rate_hz - 1e-9))
            hi = stop if last else min(stop, math.ceil(device_end * rate_hz - 1e-9))
            times += [iv.start_s + (k / rate_hz - iv.device_s) / rate for k in range(lo, hi)]
        return times


@dataclass(frozen=True, slots=True)
class _PendingEvent:
    t_s: float
    kind: SafetyEventKind
    peak_g: float | None
    measure_peak: bool
    threshold_g: float | None


class _Device:
    """A device's state as the facade tracks it: plan, mount, noise, and what was read so far."""

    def __init__(
        self,
        plan: DevicePlan,
        mount: Mount,
        noise: NoiseSource,
        events: list[_PendingEvent],
        faults: Sequence[Fault],
    ) -> None:
        self.plan = plan
        self.spurious_rr = [f for f in faults if isinstance(f, SpuriousRrFault)]
        # Beats the device heard and has not yet sent: (time, RR interval), in seconds.
        self.beats: list[tuple[float, float]] = []
        self.beat_notifications = 0  # notifications with beats (the spurious-RR fault counts)
        self.heart_rate_notifications = 0  # (when energy expended is included)
        self.energy_boot = -1  # the boot the energy counter started with
        self.energy_base_kj = 0.0
        self.mount = mount
        self.noise = noise
        self.events = sorted(events, key=lambda e: e.t_s)
        self.next_event = 0
        self.imu_boot = plan.at(0.0).boot_count
        self.imu_next = 0
        self.malformed_fault = -1
        self.malformed_calls = 0
        # Acceleration streamed at a rate chosen by the gateway (PMD): the boot and simulated
        # time of the next sample, and the running sample index for the noise.
        self.acc_boot = -1
        self.acc_next_s = 0.0
        self.acc_index = 0


class OfficerSimulation:
    """One officer's simulated kit over a scenario: each worn device's readings, events and
    faults, all from the officer's one body (physiology, motion, track)."""

    officer_id: str

    def __init__(self, scenario: Scenario, officer_index: int, seed: int) -> None:
        if officer_index < 0:
            raise ValueError(f"officer_index must be >= 0, got {officer_index}")
        self.scenario = scenario
        self.officer_index = officer_index
        self.officer_id = f"officer-{officer_index + 1:02d}"
        self._t = 0.0

        def stream(name: str) -> Random:
            return Random(f"bluewatch/{seed}/{officer_index}/{name}")

        self._schedule = build_schedule(scenario, officer_index, stream("schedule"))
        mine = [e for e in scenario.events if targets(e.officers, officer_index)]
        kicks = [(e.at_s, AROUSAL_KICK_BPM[e.kind]) for e in mine if e.kind in AROUSAL_KICK_BPM]
        profile = draw_profile(scenario.roster.override(officer_index), stream("profile"))
        self.profile = profile
        self._physiology = Physiology(
            profile, scenario.environment, self._schedule, kicks, stream("physiology")
        )
        self._motion = MotionModel(self._schedule, stream("motion"))
        terrain = draw_terrain(scenario.area, Random(f"bluewatch/{seed}/terrain"))
        self._track = Track(scenario.area, self._schedule, terrain, stream("track"))
        self.kit = scenario.roster.kit_of(officer_index)
        self._devices = {
            kind: self._device(kind, stream(f"device/{kind.value}")) for kind in self.kit
        }

    def _device(self, kind: DeviceModel, rng: Random) -> _Device:
        scenario = self.scenario
        settings = scenario.devices
        faults = [
            f
            for f in scenario.faults
            if targets(f.officers, self.officer_index) and f.concerns(kind)
        ]
        plan = DevicePlan(
            faults,
            settings.drain_pct_per_h(kind),
            rng.uniform(*settings.battery_start_pct),
            rng.randint(1, 400),
        )
        mount = draw_mount(rng)
        noise = NoiseSource(rng.getrandbits(24))
        events = [
            _PendingEvent(
                t_s=e.at_s,
                kind=e.kind,
                peak_g=e.peak_accel_g,
                measure_peak=e.peak_accel_g is None and e.kind in PEAK_EVENTS,
                threshold_g=None,
            )
            for e in scenario.events
            if targets(e.officers, self.officer_index) and e.device == PROFILES[kind].short_name
        ]
        short_name = PROFILES[kind].short_name
        for fall in self._motion.falls:
            if short_name == EVENT_DEVICE[SafetyEventKind.IMPACT]:
                events.append(
                    _PendingEvent(
                        t_s=fall.t_s + HELMET_IMPACT_DELAY_S,
                        kind=SafetyEventKind.IMPACT,
                        peak_g=None,
                        measure_peak=True,
                        threshold_g=settings.helmet_impact_threshold_g,
                    )
                )
            elif fall.fall_flag and short_name == EVENT_DEVICE[SafetyEventKind.FALL_DETECTED]:
                events.append(
                    _PendingEvent(
                        t_s=fall.t_s + VEST_FALL_FLAG_DELAY_S,
                        kind=SafetyEventKind.FALL_DETECTED,
                        peak_g=None,
                        measure_peak=True,
                        threshold_g=None,
                    )
                )
        return _Device(plan, mount, noise, events, faults)

    @property
    def t_s(self) -> float:
        """Simulated seconds since the scenario started."""
        return self._t

    def advance(self, dt_s: float) -> None:
        """Step every model by `dt_s` simulated seconds (each sub-steps on its own grid).

        Past the scenario's end the last activity simply continues.
        """
        if not math.isfinite(dt_s) or dt_s < 0:
            raise ValueError(f"dt_s must be a finite, non-negative number of seconds, got {dt_s}")
        self._t += dt_s
        self._physiology.run_until(self._t)
        self._track.run_until(self._t)
        beats = self._physiology.take_beats()
        for kind, state in self._devices.items():
            if sends_heart_rate(kind):
                state.beats += beats

    def take_imu_samples(self, device: DeviceModel) -> list[tuple[float, float, float]]:
        """Accelerometer samples (g, device frame) taken since the previous call, at the profile's
        IMU rate on the device's own clock.

        Samples not yet taken when a device powers off are lost with it; after a reboot the
        list starts at the boot's first sample, so the sample index since boot is the running
        count of samples taken since `boot_count` last changed.
        """
        state = self._devices[device]
        now = state.plan.at(self._t)
        if not now.powered:
            return []
        if state.imu_boot != now.boot_count:
            state.imu_boot, state.imu_next = now.boot_count, 0
        rate = imu_rate_hz(device)
        stop = state.plan.samples_until(self._t, rate)
        first, state.imu_next = state.imu_next, max(stop, state.imu_next)
        return self._render(device, now.boot_count, first, stop)

    def _render(
        self, device: DeviceModel, boot: int, first: int, stop: int
    ) -> list[tuple[float, float, float]]:
        if stop <= first:
            return []
        state = self._devices[device]
        times = state.plan.sample_times(boot, first, stop, imu_rate_hz(device))
        xs, ys, zs, broadband = self._motion.body(times, _DEVICE_INDEX[device])
        noise = state.noise.bytes_for(boot, first, first + len(times))
        return state.mount.render(xs, ys, zs, broadband, noise)

    def acceleration_g(
        self, device: DeviceModel, count: int, rate_hz: int
    ) -> list[tuple[float, float, float]]:
        """The next `count` accelerometer samples (g, device frame) at `rate_hz`, a rate the
        gateway chose (a Polar sensor's PMD stream), following simulated time.

        The sensor streams on its own timer: samples continue from the previous call, but never
        lag simulated time by more than one frame (after a pause, or at a time scale above 1,
        the stream skips ahead as a sensor's buffer would overflow). Nothing while it is off.
        """
        state = self._devices[device]
        now = state.plan.at(self._t)
        if not now.powered or count <= 0:
            return []
        if state.acc_boot != now.boot_count:
            state.acc_boot, state.acc_next_s, state.acc_index = now.boot_count, now.boot_at_s, 0
        start = max(state.acc_next_s, self._t - count / rate_hz)
        times = [start + k / rate_hz for k in range(count)]
        state.acc_next_s = start + count / rate_hz
        xs, ys, zs, broadband = self._motion.body(times, _DEVICE_INDEX[device])
        first, state.acc_index = state.acc_index, state.acc_index + count
        noise = state.noise.bytes_for(now.boot_count, first, first + count)
        return state.mount.render(xs, ys, zs, broadband, noise)

    def ppi(self, device: DeviceModel) -> list[PpiSample]:
        """The beats an optical sensor (Verity Sense) measured since the previous call, as PMD
        PPI records: each beat's interval and the rate it implies; skin contact off (and the
        intervals marked invalid) within a "contact_loss" fault. The beats are the officer's
        one heart's, the same a chest strap hears."""
        state = self._devices[device]
        now = state.plan.at(self._t)
        beats, state.beats = state.beats, []
        since = now.boot_at_s if now.powered else math.inf
        return [
            PpiSample(
                hr_bpm=min(0xFF, round(60.0 / interval)),
                ppi_ms=min(0xFFFF, round(interval * 1000.0)),
                error_estimate_ms=PPI_ERROR_ESTIMATE_MS,
                blocker=not now.skin_contact,
                skin_contact=now.skin_contact,
                skin_contact_supported=True,
            )
            for t, interval in beats
            if t >= since
        ]

    def peak_accel_g(self, device: DeviceModel, t0_s: float, t1_s: float) -> float | None:
        """The largest acceleration magnitude (g) among the device's samples in (t0, t1], as its
        firmware measures it for a fall or impact; None if it took no sample then."""
        plan = self._devices[device].plan
        at = plan.at(t1_s)
        if not at.powered:
            return None
        rate = imu_rate_hz(device)
        before = plan.at(t0_s)
        first = plan.samples_until(t0_s, rate) if before.boot_count == at.boot_count else 0
        samples = self._render(device, at.boot_count, first, plan.samples_until(t1_s, rate))
        if not samples:
            return None
        return max(math.sqrt(x * x + y * y + z * z) for x, y, z in samples)

    def heart_rate(
        self, device: DeviceModel | None = None, *, energy_every_n: int = 0, with_rr: bool = True
    ) -> HeartRateMeasurement:
        """The heart-rate device's current rate (bpm, an integer) and the RR intervals (s) of the
        beats completed since its previous call (since boot, if it rebooted); sensor contact
        detected, except within a "contact_loss" fault. `device` defaults to the first one of
        the kit that sends heart rate.

        Within a "spurious_rr" fault a short spurious interval follows the real ones. With
        `energy_every_n` (a strap's setting; HRS 1.0 §3.1.1.3 has it sent about once in ten
        measurements) every n-th measurement carries the energy expended since the device
        booted, in kJ, held at 0xFFFF once it gets there. The RR list is not capped: a caller
        that reads rarely splits it to fit its ATT_MTU. With `with_rr` False the measurement carries
        no RR and the beats stay for `ppi` (an optical sensor sends them over PMD instead).
        """
        model = self._heart_rate_device(device)
        state = self._devices[model]
        now = state.plan.at(self._t)
        beats, state.beats = (state.beats, []) if with_rr else ([], state.beats)
        # A device that is off measures no beats; after a reboot it has only those since boot.
        since = now.boot_at_s if now.powered else math.inf
        rr = [interval for t, interval in beats if t >= since]
        if not now.skin_contact:
            # Off the skin the electrodes see no beats: a zero rate, flagged, as straps send it.
            return HeartRateMeasurement(heart_rate_bpm=0, sensor_contact=SensorContact.NOT_DETECTED)
        if rr:
            state.beat_notifications += 1
            for fault in state.spurious_rr:
                if fault.at_s <= self._t < _fault_end(fault) and (
                    state.beat_notifications % fault.every_n == 0
                ):
                    rr.append(fault.rr_ms / 1000.0)
        energy = None
        if energy_every_n:
            if state.energy_boot != now.boot_count:
                state.energy_boot, state.energy_base_kj = now.boot_count, self._physiology.energy_kj
            state.heart_rate_notifications += 1
            if state.heart_rate_notifications % energy_every_n == 1 % energy_every_n:
                spent = math.floor(self._physiology.energy_kj - state.energy_base_kj)
                energy = min(ENERGY_EXPENDED_MAX_KJ, spent)
        return HeartRateMeasurement(
            heart_rate_bpm=round(self._physiology.heart_rate_bpm),
            sensor_contact=SensorContact.DETECTED,
            energy_expended_kj=energy,
            rr_intervals_s=tuple(rr),
        )

    def _heart_rate_device(self, device: DeviceModel | None) -> DeviceModel:
        if device is None:
            device = next((m for m in self.kit if sends_heart_rate(m)), None)
            if device is None:
                raise ValueError(f"{self.officer_id} wears nothing that sends heart rate")
        if device not in self._devices or not sends_heart_rate(device):
            raise ValueError(f"{self.officer_id} wears no {device.value} that sends heart rate")
        return device

    def core_body_temperature(self) -> CoreBodyTemperature:
        """What a CORE notifies (Core Body Temperature, 00002101): core temperature from the
        officer's body, its chest skin sensor, data quality, and the heart rate of the strap it
        is paired with, while that strap is on and on the skin (spec §3.1.1.5-6)."""
        strap = next((m for m in self.kit if sends_heart_rate(m)), None)
        receiving = False
        if strap is not None:
            link = self._devices[strap].plan.at(self._t)
            receiving = link.powered and link.skin_contact
        return CoreBodyTemperature(
            core_temperature_c=round(self._physiology.core_c, 2),
            skin_temperature_c=round(self._physiology.chest_skin_sensor_c, 2),
            quality=CoreDataQuality.GOOD,
            heart_rate_monitor=HeartRateMonitorState.RECEIVING
            if receiving
            else HeartRateMonitorState.NOT_RECEIVING,
            heart_rate_bpm=round(self._physiology.heart_rate_bpm) if receiving else None,
        )

    def core_thermometer(self) -> TemperatureMeasurement:
        """The core temperature as CORE repeats it on its Health Thermometer service (notes
        §2.3): °C, temperature type "body"."""
        return TemperatureMeasurement(
            temperature_c=round(self._physiology.core_c, 2),
            temperature_type=TemperatureType.BODY,
        )

    def core_advertisement(self) -> CoreAdvertisement:
        """What a CORE broadcasts in its manufacturer data: measuring, core temperature in
        0.001 °C (notes §2.1 Table 2)."""
        return CoreAdvertisement(
            status=CORE_STATE_MEASURING, core_temperature_c=round(self._physiology.core_c, 3)
        )

    def skin_temperature(self) -> TemperatureMeasurement:
        """The vest's chest skin temperature (°C, 0.01 resolution), temperature type "body"."""
        return TemperatureMeasurement(
            temperature_c=round(self._physiology.chest_skin_sensor_c, 2),
            temperature_type=TemperatureType.BODY,
        )

    def location(self) -> LocationAndSpeed:
        """The helmet's latest GNSS fix (1 Hz): position, elevation, speed, heading, odometer."""
        track = self._track
        latitude, longitude, elevation = track.measured_position()
        heading = round(track.heading_deg, 2)
        return LocationAndSpeed(
            speed_mps=round(track.measured_speed_mps, 2),
            total_distance_m=round(track.total_distance_m % DISTANCE_WRAP_M, 1),
            latitude_deg=latitude,
            longitude_deg=longitude,
            elevation_m=round(elevation, 2),
            heading_deg=0.0 if heading >= 360.0 else heading,
            position_status=PositionStatus.OK,
        )

    def vehicle_position(self) -> tuple[float, float]:
        """Latitude and longitude (degrees) of the officer's patrol vehicle."""
        return self._track.vehicle_position()

    def battery_pct(self, device: DeviceModel) -> int:
        """The device's battery level, 0-100 %."""
        return self._devices[device].plan.battery_pct(self._t)

    def take_events(self, device: DeviceModel) -> list[DeviceEvent]:
        """Events the device has to send that fell due since the previous call.

        Events that fell due while the device was off, or before a reboot, are lost; a helmet
        impact is sent only if its measured peak reaches the helmet's threshold.
        """
        state = self._devices[device]
        due: list[_PendingEvent] = []
        while (
            state.next_event < len(state.events) and state.events[state.next_event].t_s <= self._t
        ):
            due.append(state.events[state.next_event])
            state.next_event += 1
        now = state.plan.at(self._t)
        if not now.powered:
            return []
        sent: list[DeviceEvent] = []
        for event in due:
            then = state.plan.at(event.t_s)
            if not then.powered or then.boot_count != now.boot_count:
                continue
            peak = event.peak_g
            if event.measure_peak:
                peak = self.peak_accel_g(device, event.t_s - PEAK_WINDOW_S, event.t_s)
            if event.threshold_g is not None and (peak is None or peak < event.threshold_g):
                continue
            sent.append(DeviceEvent(event.kind, None if peak is None else round(peak, 2)))
        return sent

    def faults(self, device: DeviceModel) -> DeviceFaults:
        """The device's link and clock state now.

        Call it once per notification the device is about to send: within a "malformed" fault
        every N-th such call (counted while the link is up) says `corrupt_next`.
        """
        state = self._devices[device]
        now = state.plan.at(self._t)
        corrupt = False
        if now.link and now.malformed_every_n:
            if state.malformed_fault != now.malformed_fault:
                state.malformed_fault, state.malformed_calls = now.malformed_fault, 0
            state.malformed_calls += 1
            corrupt = state.malformed_calls % now.malformed_every_n == 0
        return DeviceFaults(link_up=now.link, corrupt_next=corrupt, clock_ppm=now.ppm)

    def device_clock_ms(self, device: DeviceModel) -> int:
        """Milliseconds on the device's clock since its last boot (skew included), wrapping at
        2**32; 0 while the device is off."""
        return self._devices[device].plan.clock_ms(self._t)

    def boot_count(self, device: DeviceModel) -> int:
        """How many times the device has booted (its count at the latest boot while off)."""
        return self._devices[device].plan.at(self._t).boot_count

    @property
    def core_temp_c(self) -> float:
        """Core body temperature (°C): hidden ground truth, to evaluate the gateway's estimate."""
        return self._physiology.core_c

    @property
    def activity(self) -> str:
        """The officer's current activity, e.g. "walking"."""
        return self._schedule.at(self._t).activity.value

    @property
    def distance_to_vehicle_m(self) -> float:
        """True distance (m) between the officer and their vehicle: ground truth for gating."""
        return self._track.distance_to_vehicle_m()
