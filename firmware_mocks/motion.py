"""Body motion as the vest's and the helmet's accelerometers see it, in g, in each device's frame.

The body frame is x forward, y left, z up along the trunk. An accelerometer measures specific
force: +1 g "up" at rest, about 0 g in free fall. Body motion is a pure function of time over the
officer's schedule (no hidden state), so any window of samples can be rendered, in any order and
as often as needed, with identical results; noise is drawn per block of sample indices. Each
device sees the body through its own fixed, random mounting rotation. Shapes and amplitudes are
documented, with their sources, in docs/simulation.md.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import Random
from statistics import NormalDist
from types import MappingProxyType
from typing import Final

from firmware_mocks.scenario import Activity, Schedule, Segment

Vec = tuple[float, float, float]
Series = list[float]
VEST: Final = 0
HELMET: Final = 1

# ~1 mg of MEMS noise (~200 µg/√Hz over 25 Hz) plus strap micro-motion and quantisation.
SENSOR_NOISE_G: Final = 0.003
SENSOR_BIAS_G: Final = 0.02  # zero-g offset left after factory calibration
SENSOR_SCALE_ERROR: Final = 0.015
MIN_TILT_FROM_AXES_DEG: Final = 15.0
POSTURE_BLEND_S: Final = 1.0
NOISE_BLOCK: Final = 256  # samples per independently seeded block of noise

# Falls (cf. Bourke et al. 2007; Kangas et al. 2008; the SisFall recordings): a stumble, a
# 0.3-0.5 s descent in near free fall, an impact spike, the trunk ending 70-90° from where it was.
FALL_STUMBLE_S: Final = 0.25
FALL_FREE_FALL_S: Final = (0.3, 0.5)
FALL_MIN_G: Final = (0.05, 0.3)
FALL_IMPACT_S: Final = 0.1
FALL_TILT_DEG: Final = (70.0, 90.0)
FALL_VEST_PEAK_G: Final = (4.0, 8.0)
# The head meets the ground harder than the trunk (and the helmet shell rings): 1.1-1.8x.
FALL_HELMET_FACTOR: Final = (1.1, 1.8)
FALL_HELMET_MAX_G: Final = 16.0


def _standard_normal_table(size: int) -> tuple[float, ...]:
    """`size` equiprobable standard-normal quantiles, rescaled to unit variance."""
    quantiles = [NormalDist().inv_cdf((i + 0.5) / size) for i in range(size)]
    scale = math.sqrt(sum(q * q for q in quantiles) / size)
    return tuple(q / scale for q in quantiles)


# Indexed by random bytes: Gaussian noise at the cost of a byte lookup.
NORMAL_BYTES: Final = _standard_normal_table(256)


@dataclass(frozen=True, slots=True)
class SegmentMotion:
    """One schedule segment's motion parameters, drawn once so rendering is a pure function."""

    start_s: float
    end_s: float
    render: Renderer
    posture_from: Vec
    posture: Vec
    blend_end_s: float
    freq_hz: float
    amp_g: float
    phases: tuple[float, ...]
    # Style-specific shape parameters (stance fraction, free-fall time...).
    shape: tuple[float, ...]
    # Peak g of the segment's impacts as the vest and the helmet see them.
    peaks_g: tuple[float, float]
    broadband_g: float


Renderer = Callable[[SegmentMotion, Sequence[float], int], tuple[Series, Series, Series]]


@dataclass(frozen=True, slots=True)
class Transient:
    """A short jolt (a bump in the road, a door slam): a half-sine of `amp_g` along `direction`."""

    start_s: float
    duration_s: float
    direction: Vec
    amp_g: float


@dataclass(frozen=True, slots=True)
class FallImpact:
    """When a scripted fall hits the ground, and whether the vest flags it itself."""

    t_s: float
    fall_flag: bool


def _normalize(v: Vec) -> Vec:
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (v[0] / n, v[1] / n, v[2] / n)


def _cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _lean(pitch_deg: float) -> Vec:
    """The "up" direction in the body frame with the trunk leaning forward by `pitch_deg`."""
    p = math.radians(pitch_deg)
    return (-math.sin(p), 0.0, math.cos(p))


def _blend(a: Vec, b: Vec, w: float) -> Vec:
    return _normalize(
        (a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w, a[2] + (b[2] - a[2]) * w)
    )


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def _compose(
    seg: SegmentMotion, ts: Sequence[float], v: Series, fwd: Series, left: Series
) -> tuple[Series, Series, Series]:
    """Specific force = up x v + forward x fwd + left x left, with the posture blended in."""
    ux, uy, uz = seg.posture
    if ts[0] >= seg.blend_end_s:
        return (
            [ux * a + b for a, b in zip(v, fwd, strict=True)],
            [uy * a + b for a, b in zip(v, left, strict=True)],
            [uz * a for a in v],
        )
    xs, ys, zs = [], [], []
    span = seg.blend_end_s - seg.start_s
    for t, a, b, c in zip(ts, v, fwd, left, strict=True):
        if t < seg.blend_end_s:
            ux, uy, uz = _blend(
                seg.posture_from, seg.posture, _smoothstep((t - seg.start_s) / span)
            )
        else:
            ux, uy, uz = seg.posture
        xs.append(ux * a + b)
        ys.append(uy * a + c)
        zs.append(uz * a)
    return xs, ys, zs


def _still(seg: SegmentMotion, ts: Sequence[float], device: int) -> tuple[Series, Series, Series]:
    """Standing sway, sitting, lying: posture plus slow sway (none at all when lying)."""
    n = len(ts)
    if seg.amp_g == 0.0:
        return _compose(seg, ts, [1.0] * n, [0.0] * n, [0.0] * n)
    a = seg.amp_g
    p = seg.phases
    w1, w2, w3 = (math.tau * seg.freq_hz * k for k in (1.0, 0.73, 1.37))
    sin = math.sin
    v = [1.0 + 0.3 * a * sin(w1 * t + p[0]) for t in ts]
    fwd = [a * sin(w2 * t + p[1]) for t in ts]
    left = [0.7 * a * sin(w3 * t + p[2]) for t in ts]
    return _compose(seg, ts, v, fwd, left)


def _vehicle(seg: SegmentMotion, ts: Sequence[float], device: int) -> tuple[Series, Series, Series]:
    """Road and engine vibration (body bounce ~1-2 Hz, seat and engine 10-17 Hz), plus slow
    longitudinal (braking, accelerating) and lateral (cornering) forces."""
    a = seg.amp_g
    p = seg.phases
    f = seg.freq_hz
    w1, w2, w3 = math.tau * f, math.tau * 2.3 * f, math.tau * 9.7 * f
    wl, wc = math.tau * seg.shape[0], math.tau * seg.shape[1]
    lon, lat = seg.shape[2], seg.shape[3]
    sin = math.sin
    v = [
        1.0 + a * (sin(w1 * t + p[0]) + 0.6 * sin(w2 * t + p[1]) + 0.4 * sin(w3 * t + p[2]))
        for t in ts
    ]
    fwd = [lon * sin(wl * t + p[3]) for t in ts]
    left = [lat * sin(wc * t + p[4]) for t in ts]
    return _compose(seg, ts, v, fwd, left)


def _walk(seg: SegmentMotion, ts: Sequence[float], device: int) -> tuple[Series, Series, Series]:
    """Walking: vertical and fore-aft at the step frequency, side to side at the stride
    frequency (half of it), as trunk accelerometry shows (Menz, Lord & Fitzpatrick 2003)."""
    a = seg.amp_g
    w = math.tau * seg.freq_hz
    t0 = seg.start_s
    p = seg.phases
    sin = math.sin
    thetas = [w * (t - t0) + p[0] for t in ts]
    v = [1.0 + a * sin(th) + 0.25 * a * sin(2.0 * th + p[1]) for th in thetas]
    fwd = [0.5 * a * sin(th + 1.3) for th in thetas]
    left = [0.12 * sin(0.5 * th + p[2]) for th in thetas]
    return _compose(seg, ts, v, fwd, left)


def _run(seg: SegmentMotion, ts: Sequence[float], device: int) -> tuple[Series, Series, Series]:
    """Running: a half-sine ground reaction during stance, near 0 g in flight.

    The stance peak follows from the impulse balance (the mean over a step is 1 g): with stance
    fraction s and flight at g_f, peak = (1 - g_f(1 - s)) x pi / (2s), i.e. 3.0-3.7 g.
    """
    stance, flight, peak = seg.shape[0], seg.shape[1], seg.amp_g
    f = seg.freq_hz
    t0 = seg.start_s
    p0 = seg.phases[0]
    sin = math.sin
    pi = math.pi
    v: Series = []
    fwd: Series = []
    left: Series = []
    for t in ts:
        steps = f * (t - t0) + p0
        q = steps - math.floor(steps)
        if q < stance:
            v.append(peak * sin(pi * q / stance))
            fwd.append(-0.5 * sin(2.0 * pi * q / stance))
        else:
            v.append(flight)
            fwd.append(0.0)
        left.append(0.25 * sin(pi * steps))
    return _compose(seg, ts, v, fwd, left)


def _jump(seg: SegmentMotion, ts: Sequence[float], device: int) -> tuple[Series, Series, Series]:
    """Repeated jumps (a fence, a wall): push-off, flight near 0 g, a 3-5 g landing, recovery."""
    period = 1.0 / seg.freq_hz
    flight_s = seg.shape[0]
    landing = seg.peaks_g[device]
    push_s, land_s = 0.25, 0.08
    land_at = push_s + flight_s
    settle_at = land_at + land_s
    t0 = seg.start_s - seg.phases[0] * period
    sin, exp, pi = math.sin, math.exp, math.pi
    v: Series = []
    fwd: Series = []
    for t in ts:
        tau = (t - t0) % period
        if tau < push_s:
            v.append(1.0 + 0.9 * sin(pi * tau / push_s))
            fwd.append(0.3 * sin(pi * tau / push_s))
        elif tau < land_at:
            v.append(0.05)
            fwd.append(0.0)
        elif tau < settle_at:
            v.append(0.05 + (landing - 0.05) * sin(pi * (tau - land_at) / land_s))
            fwd.append(0.0)
        else:
            e = tau - settle_at
            v.append(1.0 + 0.4 * exp(-e / 0.1) * sin(math.tau * 5.0 * e))
            fwd.append(0.0)
    return _compose(seg, ts, v, fwd, [0.0] * len(ts))


def _sit_down(
    seg: SegmentMotion, ts: Sequence[float], device: int
) -> tuple[Series, Series, Series]:
    """Sitting down hard: lowering (~0.65 g), the seat's 1.8-2.6 g jolt, a damped rebound, the
    trunk reclining ~20°: no free fall, no large tilt, and motion goes on after."""
    peak = seg.peaks_g[device]
    lower_s, hit_s = 0.4, 0.08
    sin, exp, pi = math.sin, math.exp, math.pi
    v: Series = []
    fwd: Series = []
    for t in ts:
        tau = t - seg.start_s
        if tau < lower_s:
            v.append(1.0 - 0.35 * sin(pi * tau / lower_s))
            fwd.append(0.15 * sin(pi * tau / lower_s))
        elif tau < lower_s + hit_s:
            v.append(1.0 + (peak - 1.0) * sin(pi * (tau - lower_s) / hit_s))
            fwd.append(0.0)
        else:
            e = tau - lower_s - hit_s
            v.append(1.0 + 0.3 * exp(-e / 0.12) * sin(math.tau * 4.0 * e))
            fwd.append(0.0)
    return _compose(seg, ts, v, fwd, [0.0] * len(ts))


def _struggle(
    seg: SegmentMotion, ts: Sequence[float], device: int
) -> tuple[Series, Series, Series]:
    """A scuffle: irregular pushes and pulls on every axis at 0.8-3 Hz."""
    a = seg.amp_g
    p = seg.phases
    w = [math.tau * f for f in seg.shape[:6]]
    sin = math.sin
    v = [1.0 + a * (0.6 * sin(w[0] * t + p[0]) + 0.4 * sin(w[1] * t + p[1])) for t in ts]
    fwd = [a * (sin(w[2] * t + p[2]) + 0.5 * sin(w[3] * t + p[3])) for t in ts]
    left = [a * (0.8 * sin(w[4] * t + p[4]) + 0.4 * sin(w[5] * t + p[5])) for t in ts]
    return _compose(seg, ts, v, fwd, left)


def _fall(seg: SegmentMotion, ts: Sequence[float], device: int) -> tuple[Series, Series, Series]:
    """A fall: stumble, near free fall while the trunk rotates, impact spike, rebound, stillness."""
    free_fall_s, floor_g, lateral = seg.shape[0], seg.shape[1], seg.shape[2]
    peak = seg.peaks_g[device]
    impact_at = FALL_STUMBLE_S + free_fall_s
    settle_at = impact_at + FALL_IMPACT_S
    start, end = seg.posture_from, seg.posture
    side = _normalize(_cross(end, (seg.phases[0], seg.phases[1], 1.0)))
    sin, exp, pi = math.sin, math.exp, math.pi
    xs: Series = []
    ys: Series = []
    zs: Series = []
    for t in ts:
        tau = t - seg.start_s
        if tau < FALL_STUMBLE_S:
            u = start
            m = 1.0 + 0.25 * sin(math.tau * 4.0 * tau)
            xs.append(u[0] * m + 0.2 * sin(math.tau * 2.0 * tau))
            ys.append(u[1] * m)
            zs.append(u[2] * m)
            continue
        if tau < impact_at:
            u = _blend(start, end, _smoothstep((tau - FALL_STUMBLE_S) / free_fall_s))
            m = floor_g + (1.0 - floor_g) * (1.0 - _smoothstep((tau - FALL_STUMBLE_S) / 0.12))
            s = 0.0
        elif tau < settle_at:
            u = end
            pulse = sin(pi * (tau - impact_at) / FALL_IMPACT_S)
            m = floor_g + (peak - floor_g) * pulse
            s = lateral * peak * pulse
        else:
            u = end
            e = tau - settle_at
            m = 1.0 + 0.5 * exp(-e / 0.12) * sin(math.tau * 5.0 * e)
            s = 0.0
        xs.append(u[0] * m + side[0] * s)
        ys.append(u[1] * m + side[1] * s)
        zs.append(u[2] * m + side[2] * s)
    return xs, ys, zs


_SUPINE: Final = _lean(-85.0)


def _lerp(bounds: tuple[float, float], x: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * x


def _tilted(up: Vec, degrees: float, azimuth: float) -> Vec:
    """`up` rotated by `degrees` about an axis perpendicular to it chosen by `azimuth`."""
    helper = (1.0, 0.0, 0.0) if abs(up[0]) < 0.9 else (0.0, 1.0, 0.0)
    e1 = _normalize(_cross(up, helper))
    e2 = _cross(up, e1)
    axis = _normalize(
        (
            e1[0] * math.cos(azimuth) + e2[0] * math.sin(azimuth),
            e1[1] * math.cos(azimuth) + e2[1] * math.sin(azimuth),
            e1[2] * math.cos(azimuth) + e2[2] * math.sin(azimuth),
        )
    )
    k_cross_u = _cross(axis, up)
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _normalize(
        (
            up[0] * c + k_cross_u[0] * s,
            up[1] * c + k_cross_u[1] * s,
            up[2] * c + k_cross_u[2] * s,
        )
    )


@dataclass(frozen=True, slots=True)
class Drawn:
    """What a style draws for one segment beyond the table's ranges."""

    shape: tuple[float, ...] = ()
    peaks_g: tuple[float, float] = (0.0, 0.0)
    amp_g: float | None = None  # replaces the amplitude interpolated from the table
    posture: Vec | None = None  # replaces the table's lean


# (style, segment, 6 uniform draws, posture before, previous segment) -> the segment's extras.
Drawer = Callable[["MotionStyle", Segment, Sequence[float], Vec, Segment | None], Drawn]


def _draw_nothing(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    return Drawn()


def _draw_vehicle(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """Slow manoeuvres at 0.02-0.08 Hz: braking and accelerating, cornering."""
    return Drawn(
        shape=(
            0.02 + 0.04 * r[0],
            0.03 + 0.05 * r[1],
            _lerp(style.manoeuvre_g, r[2]),
            _lerp(style.manoeuvre_g, r[3]),
        )
    )


def _draw_run(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """Faster running, shorter stance; the peak follows from the impulse balance (see _run)."""
    stance = 0.5 - 0.08 * seg.intensity
    flight = 0.05
    peak = (1.0 - flight * (1.0 - stance)) * math.pi / (2.0 * stance)
    return Drawn(shape=(stance, flight), amp_g=peak)


def _draw_jump(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """Flight 0.3-0.4 s, landing 3-5 g."""
    landing = 3.0 + 2.0 * r[1]
    return Drawn(shape=(0.3 + 0.1 * r[0],), peaks_g=(landing, landing))


def _draw_sit_down(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """The seat's jolt, 1.8-2.6 g."""
    seat = 1.8 + 0.8 * r[0]
    return Drawn(peaks_g=(seat, seat))


def _draw_struggle(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """Six frequencies between 0.8 and 3 Hz."""
    return Drawn(shape=tuple(_lerp(style.freq_hz, v) for v in r))


def _draw_fall(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """Free-fall time, how near 0 g it gets, the sideways share of the impact, the peaks (vest
    by the segment's intensity, helmet higher), and where the trunk ends up."""
    vest = _lerp(FALL_VEST_PEAK_G, seg.intensity)
    return Drawn(
        shape=(_lerp(FALL_FREE_FALL_S, r[0]), _lerp(FALL_MIN_G, r[1]), 0.3 * r[2]),
        peaks_g=(vest, min(FALL_HELMET_MAX_G, vest * _lerp(FALL_HELMET_FACTOR, r[3]))),
        posture=_tilted(before, _lerp(FALL_TILT_DEG, r[4]), math.tau * r[5]),
    )


def _draw_lying(
    style: MotionStyle, seg: Segment, r: Sequence[float], before: Vec, prev: Segment | None
) -> Drawn:
    """After a fall the body lies as it landed; otherwise on its back."""
    fallen = prev is not None and prev.activity is Activity.FALLING
    return Drawn(posture=before if fallen else _SUPINE)


@dataclass(frozen=True, slots=True)
class MotionStyle:
    """How an activity moves the body: renderer, trunk lean, and ranges drawn per segment.

    `freq_hz` and `amp_g` are interpolated by the segment's intensity; `broadband_g` is extra
    white vibration (a moving vehicle, a scuffle) on top of the sensor's own noise.
    """

    render: Renderer
    lean_deg: float
    freq_hz: tuple[float, float]
    amp_g: tuple[float, float]
    broadband_g: float = 0.0
    draw: Drawer = _draw_nothing
    blend_s: float = POSTURE_BLEND_S  # how long the trunk takes to reach the new posture
    manoeuvre_g: tuple[float, float] = (0.0, 0.0)


MOTION: Final[Mapping[Activity, MotionStyle]] = MappingProxyType(
    {
        # Body bounce ~1.2-1.8 Hz and its harmonics; amplitude grows with speed.
        Activity.DRIVING: MotionStyle(
            _vehicle,
            -20.0,
            (1.2, 1.8),
            (0.02, 0.05),
            broadband_g=0.012,
            draw=_draw_vehicle,
            manoeuvre_g=(0.05, 0.15),
        ),
        # Parked with the engine idling: only a faint tremor.
        Activity.SITTING_IN_VEHICLE: MotionStyle(
            _vehicle,
            -20.0,
            (1.3, 1.6),
            (0.002, 0.005),
            draw=_draw_vehicle,
            manoeuvre_g=(0.002, 0.008),
        ),
        Activity.SITTING_DOWN: MotionStyle(
            _sit_down, -20.0, (1.0, 1.0), (0.0, 0.0), draw=_draw_sit_down, blend_s=0.6
        ),
        # Postural sway 0.1-0.5 Hz, 0.01-0.02 g.
        Activity.STANDING: MotionStyle(_still, 0.0, (0.15, 0.4), (0.01, 0.02)),
        # Cadence 1.8-2.0 steps/s; vertical trunk acceleration 0.2-0.45 g.
        Activity.WALKING: MotionStyle(_walk, 5.0, (1.8, 2.0), (0.2, 0.45)),
        # Cadence 2.6-3.0 steps/s; the peak follows from the stance fraction (see _run).
        Activity.RUNNING: MotionStyle(
            _run, 10.0, (2.6, 3.0), (0.0, 0.0), broadband_g=0.05, draw=_draw_run
        ),
        Activity.JUMPING: MotionStyle(
            _jump, 5.0, (0.7, 1.0), (0.0, 0.0), broadband_g=0.03, draw=_draw_jump
        ),
        Activity.STRUGGLING: MotionStyle(
            _struggle, 15.0, (0.8, 3.0), (0.25, 0.5), broadband_g=0.1, draw=_draw_struggle
        ),
        # The fall renders its own trunk rotation: no blend.
        Activity.FALLING: MotionStyle(
            _fall, 0.0, (1.0, 1.0), (0.0, 0.0), draw=_draw_fall, blend_s=0.0
        ),
        # Lying still: nothing but the sensor's noise.
        Activity.LYING_STILL: MotionStyle(_still, 0.0, (0.0, 0.0), (0.0, 0.0), draw=_draw_lying),
    }
)


class MotionModel:
    """The officer's body motion over the schedule, rendered on demand for any sample times."""

    def __init__(self, schedule: Schedule, rng: Random) -> None:
        self._segments: list[SegmentMotion] = []
        self._transients: list[Transient] = []
        impacts: list[FallImpact] = []
        previous: Segment | None = None
        posture: Vec = _lean(0.0)
        for segment in schedule.segments:
            motion = self._draw(segment, previous, posture, rng)
            self._segments.append(motion)
            self._transients += _jolts(segment, previous, motion.posture, rng)
            if segment.activity is Activity.FALLING:
                impacts.append(
                    FallImpact(
                        segment.start_s + FALL_STUMBLE_S + motion.shape[0], segment.fall_flag
                    )
                )
            posture = motion.posture
            previous = segment
        self._starts = [s.start_s for s in self._segments]
        self._transients.sort(key=lambda j: j.start_s)
        self._transient_starts = [j.start_s for j in self._transients]
        self._longest_transient_s = max((j.duration_s for j in self._transients), default=0.0)
        self.falls: tuple[FallImpact, ...] = tuple(impacts)

    @staticmethod
    def _draw(
        segment: Segment, previous: Segment | None, posture: Vec, rng: Random
    ) -> SegmentMotion:
        """One segment's parameters; always the same number of draws, whatever the activity."""
        style = MOTION[segment.activity]
        r = [rng.random() for _ in range(12)]
        extra = style.draw(style, segment, r[6:], posture, previous)
        return SegmentMotion(
            start_s=segment.start_s,
            end_s=segment.end_s,
            render=style.render,
            posture_from=posture,
            posture=extra.posture or _lean(style.lean_deg),
            blend_end_s=segment.start_s + style.blend_s,
            freq_hz=_lerp(style.freq_hz, segment.intensity),
            amp_g=_lerp(style.amp_g, segment.intensity) if extra.amp_g is None else extra.amp_g,
            phases=tuple(math.tau * x for x in r[:6]),
            shape=extra.shape,
            peaks_g=extra.peaks_g,
            broadband_g=style.broadband_g,
        )

    def body(
        self, ts: Sequence[float], device: int
    ) -> tuple[Series, Series, Series, list[tuple[int, float]]]:
        """Body-frame specific force (g) at increasing times `ts` as `device` feels it, and the
        broadband vibration to add, as runs of (sample count, standard deviation in g)."""
        xs: Series = []
        ys: Series = []
        zs: Series = []
        broadband: list[tuple[int, float]] = []
        n = len(ts)
        i = 0
        while i < n:
            k = max(0, bisect.bisect_right(self._starts, ts[i]) - 1)
            seg = self._segments[k]
            j = n if k + 1 == len(self._segments) else bisect.bisect_left(ts, seg.end_s, i)
            j = max(j, i + 1)
            run = ts[i:j]
            x, y, z = seg.render(seg, run, device)
            xs += x
            ys += y
            zs += z
            broadband.append((j - i, seg.broadband_g))
            i = j
        if n:
            self._add_transients(ts, xs, ys, zs)
        return xs, ys, zs, broadband

    def _add_transients(self, ts: Sequence[float], xs: Series, ys: Series, zs: Series) -> None:
        first = bisect.bisect_left(self._transient_starts, ts[0] - self._longest_transient_s)
        last = bisect.bisect_right(self._transient_starts, ts[-1])
        for jolt in self._transients[first:last]:
            lo = bisect.bisect_left(ts, jolt.start_s)
            hi = bisect.bisect_left(ts, jolt.start_s + jolt.duration_s)
            dx, dy, dz = jolt.direction
            for i in range(lo, hi):
                s = jolt.amp_g * math.sin(math.pi * (ts[i] - jolt.start_s) / jolt.duration_s)
                xs[i] += dx * s
                ys[i] += dy * s
                zs[i] += dz * s


def _jolts(segment: Segment, previous: Segment | None, up: Vec, rng: Random) -> list[Transient]:
    """Bumps in the road while driving; door slams when settling into the vehicle."""
    jolts: list[Transient] = []
    if segment.activity is Activity.DRIVING:
        t = segment.start_s + rng.expovariate(1.0 / 75.0)
        while t < segment.end_s - 0.2:
            if rng.random() < 0.85:
                jolts.append(Transient(t, rng.uniform(0.08, 0.14), up, rng.uniform(0.2, 0.8)))
            else:  # a pothole or a kerb
                jolts.append(Transient(t, rng.uniform(0.06, 0.1), up, rng.uniform(1.0, 1.6)))
            t += rng.expovariate(1.0 / 75.0)
    elif segment.activity is Activity.SITTING_IN_VEHICLE:
        settling = previous is not None and previous.activity is not Activity.DRIVING
        t = segment.start_s + rng.uniform(1.0, 4.0) if settling else segment.start_s
        if not settling:
            t += rng.expovariate(1.0 / 900.0)
        while t < segment.end_s - 0.2:
            angle = rng.uniform(0.0, math.tau)
            side = _normalize((0.3 * math.cos(angle), math.sin(angle), 0.4 * math.cos(angle)))
            jolts.append(Transient(t, rng.uniform(0.03, 0.05), side, rng.uniform(1.0, 2.0)))
            t += rng.expovariate(1.0 / 900.0)
    return jolts


@dataclass(frozen=True, slots=True)
class Mount:
    """A device's fixed mounting: rotation body -> device frame (with per-axis scale error folded
    in), zero-g bias, and the sensor's noise."""

    rows: tuple[Vec, Vec, Vec]
    bias_g: Vec
    noise_g: float

    def render(
        self,
        xs: Series,
        ys: Series,
        zs: Series,
        broadband: Sequence[tuple[int, float]],
        noise: bytes,
    ) -> list[tuple[float, float, float]]:
        """Device-frame samples from body-frame force; `noise` holds 3 random bytes per sample."""
        (a, b, c), (d, e, f), (g, h, k) = self.rows
        bx, by, bz = self.bias_g
        table = NORMAL_BYTES
        sensor = self.noise_g * self.noise_g
        sigmas: Series = []
        for count, vibration in broadband:
            sigmas += [math.sqrt(sensor + vibration * vibration)] * count
        return [
            (
                a * x + b * y + c * z + bx + s * table[n0],
                d * x + e * y + f * z + by + s * table[n1],
                g * x + h * y + k * z + bz + s * table[n2],
            )
            for x, y, z, s, n0, n1, n2 in zip(
                xs, ys, zs, sigmas, noise[0::3], noise[1::3], noise[2::3], strict=True
            )
        ]


def draw_mount(rng: Random) -> Mount:
    """A uniformly random mounting rotation (Shoemake 1992), redrawn while the body's vertical
    lies within MIN_TILT_FROM_AXES_DEG of a device axis, so that no axis is ever "the" vertical."""
    limit = math.cos(math.radians(MIN_TILT_FROM_AXES_DEG))
    while True:
        u1, u2, u3 = rng.random(), rng.random(), rng.random()
        qx = math.sqrt(1.0 - u1) * math.sin(math.tau * u2)
        qy = math.sqrt(1.0 - u1) * math.cos(math.tau * u2)
        qz = math.sqrt(u1) * math.sin(math.tau * u3)
        qw = math.sqrt(u1) * math.cos(math.tau * u3)
        rows = (
            (1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)),
            (2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)),
            (2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)),
        )
        if all(abs(row[2]) < limit for row in rows):
            break
    sx, sy, sz = (1.0 + rng.uniform(-SENSOR_SCALE_ERROR, SENSOR_SCALE_ERROR) for _ in range(3))
    (a, b, c), (d, e, f), (g, h, k) = rows
    scaled = ((a * sx, b * sx, c * sx), (d * sy, e * sy, f * sy), (g * sz, h * sz, k * sz))
    bias = (
        rng.uniform(-SENSOR_BIAS_G, SENSOR_BIAS_G),
        rng.uniform(-SENSOR_BIAS_G, SENSOR_BIAS_G),
        rng.uniform(-SENSOR_BIAS_G, SENSOR_BIAS_G),
    )
    return Mount(scaled, bias, SENSOR_NOISE_G)


class NoiseSource:
    """Random bytes for sample indices, drawn per block of NOISE_BLOCK samples from a seed of
    (device, boot, block), so any range renders the same whenever and however often it is asked."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._cached: tuple[int, int, bytes] | None = None

    def _block(self, boot: int, block: int) -> bytes:
        cached = self._cached
        if cached is not None and cached[0] == boot and cached[1] == block:
            return cached[2]
        data = Random((self._seed << 40) ^ (boot << 32) ^ block).randbytes(3 * NOISE_BLOCK)
        self._cached = (boot, block, data)
        return data

    def bytes_for(self, boot: int, first: int, stop: int) -> bytes:
        """Three bytes per sample for sample indices [first, stop) of boot `boot`."""
        parts: list[bytes] = []
        index = first
        while index < stop:
            block, offset = divmod(index, NOISE_BLOCK)
            take = min(stop - index, NOISE_BLOCK - offset)
            parts.append(self._block(boot, block)[3 * offset : 3 * (offset + take)])
            index += take
        return b"".join(parts)
