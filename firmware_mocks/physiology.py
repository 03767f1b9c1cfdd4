"""The officer's body: heart rate with its kinetics, beat-to-beat RR intervals, core and skin heat.

Pure and deterministic: the model steps on a fixed grid of `STEP_S` simulated seconds, so its
output does not depend on how a caller chunks time. Equations and sources: docs/simulation.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from random import Random
from types import MappingProxyType
from typing import Final

from firmware_mocks.scenario import (
    TIME_TOLERANCE_S,
    Activity,
    Environment,
    OfficerOverride,
    Schedule,
    Segment,
)
from sensors import SafetyEventKind

STEP_S: Final = 0.5

# 1 MET = 3.5 mL O2/kg/min (ACSM), at about 20.1 J per mL of O2: 1.17 W per kg of body mass.
MET_W_PER_KG: Final = 1.17
TISSUE_HEAT_J_PER_KG_K: Final = 3490.0  # 0.97 W·h/(kg·K), Gagge et al. 1971
SKIN_MASS_FRACTION: Final = 0.1  # Gagge's skin compartment when vasodilated


@dataclass(frozen=True, slots=True)
class Exertion:
    """How hard an activity works the body.

    MET range from the 2011 Compendium of Physical Activities (Ainsworth et al.), police codes
    where there is one; air speed is the wind the officer makes by moving.
    """

    met_low: float
    met_high: float
    arousal_bpm: float = 0.0
    air_speed_mps: float = 0.0


EXERTION: Final[Mapping[Activity, Exertion]] = MappingProxyType(
    {
        # 11525 police, driving a squad car (2.5); 11526 riding in a squad car (1.3).
        Activity.DRIVING: Exertion(2.0, 2.5, arousal_bpm=4.0),
        Activity.SITTING_IN_VEHICLE: Exertion(1.3, 1.5),
        Activity.SITTING_DOWN: Exertion(1.5, 2.0),
        # 11520 police, directing traffic, standing (2.5); standing quietly 1.3.
        Activity.STANDING: Exertion(1.5, 2.5),
        # 17190-17200 walking 3.0-3.5 mph (3.5-4.3), a little more for the duty gear.
        Activity.WALKING: Exertion(3.5, 4.5, air_speed_mps=1.4),
        # 12050-12070 running 6-8 mph (9.8-11.8); a foot pursuit sprints above that.
        Activity.RUNNING: Exertion(9.5, 13.0, arousal_bpm=8.0, air_speed_mps=3.5),
        Activity.JUMPING: Exertion(8.0, 10.0, arousal_bpm=8.0, air_speed_mps=1.0),
        # 11528 making an arrest (4.0); a struggle is closer to 15730 wrestling (6.0).
        Activity.STRUGGLING: Exertion(6.0, 8.0, arousal_bpm=25.0, air_speed_mps=0.5),
        Activity.FALLING: Exertion(2.0, 2.0, arousal_bpm=10.0),
        Activity.LYING_STILL: Exertion(1.0, 1.0),
    }
)

# Sympathetic arousal beyond metabolic demand, as police heart rates show in critical incidents
# (Anderson, Litzenberger & Plecas 2002); it fades with AROUSAL_TAU_S.
AROUSAL_KICK_BPM: Final[Mapping[SafetyEventKind, float]] = MappingProxyType(
    {
        SafetyEventKind.PANIC_PRESS: 25.0,
        SafetyEventKind.HOLSTER_DRAW: 20.0,
    }
)
AROUSAL_TAU_S: Final = 180.0

# Hyperthermia raises heart rate by some 25-40 bpm per °C of core temperature, at rest or at a
# fixed workload (Rowell 1974; cardiovascular drift, Coyle & González-Alonso 2001).
HR_PER_CORE_C: Final = 28.0
HR_CEILING_BELOW_MAX_BPM: Final = 2.0

# RR variability: respiratory sinus arrhythmia (Hirsch & Bishop 1981), a 0.1 Hz baroreflex
# (Mayer) wave in the LF band (Task Force ESC/NASPE 1996) and beat-to-beat noise, all fading as
# vagal tone is withdrawn with exercise.
RSA_FRACTION_YOUNG: Final = 0.07
RSA_LOSS_PER_YEAR: Final = 0.0008
LF_FRACTION: Final = 0.02
LF_HZ: Final = 0.1
RR_NOISE_FRACTION: Final = 0.012
RR_MIN_S: Final = 0.25
RR_MAX_S: Final = 2.5
BREATHS_HZ_REST: Final = 0.25
BREATHS_HZ_GAIN: Final = 0.35

# The vest's skin sensor sits on the chest under body armour, which keeps it warmer than mean
# skin temperature (a modelling assumption); its error is a bias plus slow noise.
ARMOUR_SKIN_OFFSET_C: Final = 0.6
SKIN_SENSOR_BIAS_C: Final = 0.15
SKIN_NOISE_C: Final = 0.03
SKIN_NOISE_TAU_S: Final = 60.0

# The vehicle's air conditioning: still, dry air.
CABIN_AIR_SPEED_MPS: Final = 0.3
CABIN_MAX_HUMIDITY_PCT: Final = 50.0

WARMUP_STEP_S: Final = 5.0
WARMUP_MET: Final = 1.3  # sitting quietly (Ainsworth compendium of physical activities)
WARMUP_S: Final = 3 * 3600.0


@dataclass(frozen=True, slots=True)
class OfficerProfile:
    """The individual: what sets resting and maximal heart rate, heat capacity and fitness."""

    age_years: int
    resting_hr_bpm: float
    max_hr_bpm: float
    mass_kg: float
    height_m: float
    vo2max_ml_kg_min: float
    hr_tau_rise_s: float
    hr_tau_recovery_s: float
    core_set_point_c: float

    @property
    def body_surface_m2(self) -> float:
        """DuBois & DuBois (1916) body surface area."""
        return 0.202 * math.pow(self.mass_kg, 0.425) * math.pow(self.height_m, 0.725)

    @property
    def max_met(self) -> float:
        return self.vo2max_ml_kg_min / 3.5


def tanaka_max_hr(age_years: float) -> float:
    """Age-predicted maximal heart rate, 208 - 0.7 x age (Tanaka, Monahan & Seals 2001)."""
    return 208.0 - 0.7 * age_years


def draw_profile(override: OfficerOverride | None, rng: Random) -> OfficerProfile:
    """An officer's profile: measured values from `override`, the rest drawn from `rng`.

    Every value is drawn whether or not it is overridden, so overriding one leaves the others.
    """
    age = rng.randint(22, 58)
    resting = rng.uniform(52.0, 74.0)
    mass = rng.uniform(64.0, 102.0)
    height = rng.uniform(1.62, 1.94)
    vo2max = rng.gauss(48.0 - 0.25 * (age - 25), 4.0)
    # HR rises with a time constant of 20-40 s (like VO2 on-kinetics, Whipp & Wasserman 1972) and
    # recovers more slowly, 60-90 s (vagal reactivation, Imai et al. 1994).
    tau_rise = rng.uniform(20.0, 40.0)
    tau_recovery = rng.uniform(60.0, 90.0)
    set_point = rng.uniform(36.95, 37.15)
    o = override or OfficerOverride(index=0)
    age = o.age_years if o.age_years is not None else age
    return OfficerProfile(
        age_years=age,
        resting_hr_bpm=o.resting_hr_bpm if o.resting_hr_bpm is not None else resting,
        max_hr_bpm=o.max_hr_bpm if o.max_hr_bpm is not None else tanaka_max_hr(age),
        mass_kg=o.mass_kg if o.mass_kg is not None else mass,
        height_m=o.height_m if o.height_m is not None else height,
        vo2max_ml_kg_min=(
            o.vo2max_ml_kg_min if o.vo2max_ml_kg_min is not None else min(62.0, max(30.0, vo2max))
        ),
        hr_tau_rise_s=tau_rise,
        hr_tau_recovery_s=tau_recovery,
        core_set_point_c=set_point,
    )


def saturated_vapour_kpa(temperature_c: float) -> float:
    """Saturated water vapour pressure, the Antoine fit used in Gagge's two-node model."""
    return math.exp(16.6536 - 4030.183 / (temperature_c + 235.0))


class ThermalBody:
    """Gagge's two-node model (Gagge, Stolwijk & Nishi 1971; Gagge et al. 1986), simplified.

    Core and skin exchange heat through blood flow that vasodilation raises; the skin loses dry
    heat through the uniform and evaporates sweat up to what the humid air and the poorly
    permeable armour allow. Sustained work in the heat therefore stores heat in the core.
    """

    def __init__(self, profile: OfficerProfile, environment: Environment) -> None:
        self.profile = profile
        self.environment = environment
        self.core_c = profile.core_set_point_c
        self.skin_c = 33.7
        heat = profile.mass_kg * TISSUE_HEAT_J_PER_KG_K
        self._core_capacity = (1.0 - SKIN_MASS_FRACTION) * heat
        self._skin_capacity = SKIN_MASS_FRACTION * heat
        clo = environment.clothing_clo
        self._r_clothing = 0.155 * clo  # m²·K/W per clo
        self._f_clothing = 1.0 + 0.31 * clo  # clothing area factor (ASHRAE)
        # Lewis relation: 16.5 K/kPa links evaporative to convective transfer (ASHRAE).
        self._re_clothing = self._r_clothing / (16.5 * environment.clothing_im)

    def step(self, dt_s: float, met: float, in_vehicle: bool, air_speed_mps: float) -> None:
        """Integrate the heat balance over `dt_s` at metabolic rate `met`."""
        p, env = self.profile, self.environment
        area = p.body_surface_m2
        if in_vehicle:
            ta = env.vehicle_cabin_c
            humidity = min(env.relative_humidity_pct, CABIN_MAX_HUMIDITY_PCT)
            air = CABIN_AIR_SPEED_MPS
        else:
            ta = env.ambient_c
            humidity = env.relative_humidity_pct
            air = env.wind_mps + air_speed_mps
        tc, tsk = self.core_c, self.skin_c
        pa = humidity / 100.0 * saturated_vapour_kpa(ta)
        metabolic = met * MET_W_PER_KG * p.mass_kg
        # Respiratory convection and evaporation (Fanger 1970, ASHRAE Fundamentals).
        respiration = 0.0014 * metabolic * (34.0 - ta) + 0.0173 * metabolic * (5.87 - pa)
        warm_core = max(0.0, tc - p.core_set_point_c)
        cold_core = max(0.0, p.core_set_point_c - tc)
        warm_skin = max(0.0, tsk - 33.7)
        cold_skin = max(0.0, 33.7 - tsk)
        # Skin blood flow, L/(h·m²), and what it carries at 1.163 W·h/(L·K) (Gagge 1971).
        blood_flow = min(90.0, max(0.5, (6.3 + 200.0 * warm_core) / (1.0 + 0.5 * cold_skin)))
        conductance = (5.28 + 1.163 * blood_flow) * area
        shivering = 19.4 * cold_skin * cold_core * area
        h_convective = max(3.1, 8.3 * math.pow(air, 0.6))
        dry = (
            area * (tsk - ta) / (self._r_clothing + 1.0 / (self._f_clothing * (h_convective + 4.7)))
        )
        evaporation_max = (
            area
            * (saturated_vapour_kpa(tsk) - pa)
            / (self._re_clothing + 1.0 / (self._f_clothing * 16.5 * h_convective))
        )
        # Regulatory sweating, g/(h·m²), at 0.68 W·h/g of latent heat (Gagge 1986).
        sweat = min(500.0, 170.0 * warm_core * math.exp(warm_skin / 10.7))
        if evaporation_max > 0.0:
            wetness = min(1.0, 0.06 + 0.94 * 0.68 * sweat * area / evaporation_max)
            evaporation = wetness * evaporation_max
        else:
            evaporation = evaporation_max  # condensation onto the skin
        to_skin = conductance * (tc - tsk)
        self.core_c = (
            tc + (metabolic + shivering - respiration - to_skin) * dt_s / self._core_capacity
        )
        self.skin_c = tsk + (to_skin - dry - evaporation) * dt_s / self._skin_capacity


class Physiology:
    """Heart rate, RR intervals, core and skin temperature of one officer over the schedule."""

    def __init__(
        self,
        profile: OfficerProfile,
        environment: Environment,
        schedule: Schedule,
        arousal_kicks: Sequence[tuple[float, float]],
        rng: Random,
    ) -> None:
        self.profile = profile
        self._schedule = schedule
        self._kicks = sorted(arousal_kicks)
        self._rng = rng
        self._body = ThermalBody(profile, environment)
        self._steps = 0
        self._segment_index = 0
        first = schedule.segments[0]
        # Start the shift in equilibrium at rest in the cabin (the officer arrives rested), not
        # with the first activity: three hours of running in the heat before the shift even
        # begins would start the body past any survivable temperature.
        for _ in range(int(WARMUP_S / WARMUP_STEP_S)):
            self._body.step(WARMUP_STEP_S, WARMUP_MET, True, 0.0)
        self.heart_rate_bpm = self._target_hr(first, 0.0)
        self._rsa_fraction = max(
            0.02, RSA_FRACTION_YOUNG - RSA_LOSS_PER_YEAR * (profile.age_years - 20)
        )
        self._breath_phase = rng.uniform(0.0, math.tau)
        self._lf_phase = rng.uniform(0.0, math.tau)
        self._pending_rr_s = 60.0 / self.heart_rate_bpm
        self._next_beat_s = rng.uniform(0.0, self._pending_rr_s)
        self._beats: list[tuple[float, float]] = []
        self._skin_bias_c = rng.uniform(-SKIN_SENSOR_BIAS_C, SKIN_SENSOR_BIAS_C)
        self._skin_noise_c = 0.0
        self._energy_kj = 0.0

    @property
    def t_s(self) -> float:
        """Time of the latest grid step."""
        return self._steps * STEP_S

    @property
    def core_c(self) -> float:
        return self._body.core_c

    @property
    def skin_c(self) -> float:
        """Mean skin temperature (model state)."""
        return self._body.skin_c

    @property
    def chest_skin_sensor_c(self) -> float:
        """What the vest's chest skin sensor reads: skin under armour, bias and noise."""
        return self._body.skin_c + ARMOUR_SKIN_OFFSET_C + self._skin_bias_c + self._skin_noise_c

    def run_until(self, t_s: float) -> None:
        """Step the grid up to the last step at or before `t_s`."""
        while (self._steps + 1) * STEP_S <= t_s + TIME_TOLERANCE_S:
            self._step()

    @property
    def energy_kj(self) -> float:
        """Energy the officer has expended since the shift began (kJ): what a strap's counter
        estimates from heart rate, here taken from the metabolic rate itself."""
        return self._energy_kj

    def take_beats(self) -> list[tuple[float, float]]:
        """(time, RR interval) of every beat completed since the previous take, in seconds."""
        beats, self._beats = self._beats, []
        return beats

    def _segment(self, t_s: float) -> Segment:
        segments = self._schedule.segments
        i = self._segment_index
        while i + 1 < len(segments) and segments[i + 1].start_s <= t_s:
            i += 1
        self._segment_index = i
        return segments[i]

    def _step(self) -> None:
        t = self._steps * STEP_S
        segment = self._segment(t)
        self._beats_until(t, t + STEP_S)
        self._heat(STEP_S, segment)
        self._energy_kj += _met(segment) * MET_W_PER_KG * self.profile.mass_kg * STEP_S / 1000.0
        target = self._target_hr(segment, t + STEP_S)
        p = self.profile
        tau = p.hr_tau_rise_s if target > self.heart_rate_bpm else p.hr_tau_recovery_s
        self.heart_rate_bpm += (target - self.heart_rate_bpm) * (1.0 - math.exp(-STEP_S / tau))
        self._breath_phase = (self._breath_phase + math.tau * self._breaths_hz() * STEP_S) % (
            math.tau
        )
        decay = math.exp(-STEP_S / SKIN_NOISE_TAU_S)
        self._skin_noise_c = self._skin_noise_c * decay + SKIN_NOISE_C * math.sqrt(
            1.0 - decay * decay
        ) * self._rng.gauss(0.0, 1.0)
        self._steps += 1

    def _heat(self, dt_s: float, segment: Segment) -> None:
        exertion = EXERTION[segment.activity]
        self._body.step(dt_s, _met(segment), segment.in_vehicle, exertion.air_speed_mps)

    def _target_hr(self, segment: Segment, t_s: float) -> float:
        """Where heart rate is heading: heart-rate reserve by %VO2 reserve, heat and arousal."""
        p = self.profile
        # %HRR equals %VO2R (Swain & Leutholtz 1997); resting VO2 is 1 MET.
        reserve = min(1.0, max(0.0, (_met(segment) - 1.0) / (p.max_met - 1.0)))
        thermal = HR_PER_CORE_C * max(0.0, self._body.core_c - p.core_set_point_c)
        arousal = EXERTION[segment.activity].arousal_bpm + self._arousal(t_s)
        target = p.resting_hr_bpm + (p.max_hr_bpm - p.resting_hr_bpm) * reserve + thermal + arousal
        return min(target, p.max_hr_bpm - HR_CEILING_BELOW_MAX_BPM)

    def _arousal(self, t_s: float) -> float:
        total = 0.0
        for at, bpm in self._kicks:
            if at > t_s:
                break
            if t_s - at < 10.0 * AROUSAL_TAU_S:
                total += bpm * math.exp(-(t_s - at) / AROUSAL_TAU_S)
        return total

    def _reserve_used(self) -> float:
        p = self.profile
        used = (self.heart_rate_bpm - p.resting_hr_bpm) / (p.max_hr_bpm - p.resting_hr_bpm)
        return min(1.0, max(0.0, used))

    def _breaths_hz(self) -> float:
        return BREATHS_HZ_REST + BREATHS_HZ_GAIN * self._reserve_used()

    def _beats_until(self, t0_s: float, t1_s: float) -> None:
        """Beats falling in (t0, t1], each RR drawn from the heart rate at t0 (beat by beat)."""
        if self._next_beat_s > t1_s:
            return
        rng = self._rng
        base_rr = 60.0 / self.heart_rate_bpm
        vagal = min(1.0, max(0.05, 1.0 - self._reserve_used() / 0.6))
        rsa = self._rsa_fraction * vagal
        lf = LF_FRACTION * vagal
        noise = RR_NOISE_FRACTION * (0.5 + 0.5 * vagal)
        breath_rate = math.tau * self._breaths_hz()
        while self._next_beat_s <= t1_s:
            beat = self._next_beat_s
            self._beats.append((beat, self._pending_rr_s))
            breath = self._breath_phase + breath_rate * (beat - t0_s)
            rr = base_rr * (
                1.0
                + rsa * math.sin(breath)
                + lf * math.sin(math.tau * LF_HZ * beat + self._lf_phase)
                + noise * rng.gauss(0.0, 1.0)
            )
            rr = min(RR_MAX_S, max(RR_MIN_S, rr))
            self._pending_rr_s = rr
            self._next_beat_s = beat + rr


def _met(segment: Segment) -> float:
    exertion = EXERTION[segment.activity]
    return exertion.met_low + segment.intensity * (exertion.met_high - exertion.met_low)
