"""Scenarios: what a simulated shift contains, read from TOML, and its expansion per officer.

A scenario is a frozen pydantic model loaded from `firmware_mocks/scenarios/<name>.toml` (package
data) or from any path. `build_schedule` turns it into one officer's timeline of activity
segments, which every model of the simulation reads. The TOML schema is in docs/simulation.md.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from os import PathLike
from pathlib import Path
from random import Random
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sensors import PROFILES, DeviceModel, HeartRateMeasurement, SafetyEventKind


class Activity(StrEnum):
    """What an officer is doing; every model (heart, motion, track) keys its tables on this."""

    DRIVING = "driving"
    SITTING_IN_VEHICLE = "sitting_in_vehicle"
    SITTING_DOWN = "sitting_down"
    STANDING = "standing"
    WALKING = "walking"
    RUNNING = "running"
    JUMPING = "jumping"
    STRUGGLING = "struggling"
    FALLING = "falling"
    LYING_STILL = "lying_still"


# Where the officer is: in the patrol vehicle (which then moves with them) or on foot.
IN_VEHICLE: Final = frozenset(
    {Activity.DRIVING, Activity.SITTING_IN_VEHICLE, Activity.SITTING_DOWN}
)

# Brief acts that leave the officer in a lasting state: (seconds the act takes, the state after).
LEAD_INS: Final[Mapping[Activity, tuple[float, Activity]]] = MappingProxyType(
    {
        Activity.FALLING: (2.0, Activity.LYING_STILL),
        Activity.SITTING_DOWN: (1.6, Activity.SITTING_IN_VEHICLE),
    }
)

ROUTINE: Final = "routine"
# Time summed from many small steps drifts by rounding; reaching a grid point 1 µs early is fine.
TIME_TOLERANCE_S: Final = 1e-6
SCENARIO_PACKAGE: Final = "firmware_mocks"
SCENARIO_FOLDER: Final = "scenarios"
_MAX_DURATION_S: Final = 7 * 24 * 3600.0


def _officers(value: Any) -> Any:
    if value == "all":
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return value
    raise ValueError('expected "all" or a list of officer indices, e.g. [0, 2]')


# "all", or officer indices (0-based, into the roster).
Officers = Annotated[
    Literal["all"] | tuple[Annotated[int, Field(ge=0)], ...], BeforeValidator(_officers)
]


def targets(officers: Officers, index: int) -> bool:
    """Whether a phase, event or fault addressed to `officers` concerns officer `index`."""
    return officers == "all" or index in officers


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Environment(_Model):
    """Weather outdoors, the vehicle's cabin, and the uniform (which limits evaporation)."""

    ambient_c: float = Field(ge=-40, le=55)
    relative_humidity_pct: float = Field(ge=0, le=100)
    wind_mps: float = Field(default=1.0, ge=0, le=30)
    vehicle_cabin_c: float = Field(default=22.0, ge=-20, le=60)
    # Uniform plus body armour: about 1 clo; armour makes the ensemble poorly permeable to vapour.
    clothing_clo: float = Field(default=1.0, ge=0.1, le=3.0)
    clothing_im: float = Field(default=0.3, gt=0.05, le=0.6)


class Area(_Model):
    """The synthetic patrol area: where the vehicles start and roam. All locations are invented."""

    latitude_deg: float = Field(default=40.0, ge=-80, le=80)
    longitude_deg: float = Field(default=-75.0, ge=-180, le=180)
    elevation_m: float = Field(default=60.0, ge=-400, le=5000)
    start_spread_m: float = Field(default=1500.0, ge=0, le=50_000)
    patrol_radius_m: float = Field(default=4000.0, gt=100, le=100_000)


# Scenarios name a device by its model's short name ("vest", "helmet", "hrs", "core"): the
# profiles' own, so a new model in sensors/profiles.py is nameable here without an edit.
DEVICE_NAMES: Final[Mapping[str, DeviceModel]] = MappingProxyType(
    {profile.short_name: model for model, profile in PROFILES.items()}
)
# What every officer wears unless the roster says otherwise: the documented Bluewatch pair.
DEFAULT_KIT: Final = (DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET)
# A fault addressed to "all" (or "both", its older spelling) concerns every device worn.
EVERY_DEVICE: Final = frozenset({"all", "both"})


def _distinct(kit: tuple[DeviceModel, ...]) -> tuple[DeviceModel, ...]:
    twice = sorted({m.value for m in kit if kit.count(m) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} named twice; an officer wears one of each model")
    return kit


# The device models one officer wears: at least one, each model once.
Kit = Annotated[tuple[DeviceModel, ...], Field(min_length=1), AfterValidator(_distinct)]


def _device_name(value: str) -> str:
    if value not in DEVICE_NAMES:
        raise ValueError(f"expected a device of a kit: {', '.join(sorted(DEVICE_NAMES))}")
    return value


# A device named by its model's short name.
DeviceName = Annotated[str, AfterValidator(_device_name)]


def _heart_rate_device(value: str) -> str:
    value = _device_name(value)
    if not any(s.codec is HeartRateMeasurement for s in PROFILES[DEVICE_NAMES[value]].notified()):
        raise ValueError(f"a {value} sends no heart rate")
    return value


# A device that notifies Heart Rate Measurements (the vest, a strap).
HeartRateDeviceName = Annotated[str, AfterValidator(_heart_rate_device)]


def _fault_device(value: str) -> str:
    return value if value in EVERY_DEVICE else _device_name(value)


class OfficerOverride(_Model):
    """Measured facts about one officer, and what they wear; anything left out is drawn from
    the seed (or, for the kit, the roster's)."""

    index: int = Field(ge=0)
    age_years: int | None = Field(default=None, ge=18, le=70)
    resting_hr_bpm: float | None = Field(default=None, ge=35, le=100)
    max_hr_bpm: float | None = Field(default=None, ge=120, le=230)
    mass_kg: float | None = Field(default=None, ge=40, le=160)
    height_m: float | None = Field(default=None, ge=1.4, le=2.2)
    vo2max_ml_kg_min: float | None = Field(default=None, ge=20, le=80)
    kit: Kit | None = None


class Roster(_Model):
    size: int = Field(ge=1, le=256)
    # What every officer wears, unless their override names a kit of their own.
    kit: Kit = DEFAULT_KIT
    officers: tuple[OfficerOverride, ...] = ()

    def override(self, index: int) -> OfficerOverride | None:
        return next((o for o in self.officers if o.index == index), None)

    def kit_of(self, index: int) -> tuple[DeviceModel, ...]:
        """The models officer `index` wears, in the order the scenario lists them."""
        override = self.override(index)
        return override.kit if override is not None and override.kit is not None else self.kit

    def wears(self, index: int, device: str) -> bool:
        """Whether officer `index` wears the device named `device` (a short name)."""
        return DEVICE_NAMES[device] in self.kit_of(index)


class RoutineStep(_Model):
    """One step of the background routine: an activity for a duration drawn in [low, high]."""

    activity: Activity
    duration_s: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]
    # The chance that an officer does this step in a given round of the routine.
    probability: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.duration_s[0] > self.duration_s[1]:
            raise ValueError("duration_s: [low, high] needs low <= high")
        return self


def _phase_activity(value: str) -> str:
    if value != ROUTINE and value not in {a.value for a in Activity}:
        known = ", ".join(a.value for a in Activity)
        raise ValueError(f'expected an activity ({known}) or "{ROUTINE}"')
    return value


# An activity, or "routine" to hand the officer back to the background routine.
PhaseActivity = Annotated[str, AfterValidator(_phase_activity)]


class Phase(_Model):
    """From `at_s`, the targeted officers do `activity` until their next phase (or `duration_s`).

    `activity = "routine"` hands them back to the background routine.
    """

    at_s: float = Field(ge=0)
    activity: PhaseActivity
    officers: Officers
    duration_s: float | None = Field(default=None, gt=0)
    # For a fall: whether the vest's own fall detector flags it (sends fall_detected).
    fall_flag: bool = False

    @model_validator(mode="after")
    def _flag_on_falls_only(self) -> Self:
        if self.fall_flag and self.activity != Activity.FALLING:
            raise ValueError('fall_flag: only a "falling" phase can set the fall flag')
        return self


# Which device sends which event (docs/gatt-profile.md): impacts the helmet, the rest the vest.
EVENT_DEVICE: Final[Mapping[SafetyEventKind, str]] = MappingProxyType(
    {
        SafetyEventKind.PANIC_PRESS: "vest",
        SafetyEventKind.HOLSTER_DRAW: "vest",
        SafetyEventKind.HOLSTER_RETURN: "vest",
        SafetyEventKind.IM_OK_PRESS: "vest",
        SafetyEventKind.FALL_DETECTED: "vest",
        SafetyEventKind.IMPACT: "helmet",
    }
)


class ScheduledEvent(_Model):
    """A safety event a device sends at `at_s`; falls and impacts carry their measured peak."""

    at_s: float = Field(ge=0)
    kind: SafetyEventKind
    device: DeviceName
    officers: Officers
    # Reported as given; when left out, a fall or impact reports the peak of its own samples.
    peak_accel_g: float | None = Field(default=None, ge=0, le=655)

    @model_validator(mode="after")
    def _device_sends_kind(self) -> Self:
        expected = EVENT_DEVICE[self.kind]
        if self.device != expected:
            raise ValueError(f"device: {self.kind.value} is sent by the {expected}")
        return self


# A device's short name, or "all" ("both") for every device the officer wears.
FaultDevice = Annotated[str, AfterValidator(_fault_device)]


class _Fault(_Model):
    at_s: float = Field(ge=0)
    device: FaultDevice
    officers: Officers

    def concerns(self, device: DeviceModel) -> bool:
        return self.device in EVERY_DEVICE or self.device == PROFILES[device].short_name


class DropoutFault(_Fault):
    """The radio link drops for `duration_s`; the device keeps running (no reboot)."""

    kind: Literal["dropout"]
    duration_s: float = Field(gt=0)


class PowerCycleFault(_Fault):
    """The device is off for `duration_s`, then boots: boot count +1, clock from zero."""

    kind: Literal["power_cycle"]
    duration_s: float = Field(gt=0)


class MalformedFault(_Fault):
    """Every `every_n`-th notification is sent malformed, for `duration_s` (else to the end)."""

    kind: Literal["malformed"]
    every_n: int = Field(ge=1)
    duration_s: float | None = Field(default=None, gt=0)


class ClockSkewFault(_Fault):
    """The device clock runs fast (+) or slow (-) by `ppm`, for `duration_s` (else to the end)."""

    kind: Literal["clock_skew"]
    ppm: float = Field(ge=-10_000, le=10_000)
    duration_s: float | None = Field(default=None, gt=0)


class LowBatteryFault(_Fault):
    """At `at_s` the battery reads `start_pct` and drains at `drain_pct_per_h`; at 0 % it dies."""

    kind: Literal["low_battery"]
    start_pct: float | None = Field(default=None, ge=0, le=100)
    drain_pct_per_h: float = Field(ge=0, le=10_000)
    duration_s: float | None = Field(default=None, gt=0)


class ContactLossFault(_Fault):
    """A heart-rate device (the vest, a strap) slips off the skin for `duration_s` (else to the
    end): its heart-rate notifications say "sensor contact not detected", no rate, no beats."""

    kind: Literal["contact_loss"]
    device: HeartRateDeviceName
    duration_s: float | None = Field(default=None, gt=0)


class SpuriousRrFault(_Fault):
    """A heart-rate device adds a short spurious RR interval (`rr_ms`) beside the real ones in
    every `every_n`-th notification that carries beats, for `duration_s` (else to the end): a
    Garmin HRM-Dual sends 52 ms beside 1,044 ms (docs/core-and-hrs.md)."""

    kind: Literal["spurious_rr"]
    device: HeartRateDeviceName
    rr_ms: float = Field(default=52.0, ge=1, le=250)
    every_n: int = Field(default=1, ge=1)
    duration_s: float | None = Field(default=None, gt=0)


Fault = Annotated[
    DropoutFault
    | PowerCycleFault
    | MalformedFault
    | ClockSkewFault
    | LowBatteryFault
    | ContactLossFault
    | SpuriousRrFault,
    Field(discriminator="kind"),
]


class Devices(_Model):
    """Device settings shared by the roster: impact threshold and battery."""

    helmet_impact_threshold_g: float = Field(default=3.0, gt=0, le=32)
    vest_drain_pct_per_h: float = Field(default=3.0, ge=0, le=100)
    helmet_drain_pct_per_h: float = Field(default=6.0, ge=0, le=100)
    # Every other model: a strap's coin cell lasts hundreds of hours, a CORE a week per charge.
    sensor_drain_pct_per_h: float = Field(default=0.5, ge=0, le=100)
    battery_start_pct: tuple[
        Annotated[float, Field(ge=0, le=100)], Annotated[float, Field(ge=0, le=100)]
    ] = (85.0, 100.0)

    def drain_pct_per_h(self, model: DeviceModel) -> float:
        """How fast a device of `model` drains its battery in normal use."""
        if model is DeviceModel.BLUEWATCH_VEST:
            return self.vest_drain_pct_per_h
        if model is DeviceModel.BLUEWATCH_HELMET:
            return self.helmet_drain_pct_per_h
        return self.sensor_drain_pct_per_h


class Scenario(_Model):
    """One simulated shift: environment, roster, background routine, timeline, events, faults."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str
    duration_s: float = Field(gt=0, le=_MAX_DURATION_S)
    # Default speed-up of simulated time over wall-clock time for live runs.
    time_scale: float = Field(default=1.0, gt=0, le=10_000)
    environment: Environment
    area: Area = Area()
    roster: Roster
    routine: tuple[RoutineStep, ...] = Field(min_length=1)
    timeline: tuple[Phase, ...] = ()
    events: tuple[ScheduledEvent, ...] = ()
    faults: tuple[Fault, ...] = ()
    devices: Devices = Devices()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        size = self.roster.size
        sections: list[tuple[str, Sequence[Phase | ScheduledEvent | _Fault]]] = [
            ("timeline", self.timeline),
            ("events", self.events),
            ("faults", self.faults),
        ]
        for section, items in sections:
            for i, item in enumerate(items):
                if item.at_s >= self.duration_s:
                    raise ValueError(
                        f"{section}[{i}].at_s: {item.at_s:g} is not before the end of the "
                        f"scenario (duration_s = {self.duration_s:g})"
                    )
                outside = [o for o in item.officers if o >= size] if item.officers != "all" else []
                if outside:
                    raise ValueError(
                        f"{section}[{i}].officers: {outside} outside the roster (size {size})"
                    )
        seen: set[int] = set()
        for i, officer in enumerate(self.roster.officers):
            if officer.index >= size:
                raise ValueError(
                    f"roster.officers[{i}].index: {officer.index} is outside the roster "
                    f"(size {size})"
                )
            if officer.index in seen:
                raise ValueError(
                    f"roster.officers[{i}].index: officer {officer.index} is given twice"
                )
            seen.add(officer.index)
        self._devices_worn()
        if all(step.probability == 0 for step in self.routine):
            raise ValueError("routine: at least one step needs a probability above 0")
        return self

    def _devices_worn(self) -> None:
        """An event or fault aimed at named officers must name a device each of them wears; one
        aimed at "all" concerns only the officers who wear it (a fleet-wide drill of the panic
        button skips the officer who wears a strap alone)."""
        sections: list[tuple[str, Sequence[ScheduledEvent | _Fault]]] = [
            ("events", self.events),
            ("faults", self.faults),
        ]
        for section, items in sections:
            for i, item in enumerate(items):
                if item.officers == "all" or item.device in EVERY_DEVICE:
                    continue
                bare = [o for o in item.officers if not self.roster.wears(o, item.device)]
                if bare:
                    raise ValueError(
                        f"{section}[{i}].device: officer {bare[0]} wears no {item.device} "
                        f"(kit: {', '.join(m.value for m in self.roster.kit_of(bare[0]))})"
                    )


class ScenarioError(ValueError):
    """A scenario file that cannot be read or is invalid; the message names the file and key."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


def list_scenarios() -> list[str]:
    """The names of the scenarios shipped with the package, sorted."""
    folder = resources.files(SCENARIO_PACKAGE).joinpath(SCENARIO_FOLDER)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".toml")
    )


def load_scenario(name_or_path: str | PathLike[str]) -> Scenario:
    """A shipped scenario by name (`"patrol-shift"`) or any scenario file by path.

    Raises ScenarioError naming the file and the offending key.
    """
    text_name = str(name_or_path)
    if isinstance(name_or_path, PathLike) or text_name.endswith(".toml") or "/" in text_name:
        path = Path(name_or_path)
        source = str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ScenarioError(source, None, f"cannot read: {exc.strerror or exc}") from None
    else:
        source = f"{SCENARIO_PACKAGE}/{SCENARIO_FOLDER}/{text_name}.toml"
        entry = resources.files(SCENARIO_PACKAGE).joinpath(SCENARIO_FOLDER, f"{text_name}.toml")
        if not entry.is_file():
            known = ", ".join(list_scenarios())
            raise ScenarioError(source, None, f"no scenario {text_name!r}; known: {known}")
        raw = entry.read_bytes()
    return parse_scenario(raw, source)


def parse_scenario(raw: bytes, source: str) -> Scenario:
    """Validate the TOML text of one scenario; `source` names it in error messages."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, None, f"not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, None, f"invalid TOML: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        key, problem = _describe(exc, data)
        raise ScenarioError(source, key, problem) from None


# A check across fields states its key first: "timeline[2].officers: officer 7 is outside...".
_KEYED_MESSAGE: Final = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def _describe(exc: ValidationError, data: Any) -> tuple[str | None, str]:
    """The TOML key and a one-line problem for the first error of a validation."""
    # Drop follow-on errors about a container one of whose elements already failed.
    errors = [
        e
        for e in exc.errors()
        if not any(
            len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"]
            for o in exc.errors()
        )
    ]
    first = errors[0]
    key = _key_path(data, first["loc"])
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        key += ".kind"
    problem = first["msg"].removeprefix("Value error, ")
    keyed = _KEYED_MESSAGE.match(problem)
    if keyed:
        key = f"{key}.{keyed[1]}" if key else keyed[1]
        problem = keyed[2]
    given = first.get("input")
    if first["type"] != "missing" and not isinstance(given, dict | list):
        problem += f" (got {given!r})"
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return key or None, problem


def _key_path(data: Any, loc: Sequence[int | str]) -> str:
    """The TOML key of an error location, skipping the union tags pydantic adds to it."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            parts.append(f"[{part}]")
            node = node[part]
        elif isinstance(node, dict) and part in node:
            parts.append(f".{part}" if parts else str(part))
            node = node[part]
        elif i == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict):
            parts.append(f".{part}" if parts else part)  # a missing or unexpected key
        # else: a tag of a union (e.g. the fault kind), not a key of the file
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a single activity in an officer's schedule.

    `intensity` (0..1, drawn per segment) places the segment within its activity's ranges, so a
    brisk walk is brisk for the heart, the accelerometer and the GPS alike.
    """

    start_s: float
    end_s: float
    activity: Activity
    intensity: float
    fall_flag: bool = False

    @property
    def in_vehicle(self) -> bool:
        return self.activity in IN_VEHICLE


class Schedule:
    """An officer's whole shift as contiguous segments from 0 to the scenario's end."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        if not segments:
            raise ValueError("a schedule needs at least one segment")
        self.segments: tuple[Segment, ...] = tuple(segments)
        self._starts = [s.start_s for s in self.segments]

    def index_at(self, t_s: float) -> int:
        """Index of the segment in force at `t_s`; the last one continues past the end."""
        return max(0, bisect.bisect_right(self._starts, t_s) - 1)

    def at(self, t_s: float) -> Segment:
        return self.segments[self.index_at(t_s)]

    def __len__(self) -> int:
        return len(self.segments)


def build_schedule(scenario: Scenario, officer_index: int, rng: Random) -> Schedule:
    """Expand the routine and the timeline into one officer's segments (deterministic in rng)."""
    end = scenario.duration_s
    pieces = _overlay(_routine(scenario, rng), _phases(scenario, officer_index), end)
    segments: list[Segment] = []
    for start, stop, activity, fall_flag in pieces:
        lead = LEAD_INS.get(activity)
        if lead is not None and stop - start > lead[0]:
            segments.append(Segment(start, start + lead[0], activity, rng.random(), fall_flag))
            segments.append(Segment(start + lead[0], stop, lead[1], rng.random()))
        elif stop - start > 1e-9:
            segments.append(Segment(start, stop, activity, rng.random(), fall_flag))
    return Schedule(segments)


_Piece = tuple[float, float, Activity, bool]


def _routine(scenario: Scenario, rng: Random) -> list[_Piece]:
    # Each officer enters the cycle at a random step and point, so a roster does not move in step.
    steps = scenario.routine
    step = rng.randrange(len(steps))
    t = -rng.uniform(*steps[step].duration_s) * rng.random()
    pieces: list[_Piece] = []
    skipped = 0
    while t < scenario.duration_s:
        current = steps[step % len(steps)]
        step += 1
        length = rng.uniform(*current.duration_s)
        if rng.random() >= current.probability and skipped < len(steps):
            skipped += 1
            continue
        skipped = 0
        if t + length > 0:
            pieces.append((max(t, 0.0), t + length, current.activity, False))
        t += length
    return pieces


def _phases(scenario: Scenario, index: int) -> list[_Piece]:
    mine = sorted(
        (p for p in scenario.timeline if targets(p.officers, index)), key=lambda p: p.at_s
    )
    pieces: list[_Piece] = []
    for i, phase in enumerate(mine):
        stop = mine[i + 1].at_s if i + 1 < len(mine) else scenario.duration_s
        if phase.duration_s is not None:
            stop = min(stop, phase.at_s + phase.duration_s)
        if phase.activity != ROUTINE and stop > phase.at_s:
            pieces.append((phase.at_s, stop, Activity(phase.activity), phase.fall_flag))
    return pieces


def _overlay(base: list[_Piece], overrides: list[_Piece], end: float) -> list[_Piece]:
    """`base` with the (disjoint, sorted) `overrides` cut in, clipped to [0, end]."""
    out: list[_Piece] = []
    for start, stop, activity, flag in base:
        cursor = start
        for o_start, o_stop, _, _ in overrides:
            if o_stop <= cursor or o_start >= stop:
                continue
            if o_start > cursor:
                out.append((cursor, o_start, activity, flag))
            cursor = max(cursor, o_stop)
        if cursor < stop:
            out.append((cursor, stop, activity, flag))
    out.extend(overrides)
    out.sort(key=lambda piece: piece[0])
    return [(s, min(e, end), a, f) for s, e, a, f in out if s < end]
