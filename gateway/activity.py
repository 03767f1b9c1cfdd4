"""50 Hz accelerometer batches to a 1 Hz activity summary and a rolling raw window. Pure.

Raw motion is not stored continuously (50 Hz x 2 devices x officers would swamp an LTE uplink);
each second becomes one summary row, and the last minute of raw samples stays in memory as
evidence for an alert.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from gateway.analytics.vectors import Vector, angle_deg
from gateway.domain import NS_PER_S
from sensors import SAMPLE_INDEX_MODULO

RAW_WINDOW_S: Final = 60.0
# Motion intensity from the standard deviation of |a| over one second. Thresholds from the
# accelerometry literature for trunk-worn sensors: below 0.02 g is stillness (sensor noise plus
# breathing), walking sits around 0.1-0.4 g, running above 0.4 g.
STILL_G: Final = 0.02
LIGHT_G: Final = 0.1
MODERATE_G: Final = 0.4
# Upright reference: learned while the wearer walks (walking implies an upright trunk), so no
# mounting orientation is assumed. Tilt beyond these angles from it reads as inclined or lying.
INCLINED_DEG: Final = 30.0
LYING_DEG: Final = 60.0
REFERENCE_SMOOTHING: Final = 0.1


class Intensity(StrEnum):
    STILL = "still"
    LIGHT = "light"
    MODERATE = "moderate"
    VIGOROUS = "vigorous"


class Posture(StrEnum):
    UNKNOWN = "unknown"
    UPRIGHT = "upright"
    INCLINED = "inclined"
    LYING = "lying"


@dataclass(frozen=True)
class ActivitySummary:
    time_ns: int
    mean_g: float
    peak_g: float
    std_g: float
    intensity: Intensity
    posture: Posture
    tilt_deg: float | None
    samples: int


def classify(std_g: float) -> Intensity:
    if std_g < STILL_G:
        return Intensity.STILL
    if std_g < LIGHT_G:
        return Intensity.LIGHT
    if std_g < MODERATE_G:
        return Intensity.MODERATE
    return Intensity.VIGOROUS


# A batch whose samples the counter places more than this away from when it arrived re-anchors
# the clock: the device restarted, or the link stalled long enough that the old anchor is stale.
REANCHOR_NS: Final = 2 * NS_PER_S


@dataclass
class SampleClock:
    """Gateway times for a device's samples, from its sample counter.

    Receive times jitter by tens of milliseconds and batches can arrive bunched, so stamping
    samples backwards from each arrival makes time run backwards. The counter does not jitter:
    sample k is `anchor + (k - anchor_index) / rate`, which is monotonic by construction. The
    anchor follows the gateway's clock: it moves back when samples would land after their own
    arrival (a fast device clock), and re-anchors on restarts, gaps and stalls.

    No sample is ever stamped later than its batch's arrival: where keeping samples a period
    apart would carry them past it (a burst of buffered batches, a device sending faster than
    its stated rate), the batch is spread over the time since the last placed sample instead.
    A restart or a stall starts a new timeline, so the floor of the old one is dropped.
    """

    rate_hz: int
    _anchor_index: int | None = None
    _anchor_ns: int = 0
    # The last sample placed; None after a restart or a stall (no floor for the next batch).
    _last_ns: int | None = None
    _offsets_key: tuple[int, int] | None = None
    _offsets_ns: list[int] = field(default_factory=list)

    def place(self, first_index: int, count: int, received_ns: int) -> list[int]:
        period = NS_PER_S / self.rate_hz
        last_index = first_index + count - 1
        if self._anchor_index is None:
            self._restart(last_index, received_ns)
        assert self._anchor_index is not None
        offset = (last_index - self._anchor_index) % SAMPLE_INDEX_MODULO
        if offset >= SAMPLE_INDEX_MODULO // 2:  # the counter went back: a restart
            self._restart(last_index, received_ns)
            offset = 0
        predicted_last = self._anchor_ns + round(offset * period)
        if received_ns - predicted_last > REANCHOR_NS:  # a gap or a stall: a new timeline
            self._restart(last_index, received_ns)
            predicted_last = received_ns
        elif predicted_last > received_ns:  # the device's clock runs fast: follow ours
            self._anchor_index, self._anchor_ns = last_index, received_ns
            predicted_last = received_ns
        span = round((count - 1) * period)
        start = predicted_last - span
        if self._last_ns is not None:
            # Never closer than a period to what was already placed: overlapping batches stay
            # ordered, and consumers working in float seconds still see time increase.
            start = max(start, self._last_ns + round(period))
            if start + span > received_ns:
                # That floor would stamp samples after they arrived, and a floor carried from
                # batch to batch runs ahead for as long as data flows: spread them instead.
                return self._spread(self._last_ns, count, received_ns)
        times = [start + offset for offset in self._offsets(count)]
        self._last_ns = times[-1]
        return times

    def _spread(self, after_ns: int, count: int, received_ns: int) -> list[int]:
        """`count` times evenly after `after_ns`, the last at `received_ns` (never later)."""
        step = max(0, received_ns - after_ns) / count
        times = [received_ns - round((count - 1 - i) * step) for i in range(count)]
        self._last_ns = received_ns
        return times

    def _offsets(self, count: int) -> list[int]:
        """`round(i * period)` for i < count: the same for every batch of a device, so kept."""
        key = (self.rate_hz, count)
        if self._offsets_key != key:
            period = NS_PER_S / self.rate_hz
            self._offsets_key, self._offsets_ns = key, [round(i * period) for i in range(count)]
        return self._offsets_ns

    def _restart(self, index: int, received_ns: int) -> None:
        """Anchor a new timeline at this arrival; the old one's floor no longer applies."""
        self._anchor_index, self._anchor_ns, self._last_ns = index, received_ns, None


@dataclass
class ActivityTracker:
    """Per-device accumulator: feed batches, collect one summary per second of samples."""

    rate_hz: int = 50
    raw: deque[tuple[int, float, float, float]] = field(default_factory=lambda: deque(maxlen=3000))
    # Samples of the second in progress, as parallel lists: no tuple per sample.
    _pending_ns: list[int] = field(default_factory=list)
    _pending: list[Vector] = field(default_factory=list)
    _upright: Vector | None = None

    def __post_init__(self) -> None:
        self.raw = deque(maxlen=int(RAW_WINDOW_S * self.rate_hz))

    def add_batch(
        self, samples: Sequence[Vector], rate_hz: int, times_ns: Sequence[int]
    ) -> list[ActivitySummary]:
        """Add samples stamped by a SampleClock; return the seconds they completed."""
        if rate_hz != self.rate_hz:
            self.rate_hz = rate_hz
            self.raw = deque(self.raw, maxlen=int(RAW_WINDOW_S * rate_hz))
        raw = [(stamp, x, y, z) for stamp, (x, y, z) in zip(times_ns, samples, strict=True)]
        self.raw.extend(raw)
        self._pending_ns += times_ns
        self._pending += samples
        summaries = []
        while len(self._pending) >= rate_hz:
            second = self._pending[:rate_hz]
            summaries.append(self._summarise(self._pending_ns[rate_hz - 1], second))
            del self._pending_ns[:rate_hz], self._pending[:rate_hz]
        return summaries

    def _summarise(self, time_ns: int, vectors: list[Vector]) -> ActivitySummary:
        xs, ys, zs = zip(*vectors, strict=True)
        magnitudes = list(map(math.hypot, xs, ys, zs))
        n = len(magnitudes)
        mean = sum(magnitudes) / n
        std = math.sqrt(sum([(m - mean) ** 2 for m in magnitudes]) / n)
        gravity: Vector = (sum(xs) / n, sum(ys) / n, sum(zs) / n)
        intensity = classify(std)
        if intensity is Intensity.MODERATE:
            self._learn_upright(gravity)
        tilt = None if self._upright is None else angle_deg(gravity, self._upright)
        return ActivitySummary(
            time_ns=time_ns,
            mean_g=round(mean, 4),
            peak_g=round(max(magnitudes), 4),
            std_g=round(std, 4),
            intensity=intensity,
            posture=_posture(tilt),
            tilt_deg=None if tilt is None else round(tilt, 1),
            samples=n,
        )

    def _learn_upright(self, gravity: Vector) -> None:
        if self._upright is None:
            self._upright = gravity
            return
        a = REFERENCE_SMOOTHING
        u = self._upright
        self._upright = (
            u[0] + a * (gravity[0] - u[0]),
            u[1] + a * (gravity[1] - u[1]),
            u[2] + a * (gravity[2] - u[2]),
        )

    def window(self, since_ns: int) -> list[tuple[int, float, float, float]]:
        """Raw samples from `since_ns` on (alert evidence)."""
        return [sample for sample in self.raw if sample[0] >= since_ns]


def _posture(tilt_deg: float | None) -> Posture:
    if tilt_deg is None:
        return Posture.UNKNOWN
    if tilt_deg >= LYING_DEG:
        return Posture.LYING
    if tilt_deg >= INCLINED_DEG:
        return Posture.INCLINED
    return Posture.UPRIGHT
