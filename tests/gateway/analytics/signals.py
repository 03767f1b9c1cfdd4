"""Synthetic trunk accelerometer recordings for the fall detector's tests.

Each activity is a function of time giving the accelerometer reading in the body frame (g; the
body's up axis is +z, so standing still reads (0, 0, 1)), sampled at any rate and turned by an
arbitrary mounting rotation, the way a vest may carry its sensor at any angle.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

Vector = tuple[float, float, float]
Matrix = tuple[Vector, Vector, Vector]
Motion = Callable[[float], Vector]
Sample = tuple[float, float, float, float]

IDENTITY: Matrix = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def random_rotation(rng: random.Random) -> Matrix:
    """A uniformly distributed rotation (Shoemake's method: a random unit quaternion)."""
    u1, u2, u3 = rng.random(), rng.random(), rng.random()
    w = math.sqrt(1 - u1) * math.sin(2 * math.pi * u2)
    x = math.sqrt(1 - u1) * math.cos(2 * math.pi * u2)
    y = math.sqrt(u1) * math.sin(2 * math.pi * u3)
    z = math.sqrt(u1) * math.cos(2 * math.pi * u3)
    return (
        (1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
        (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
        (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)),
    )


def rotate(matrix: Matrix, v: Vector) -> Vector:
    return (
        matrix[0][0] * v[0] + matrix[0][1] * v[1] + matrix[0][2] * v[2],
        matrix[1][0] * v[0] + matrix[1][1] * v[1] + matrix[1][2] * v[2],
        matrix[2][0] * v[0] + matrix[2][1] * v[1] + matrix[2][2] * v[2],
    )


def tilted_up(pitch_deg: float) -> Vector:
    """The reading of gravity (1 g) when the trunk leans `pitch_deg` forward from upright."""
    pitch = math.radians(pitch_deg)
    return (math.sin(pitch), 0.0, math.cos(pitch))


def scale(v: Vector, k: float) -> Vector:
    return (v[0] * k, v[1] * k, v[2] * k)


def add(*vectors: Vector) -> Vector:
    return (
        sum(v[0] for v in vectors),
        sum(v[1] for v in vectors),
        sum(v[2] for v in vectors),
    )


def pulse(t: float, start: float, duration: float) -> float:
    """A half-sine bump from 0 to 1 and back over [start, start + duration], else 0."""
    if not start <= t <= start + duration:
        return 0.0
    return math.sin(math.pi * (t - start) / duration)


def ramp(t: float, start: float, duration: float) -> float:
    """0 before `start`, 1 after `start + duration`, a smooth (cosine) step between."""
    if t <= start:
        return 0.0
    if t >= start + duration:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * (t - start) / duration)


def walking(t: float) -> Vector:
    """Gait at two steps a second: vertical bounce and a smaller side-to-side sway."""
    up = tilted_up(5.0)
    return add(
        up,
        (0.0, 0.0, 0.25 * math.sin(2 * math.pi * 2.0 * t)),
        (0.08 * math.sin(2 * math.pi * 2.0 * t + 1.0), 0.1 * math.sin(2 * math.pi * 1.0 * t), 0.0),
    )


def fall(impact_s: float, rotation_deg: float = 80.0, peak_g: float = 4.0) -> Motion:
    """Walking, a 0.6 s descent (near free fall while the trunk pitches over), an impact, a
    bounce, then lying still with the trunk `rotation_deg` from where it was."""
    descent_s = 0.6
    start = impact_s - descent_s

    def motion(t: float) -> Vector:
        if t < start:
            return walking(t)
        pitch = 5.0 + rotation_deg * ramp(t, start, descent_s)
        gravity = tilted_up(pitch)
        if t < impact_s:  # the support gives way: the reading drops toward 0 g
            return scale(gravity, 1.0 - 0.7 * pulse(t, start, descent_s * 2))
        # The ground stops the trunk along its new "up": a 100 ms impact, then a smaller bounce.
        shock = (peak_g - 1.0) * pulse(t, impact_s, 0.1) + 0.6 * pulse(t, impact_s + 0.25, 0.15)
        return add(gravity, scale(gravity, shock))

    return motion


def running(t: float) -> Vector:
    """Running at 2.8 steps a second (landings near 2.6 g) for 20 s, then standing still."""
    if t >= 20.0:
        return tilted_up(5.0)
    lean = tilted_up(12.0)
    phase = (t * 2.8) % 1.0
    landing = 1.6 * pulse(phase, 0.0, 0.35)  # stance phase: ground reaction up to ~2.6 g
    flight = -0.8 * pulse(phase, 0.45, 0.5)  # flight phase: toward free fall
    return add(scale(lean, 1.0 + landing + flight), (0.15 * math.sin(2 * math.pi * 1.4 * t), 0, 0))


def jumping(t: float) -> Vector:
    """Standing, then three jumps (0.35 s of flight, a 3.5 g landing), then standing still."""
    up = tilted_up(3.0)
    for take_off in (4.0, 7.0, 10.0):
        if take_off <= t < take_off + 0.35:
            return scale(up, 0.05)
        landing = take_off + 0.35
        if landing <= t < landing + 0.15:
            return scale(up, 1.0 + 2.5 * pulse(t, landing, 0.15))
    return up


def sitting_down_hard(t: float) -> Vector:
    """Standing, dropping into a low chair (0.4 s descent, 2.8 g impact), then sitting still
    with the trunk leaning back 30 degrees (a chest sensor tilts less than that)."""
    drop, impact = 5.0, 5.4
    pitch = -30.0 * ramp(t, drop, 0.6)
    gravity = tilted_up(pitch)
    if drop <= t < impact:
        return scale(gravity, 1.0 - 0.6 * pulse(t, drop, 0.4))
    return add(gravity, scale(gravity, 1.8 * pulse(t, impact, 0.15)))


def car_door_slam(t: float) -> Vector:
    """Seated in a car, reclined 20 degrees; a door slams: a 3 g jolt lasting 15 ms."""
    seated = tilted_up(-20.0)
    jolt = pulse(t, 6.0, 0.015)
    return add(seated, (3.0 * jolt, 0.5 * jolt, 1.0 * jolt))


def hard_jolt_without_rotation(t: float) -> Vector:
    """Seated, a long 3 g jolt (a pothole at speed) that passes as an impact, no rotation."""
    seated = tilted_up(-20.0)
    return add(seated, scale(seated, 2.0 * pulse(t, 6.0, 0.15)))


def driving(rng: random.Random) -> Motion:
    """Seated in a moving car: engine and road vibration, potholes, braking and cornering
    (which tilt the apparent gravity by up to about 20 degrees)."""
    seated = tilted_up(-20.0)
    potholes = [rng.uniform(5.0, 175.0) for _ in range(12)]

    def motion(t: float) -> Vector:
        braking = 0.3 * pulse(t % 40.0, 10.0, 4.0)
        cornering = 0.35 * pulse(t % 55.0, 30.0, 6.0)
        bump = sum(1.2 * pulse(t, p, 0.08) for p in potholes)
        engine = 0.05 * math.sin(2 * math.pi * 9.0 * t)
        vibration = (rng.gauss(0, 0.04), rng.gauss(0, 0.04), rng.gauss(0, 0.06))
        return add(seated, (braking, cornering, bump + engine), vibration)

    return motion


def record(
    motion: Motion,
    duration_s: float,
    rate_hz: float,
    *,
    mounting: Matrix = IDENTITY,
    noise_g: float = 0.01,
    range_g: float = math.inf,
    seed: int = 0,
) -> list[Sample]:
    """Sample `motion` at `rate_hz`, turned by `mounting`, with white sensor noise, each axis
    clipped to +-`range_g` as an accelerometer set to that range reports it."""
    rng = random.Random(seed)

    def reading(value: float) -> float:
        return max(-range_g, min(range_g, value + rng.gauss(0, noise_g)))

    samples: list[Sample] = []
    for index in range(round(duration_s * rate_hz)):
        t = index / rate_hz
        x, y, z = rotate(mounting, motion(t))
        samples.append((t, reading(x), reading(y), reading(z)))
    return samples
