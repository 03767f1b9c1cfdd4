"""The officer-safety rules: readings in, alerts out, per officer. Pure; time comes with data.

Each officer has one `OfficerMonitor`. The pipeline feeds it every decoded reading and every 1 Hz
activity summary; a 1 Hz tick evaluates the timers. Thresholds are in `AlertSettings` with the
reasons for their defaults (docs/alerts.md and docs/algorithms.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from gateway.acceleration import AccelerationSamples
from gateway.activity import ActivitySummary, Intensity, Posture
from gateway.alerts.engine import AlertEngine, Rule
from gateway.alerts.model import AlertKind, Severity
from gateway.alerts.proximity import PACE, VehicleView, Whereabouts, clock_time, whereabouts
from gateway.analytics import (
    CoreTempEstimator,
    FallDetector,
    max_heart_rate,
    physiological_strain_index,
)
from gateway.ble.link import LinkState
from gateway.domain import NS_PER_S, PHYSIOLOGY, DeviceRef, Point
from sensors import (
    BatteryLevel,
    Characteristic,
    CoreBodyTemperature,
    CoreDataQuality,
    HeartRateMeasurement,
    LocationAndSpeed,
    SafetyEvent,
    SafetyEventKind,
    SensorContact,
)

RULE_VERSION: Final = "1"
MAN_DOWN = Rule("man-down", RULE_VERSION)
PANIC = Rule("panic-button", RULE_VERSION)
WEAPON = Rule("holster-draw", RULE_VERSION)
IMPACT = Rule("helmet-impact", RULE_VERSION)
HEART = Rule("heart-rate", RULE_VERSION)
CONTACT = Rule("sensor-contact", RULE_VERSION)
HEAT = Rule("heat-strain-psi", RULE_VERSION)
LINK = Rule("device-link", RULE_VERSION)
LEFT_VEHICLE = Rule("left-vehicle", RULE_VERSION)
BATTERY = Rule("battery", RULE_VERSION)
# A CORE notifies about once a second; two minutes of silence means it is off the body, out of
# range or flat, and the heart-rate estimate takes over again.
MEASURED_CORE_FRESH_S: Final = 120.0
UNTRUSTED_CORE_QUALITY: Final = frozenset({CoreDataQuality.INVALID, CoreDataQuality.POOR})
# Activity summaries older than this say nothing about the officer now: the man-down timer
# waits for fresh data rather than alarming on a vest that stopped talking (device-lost does).
FRESH_ACTIVITY_S: Final = 5.0


class AlertSettings(BaseModel):
    """`[alerts]` thresholds; the defaults and their reasons are in docs/alerts.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # PASS-device practice (NFPA 1982): pre-alert after 20 s without motion, full alarm at 30 s.
    pre_alert_after_s: float = Field(default=20.0, gt=0)
    alarm_after_s: float = Field(default=30.0, gt=0)
    escalate_after_s: float = Field(default=60.0, gt=0)
    tachycardia_fraction_of_max: float = Field(default=0.9, gt=0.5, le=1.2)
    heart_rate_sustain_s: float = Field(default=60.0, gt=0)
    bradycardia_bpm: int = Field(default=40, ge=20, le=60)
    contact_lost_after_s: float = Field(default=30.0, gt=0)
    helmet_impact_g: float = Field(default=8.0, gt=0)
    low_battery_pct: int = Field(default=15, ge=1, le=50)
    battery_clear_pct: int = Field(default=25, ge=2, le=100)
    psi_warning: float = Field(default=7.0, ge=0, le=10)
    psi_alert: float = Field(default=9.0, ge=0, le=10)
    psi_clear: float = Field(default=6.0, ge=0, le=10)
    initial_core_temp_c: float = Field(default=37.1, ge=35, le=39)
    # The core-temperature filter takes one mean heart rate per minute, as published. Only a
    # demo or a replay at accelerated time should shorten this (the demo uses 2 s).
    physiology_step_s: float = Field(default=60.0, gt=0)


@dataclass
class OfficerProfile:
    officer_id: str
    resting_hr_bpm: int
    max_hr_bpm: float


@dataclass
class _Sustained:
    """When a condition began holding; None while it does not."""

    since_ns: int | None = None

    def update(self, holding: bool, now_ns: int) -> float:
        """Seconds the condition has held (0 when it does not)."""
        if not holding:
            self.since_ns = None
            return 0.0
        if self.since_ns is None:
            self.since_ns = now_ns
        return (now_ns - self.since_ns) / NS_PER_S


# Link states in which the device is heard: a device-lost warning clears.
_PRESENT: Final = frozenset({LinkState.OK, LinkState.HELD_ELSEWHERE})
# Link states of a bonded trunk device (a vest) in which its motion alone decides man-down.
_BONDED_HEARD: Final = frozenset({LinkState.OK, LinkState.STALE})


@dataclass
class OfficerMonitor:
    profile: OfficerProfile
    settings: AlertSettings
    engine: AlertEngine
    emit_points: Callable[[list[Point]], None]
    tags: dict[str, str]
    # The officer's vehicle, when the gateway has one ([vehicle]): distances, the in-vehicle
    # gate, the left-vehicle event, and its position when the officer has no GNSS.
    vehicle: VehicleView | None = None
    location: tuple[float, float] | None = None
    # When any of the officer's devices last sent anything, and each device's link state.
    last_heard_ns: int | None = None
    links: dict[str, LinkState] = field(default_factory=dict)
    # The link states of the officer's trunk devices that bond (encrypted links: a vest).
    _bonded_trunk: dict[str, LinkState] = field(default_factory=dict)
    # Whether the officer has left the vehicle on foot; None until first seen at it (an officer
    # first seen far away, after a gateway restart say, did not just leave it).
    left_vehicle: bool | None = None
    intensity: Intensity | None = None
    posture: Posture = Posture.UNKNOWN
    last_activity_ns: int | None = None
    still_since_ns: int | None = None
    fall_at_ns: int | None = None
    fall_detail: str = ""
    # One fall detector per trunk device: a vest and an H10 worn together each feed their own,
    # at their own rate and range, on their own timeline.
    _detectors: dict[str, FallDetector] = field(default_factory=dict)
    _tachy: _Sustained = field(default_factory=_Sustained)
    _brady: _Sustained = field(default_factory=_Sustained)
    _no_contact: _Sustained = field(default_factory=_Sustained)
    _minute: int | None = None
    _minute_hr: list[int] = field(default_factory=list)
    _core: CoreTempEstimator | None = None
    # The latest trustworthy core temperature a CORE measured, and when.
    _measured_core: tuple[float, int] | None = None

    def __post_init__(self) -> None:
        self._core = CoreTempEstimator(self.settings.initial_core_temp_c)

    # --- inputs ------------------------------------------------------------------------------

    def on_reading(self, device: DeviceRef, reading: Characteristic, now_ns: int) -> None:
        self.last_heard_ns = now_ns
        if isinstance(reading, HeartRateMeasurement):
            self._heart_rate(reading, now_ns)
        elif isinstance(reading, LocationAndSpeed) and reading.latitude_deg is not None:
            assert reading.longitude_deg is not None
            self.location = (reading.latitude_deg, reading.longitude_deg)
            self._vehicle_distance(now_ns)
        elif isinstance(reading, SafetyEvent):
            self._event(device, reading, now_ns)
        elif isinstance(reading, BatteryLevel):
            self._battery(device, reading.battery_pct)
        elif isinstance(reading, CoreBodyTemperature):
            self._core_measured(reading, now_ns)

    def _core_measured(self, reading: CoreBodyTemperature, now_ns: int) -> None:
        """Keep a measured core temperature the sensor itself trusts (fair or better: the CORE
        reports poor quality while it is still settling on the body; spec §3.1.1.5)."""
        if reading.core_temperature_c is None or reading.quality in UNTRUSTED_CORE_QUALITY:
            return
        self._measured_core = (reading.core_temperature_c, now_ns)

    def on_activity(self, device: DeviceRef, summary: ActivitySummary) -> None:
        self.last_heard_ns = summary.time_ns
        if not device.moves_with_trunk or not self._decides_motion(device):
            return
        self.intensity, self.posture = summary.intensity, summary.posture
        self.last_activity_ns = summary.time_ns
        if summary.intensity is Intensity.STILL:
            if self.still_since_ns is None:
                # The summary covers the last second.
                self.still_since_ns = summary.time_ns - NS_PER_S
        else:
            self.still_since_ns = None
            self.fall_at_ns = None
            self.engine.cancel(self.profile.officer_id, AlertKind.OFFICER_DOWN, "motion resumed")
        self.evaluate_man_down(summary.time_ns)

    def forget(self, device_id: str) -> None:
        """The officer gave the device back: its link and fall detector are no longer theirs.
        Open alerts stay with the officer (the engine keys them by officer), not the device."""
        self.links.pop(device_id, None)
        self._detectors.pop(device_id, None)
        self._bonded_trunk.pop(device_id, None)

    def _decides_motion(self, device: DeviceRef) -> bool:
        """Whether this trunk device's motion and stillness count for man-down: any device's,
        unless a trunk device that bonds (a vest) is heard; then only a bonded one's. Motion on
        an unencrypted link could be anyone's (a strap's address is easily copied), and must not
        cancel or hold off what the encrypted link reports."""
        return device.profile.bonds or not any(
            state in _BONDED_HEARD for state in self._bonded_trunk.values()
        )

    def on_link(self, device: DeviceRef, state: LinkState) -> None:
        self.links[device.device_id] = state
        if device.moves_with_trunk and device.profile.bonds:
            self._bonded_trunk[device.device_id] = state
        if state is LinkState.LOST:
            self.engine.raise_alert(
                self.profile.officer_id,
                AlertKind.DEVICE_LOST,
                Severity.WARNING,
                self._lost_reason(device),
                LINK,
                device_id=device.device_id,
                location=self._alert_location(),
            )
        elif state in _PRESENT:
            # Held by another central, the device is there: its broadcast is what is heard.
            self.engine.clear(
                self.profile.officer_id,
                AlertKind.DEVICE_LOST,
                f"{device.device_id} back",
                device.device_id,
            )

    # --- the vehicle ---------------------------------------------------------------------------

    def _whereabouts(self, now_ns: int) -> Whereabouts | None:
        """Where the officer is from the vehicle: known with the helmet's GNSS and a fresh
        vehicle fix only."""
        if self.vehicle is None or self.location is None:
            return None
        fix = self.vehicle.fix_at(now_ns)
        return None if fix is None else whereabouts(self.location, fix.position)

    def _vehicle_moving(self, now_ns: int) -> bool:
        fix = self.vehicle.fix_at(now_ns) if self.vehicle is not None else None
        return fix is not None and fix.moving

    def _where_words(self, seen: Whereabouts | None) -> str:
        """ "; 180 m north-east of car-12"; without an officer position "; in radio range of
        car-12" (their devices talk to the gateway in it) and whose position the alert carries;
        nothing without a vehicle, or when only the vehicle's fix is missing."""
        if self.vehicle is None:
            return ""
        vehicle_id = self.vehicle.vehicle_id
        if self.location is None:
            if self.vehicle.latest() is None:
                return f"; in radio range of {vehicle_id}, no position"
            return f"; in radio range of {vehicle_id} (no officer GNSS: {vehicle_id}'s position)"
        if seen is None:
            return ""
        if seen.distance_m <= self.vehicle.settings.in_vehicle_m:
            return f"; at {self.vehicle.vehicle_id}"
        return f"; {seen.words(self.vehicle.vehicle_id)}"

    def _alert_location(self) -> tuple[float, float] | None:
        """The officer's own position, else the vehicle's last fix: the officer's devices are in
        radio range of it, which beats no position for whoever is sent (docs/alerts.md)."""
        if self.location is not None or self.vehicle is None:
            return self.location
        fix = self.vehicle.latest()
        return None if fix is None else fix.position

    def _vehicle_distance(self, now_ns: int) -> None:
        """The left-vehicle event: raised beyond `left_vehicle_m`, cleared back within
        `back_at_vehicle_m`."""
        seen = self._whereabouts(now_ns)
        if seen is None:
            return
        assert self.vehicle is not None
        settings, vehicle_id = self.vehicle.settings, self.vehicle.vehicle_id
        officer = self.profile.officer_id
        if self.left_vehicle is False and seen.distance_m > settings.left_vehicle_m:
            self.left_vehicle = True
            pace = f", {PACE[self.intensity]}" if self.intensity is not None else ""
            self.engine.raise_alert(
                officer,
                AlertKind.OFFICER_LEFT_VEHICLE,
                Severity.INFO,
                f"left {vehicle_id} on foot: {seen.distance_m:.0f} m {seen.direction}{pace}",
                LEFT_VEHICLE,
                location=self.location,
            )
        elif self.left_vehicle is not False and seen.distance_m < settings.back_at_vehicle_m:
            if self.left_vehicle:
                self.engine.clear(officer, AlertKind.OFFICER_LEFT_VEHICLE, f"back at {vehicle_id}")
            self.left_vehicle = False

    def _lost_reason(self, device: DeviceRef) -> str:
        """Why a device went silent, as far as the vehicle can tell: a device lost near the car
        (its other devices still talk, or it was last seen at the car) is not an officer out of
        range of the car (everything silent, last seen away from it)."""
        silent = f"{device.profile.short_name} {device.device_id}"
        if self.vehicle is None:
            return f"{silent} silent: link lost"
        vehicle_id = self.vehicle.vehicle_id
        still_heard = sorted(
            other
            for other, state in self.links.items()
            # OK only: a device going stale is on its way to lost, as when the officer walks off.
            if other != device.device_id and state is LinkState.OK
        )
        if still_heard:
            return (
                f"{silent} lost near {vehicle_id} while {', '.join(still_heard)} is still in "
                "range: the device, not the officer (strap lost, battery flat)"
            )
        officer = self.profile.officer_id
        since = f" since {clock_time(self.last_heard_ns)}" if self.last_heard_ns else ""
        pace = f", {PACE[self.intensity]}" if self.intensity is not None else ""
        seen = self._whereabouts(self.last_heard_ns) if self.last_heard_ns else None
        if seen is None:
            moving = f", last seen {PACE[self.intensity]}" if self.intensity is not None else ""
            return (
                f"{officer} out of range of {vehicle_id}{since}{moving}; no position to tell a "
                "lost device from an officer away from the car"
            )
        if seen.distance_m <= self.vehicle.settings.left_vehicle_m:
            return (
                f"{silent} lost near {vehicle_id}{since} (officer last seen "
                f"{seen.distance_m:.0f} m away): the device, not the officer (strap lost, "
                "battery flat)"
            )
        return (
            f"{officer} out of range of {vehicle_id}{since}, last seen "
            f"{seen.distance_m:.0f} m {seen.direction}{pace}"
        )

    # --- man down ----------------------------------------------------------------------------

    def on_imu(self, device: DeviceRef, batch: AccelerationSamples, times_ns: list[int]) -> None:
        """Trunk samples, stamped on the gateway's clock, into the fall detector."""
        if not device.moves_with_trunk:
            return
        detector = self._detectors.get(device.device_id)
        if detector is None:
            # The device's own range (device models, sensors/profiles.py): a clipped impact at
            # ±2 g needs a lower threshold than one measured at ±32 g (docs/algorithms.md).
            accelerometer = device.accelerometer  # at the roster's range, if it chose one
            assert accelerometer is not None  # moves_with_trunk: it has one
            detector = self._detectors[device.device_id] = FallDetector(
                batch.sample_rate_hz, accelerometer.range_g
            )
        # One call per batch: the detector keeps its per-sample state in locals for the batch.
        times_s = [stamp / NS_PER_S for stamp in times_ns]
        for detection in detector.update_batch(times_s, batch.samples_g):
            self.fall_at_ns = int(detection.t_s * NS_PER_S)
            self.fall_detail = (
                f"fall detected (peak {detection.peak_g:.1f} g, "
                f"{detection.orientation_change_deg:.0f} deg turn)"
            )

    def evaluate_man_down(self, now_ns: int) -> None:
        """Pre-alert, then alarm, while the officer stays still after a fall or lying down.

        A fall starts the timer at its impact. Without a fall, only stillness while lying counts:
        an officer sitting still in the vehicle (upright, or posture not yet known) is not down.
        """
        fresh = (
            self.last_activity_ns is not None
            and now_ns - self.last_activity_ns <= FRESH_ACTIVITY_S * NS_PER_S
        )
        if not fresh or self.still_since_ns is None:
            return
        seen = self._whereabouts(now_ns)
        in_vehicle = (
            seen is not None
            and self.vehicle is not None
            and seen.distance_m <= self.vehicle.settings.in_vehicle_m
        )
        if in_vehicle and (self.fall_at_ns is None or self._vehicle_moving(now_ns)):
            # Reclined in the seat, or jolted in a moving car: in the vehicle is not down.
            return
        if self.fall_at_ns is not None:
            start, cause = self.fall_at_ns, self.fall_detail
        elif self.posture is Posture.LYING:
            start, cause = self.still_since_ns, "lying without motion"
        else:
            return
        still_s = (now_ns - start) / NS_PER_S
        if still_s < self.settings.pre_alert_after_s:
            return
        alarm = still_s >= self.settings.alarm_after_s
        self.engine.raise_alert(
            self.profile.officer_id,
            AlertKind.OFFICER_DOWN,
            Severity.CRITICAL,
            f"{cause}; no motion for {still_s:.0f} s{self._where_words(seen)}",
            MAN_DOWN,
            pre_alert=not alarm,
            location=self._alert_location(),
            started_ns=start,
        )

    # --- events -------------------------------------------------------------------------------

    def _event(self, device: DeviceRef, event: SafetyEvent, now_ns: int) -> None:
        officer = self.profile.officer_id
        kind = event.event
        if kind is SafetyEventKind.PANIC_PRESS:
            # A panic press is the officer's own call for help: critical at once, no pre-alert.
            self.engine.raise_alert(
                officer,
                AlertKind.PANIC,
                Severity.CRITICAL,
                f"panic button pressed{self._where_words(self._whereabouts(now_ns))}",
                PANIC,
                device_id=device.device_id,
                location=self._alert_location(),
            )
        elif kind is SafetyEventKind.HOLSTER_DRAW:
            self.engine.raise_alert(
                officer,
                AlertKind.WEAPON_DRAWN,
                Severity.HIGH,
                "weapon drawn from holster",
                WEAPON,
                device_id=device.device_id,
                location=self._alert_location(),
            )
        elif kind is SafetyEventKind.HOLSTER_RETURN:
            self.engine.clear(officer, AlertKind.WEAPON_DRAWN, "weapon holstered")
        elif kind is SafetyEventKind.IM_OK_PRESS:
            self.engine.cancel(officer, AlertKind.OFFICER_DOWN, "officer pressed I'm OK")
            self.fall_at_ns = None
            self.still_since_ns = now_ns  # responsive now: any new man-down counts from here
        elif kind is SafetyEventKind.FALL_DETECTED:
            # The device's own fall flag is honoured like the gateway's detector: the timer runs.
            self.fall_at_ns = now_ns
            peak = f" (peak {event.peak_accel_g:.1f} g)" if event.peak_accel_g is not None else ""
            self.fall_detail = f"fall flagged by the {device.profile.short_name}{peak}"
        elif (
            kind is SafetyEventKind.IMPACT
            and (event.peak_accel_g or 0) >= self.settings.helmet_impact_g
        ):
            self.engine.raise_alert(
                officer,
                AlertKind.HELMET_IMPACT,
                Severity.HIGH,
                f"helmet impact {event.peak_accel_g:.1f} g",
                IMPACT,
                device_id=device.device_id,
                location=self._alert_location(),
            )

    # --- heart -------------------------------------------------------------------------------

    def _heart_rate(self, reading: HeartRateMeasurement, now_ns: int) -> None:
        officer = self.profile.officer_id
        settings = self.settings
        lost = self._no_contact.update(reading.sensor_contact is SensorContact.NOT_DETECTED, now_ns)
        if lost >= settings.contact_lost_after_s:
            self.engine.raise_alert(
                officer,
                AlertKind.SENSOR_CONTACT_LOST,
                Severity.WARNING,
                f"no skin contact for {lost:.0f} s",
                CONTACT,
            )
        elif lost == 0:
            self.engine.clear(officer, AlertKind.SENSOR_CONTACT_LOST, "contact restored")
        if reading.sensor_contact is SensorContact.NOT_DETECTED:
            return
        bpm = reading.heart_rate_bpm
        self._per_minute(bpm, now_ns)
        # A high rate is expected in a foot pursuit; while still or barely moving it is not.
        resting = self.intensity in (Intensity.STILL, Intensity.LIGHT)
        limit = self.profile.max_hr_bpm * (settings.tachycardia_fraction_of_max if resting else 1.0)
        high = self._tachy.update(bpm > limit, now_ns)
        if high >= settings.heart_rate_sustain_s:
            context = "at rest" if resting else "above maximum"
            self.engine.raise_alert(
                officer,
                AlertKind.TACHYCARDIA,
                Severity.HIGH if resting else Severity.WARNING,
                f"heart rate {bpm} bpm {context} for {high:.0f} s",
                HEART,
                location=self._alert_location(),
            )
        elif bpm < limit - 10:
            self.engine.clear(officer, AlertKind.TACHYCARDIA, f"heart rate back to {bpm} bpm")
        low = self._brady.update(bpm < settings.bradycardia_bpm, now_ns)
        if low >= settings.heart_rate_sustain_s:
            self.engine.raise_alert(
                officer,
                AlertKind.BRADYCARDIA,
                Severity.HIGH,
                f"heart rate {bpm} bpm for {low:.0f} s",
                HEART,
                location=self._alert_location(),
            )
        elif bpm >= settings.bradycardia_bpm + 5:
            self.engine.clear(officer, AlertKind.BRADYCARDIA, f"heart rate back to {bpm} bpm")

    def _per_minute(self, bpm: int, now_ns: int) -> None:
        """Close each minute: its mean HR into the core-temperature filter, then PSI."""
        minute = now_ns // int(self.settings.physiology_step_s * NS_PER_S)
        if self._minute is not None and minute != self._minute and self._minute_hr:
            mean = sum(self._minute_hr) / len(self._minute_hr)
            assert self._core is not None
            measured = self._measured_core
            if measured is not None and now_ns - measured[1] > MEASURED_CORE_FRESH_S * NS_PER_S:
                measured = None  # the CORE went quiet: back to the estimate
            try:
                estimate = self._core.update(mean)
                # A measured core temperature beats the estimate from heart rate (docs/alerts.md).
                core = measured[0] if measured is not None else estimate
                psi = physiological_strain_index(
                    core, mean, self.settings.initial_core_temp_c, self.profile.resting_hr_bpm
                )
            except ValueError:  # a minute's mean outside the model's range: skip that minute
                self._minute, self._minute_hr = minute, [bpm]
                return
            self.emit_points(
                [
                    PHYSIOLOGY.point(
                        self.tags,
                        {
                            "core_temp_c": round(estimate, 3),
                            "psi": round(psi, 2),
                            "psi_core": "measured" if measured is not None else "estimate",
                            "hr_mean_bpm": round(mean, 1),
                        },
                        now_ns,
                    )
                ]
            )
            self._heat(psi, core, measured=measured is not None)
            self._minute_hr.clear()
        self._minute = minute
        self._minute_hr.append(bpm)

    def _heat(self, psi: float, core_c: float, *, measured: bool) -> None:
        settings, officer = self.settings, self.profile.officer_id
        source = "measured" if measured else "estimated"
        reason = f"PSI {psi:.1f}, {source} core {core_c:.2f} C"
        if psi >= settings.psi_alert:
            self.engine.raise_alert(
                officer,
                AlertKind.HEAT_STRAIN,
                Severity.HIGH,
                reason,
                HEAT,
                location=self._alert_location(),
            )
        elif psi >= settings.psi_warning:
            self.engine.raise_alert(
                officer,
                AlertKind.HEAT_STRAIN,
                Severity.WARNING,
                reason,
                HEAT,
                location=self._alert_location(),
            )
        elif psi < settings.psi_clear:
            self.engine.clear(officer, AlertKind.HEAT_STRAIN, f"strain eased: {reason}")

    def _battery(self, device: DeviceRef, pct: int) -> None:
        # Two thresholds (hysteresis): a battery hovering at 15 % must not flap the alert.
        officer = self.profile.officer_id
        if pct <= self.settings.low_battery_pct:
            self.engine.raise_alert(
                officer,
                AlertKind.LOW_BATTERY,
                Severity.WARNING,
                f"{device.profile.short_name} battery {pct} %",
                BATTERY,
                device_id=device.device_id,
            )
        elif pct >= self.settings.battery_clear_pct:
            self.engine.clear(
                officer,
                AlertKind.LOW_BATTERY,
                f"{device.profile.short_name} battery {pct} %",
                device.device_id,
            )


def officer_profile(
    officer_id: str, resting_hr_bpm: int, age_years: int | None, max_hr_bpm: int | None
) -> OfficerProfile:
    # Without an age or a measured maximum, Tanaka's formula at 40 years: the middle of a
    # working career, so thresholds err neither very high nor very low.
    return OfficerProfile(officer_id, resting_hr_bpm, max_heart_rate(age_years or 40, max_hr_bpm))
