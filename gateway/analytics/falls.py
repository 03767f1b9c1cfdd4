"""Fall detection on a trunk-worn tri-axial accelerometer: impact, trunk rotation, then stillness.

For sensors on the trunk (vest, chest strap) at any rate from 20 to 200 Hz and any range from
+-2 g; an arm-worn sensor measures the arm, not the trunk, and is not a man-down source on its
own. Independent of how the sensor is mounted: no axis is assumed vertical. Gravity is
estimated as the mean acceleration vector over a window before the impact and over a still
window after it, and the fall's rotation is the angle between the two. Pure code: timestamps
come with the samples, so replays and tests need no clock. The design and its evaluation are
in docs/algorithms.md.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice

from gateway.analytics.vectors import Vector, angle_deg

# The rates and ranges the detector was evaluated at (SisFall at its native 200 Hz and +-16 g,
# resampled to 100-20 Hz and clipped to +-8, 4 and 2 g, see docs/algorithms.md). The vest
# streams at 50 Hz, the Polar H10 at 25-200 Hz and +-2-8 g.
MIN_RATE_HZ = 20.0
MAX_RATE_HZ = 200.0
MIN_RANGE_G = 2.0
# `feed` hands samples to `update_batch` this many at a time: a recording need not fit in memory.
FEED_CHUNK = 4096

Sample = tuple[float, float, float, float]
"""`(t_s, ax_g, ay_g, az_g)`: time in seconds and acceleration in g, any sensor orientation."""


@dataclasses.dataclass(frozen=True)
class FallParameters:
    """The detector's thresholds and windows; windows are in seconds so that any rate works."""

    # An impact is a 0.1 s mean of |a| at or above 1.6 g. A body hitting the ground decelerates
    # over 50-150 ms, while a door slam or a bump is a spike of a few ms: averaging over 0.1 s
    # keeps the first and flattens the second, and makes the measure nearly independent of the
    # sample rate and of the sensor's own low-pass filter, which cut single-sample peaks
    # (a 4.8 g spike at 50 Hz is 2.9 g at 25 Hz). The mean covers exactly 0.1 s at any rate:
    # where 0.1 s is not a whole number of samples (2.5 at 25 Hz), the oldest sample counts for
    # its fraction. 1.6 g is what the tuning rule chooses from every SisFall subject.
    impact_g: float = 1.6
    impact_smoothing_s: float = 0.1
    # A clipped axis reads the range, so a clipped impact's 0.1 s mean flattens toward it: at
    # +-2 g, SisFall falls measure a median 2.2-2.5 g (3.2-3.5 g unclipped) and a tenth of them
    # less than 1.8-2.0 g. So the impact threshold is at most 80 % of the range (1.6 g at
    # +-2 g), whatever `impact_g` says, to stay below the band where clipped falls pile up.
    impact_max_fraction_of_range: float = 0.8
    # A fall hits more than once (knees, hip, trunk, a bounce): impacts within 1 s of the first
    # one belong to the same event, whose peak and time are reported once.
    impact_cluster_s: float = 1.0
    # Gravity before the fall: the mean over [impact - 3 s, impact - 1 s]. Ending 1 s before the
    # impact leaves out the descent (0.3-1 s from loss of balance to impact); 2 s of averaging
    # covers about two gait cycles, so walking or jogging averages out to gravity; starting at
    # 3 s also leaves out a lean forward just before the fall (falls while trying to get up).
    pre_window_start_s: float = 3.0
    pre_window_end_s: float = 1.0
    # Bounces, rolling and bracing right after the impact are ignored for 1 s.
    settle_s: float = 1.0
    # Stillness: over 1.5 s the acceleration vector's RMS deviation from its mean stays at or
    # below 0.1 g. In SisFall, lying after a fall measures 0.01-0.05 g, walking 0.2-0.45 g and
    # jogging about 1 g, so anyone who walks or runs on is never "still". It also makes the
    # window's mean a sound estimate of gravity, free of the body's own acceleration.
    still_window_s: float = 1.5
    still_rms_g: float = 0.1
    # The still window must complete within 6 s of the last impact: a fall ends in a resting
    # posture within seconds, whereas lying down minutes after a stumble is not a fall.
    confirm_within_s: float = 6.0
    # Trunk rotation of 40 degrees or more between the two gravity estimates. Falls end lying,
    # near 90 degrees from upright or seated (57-162, median 93, in SisFall); sitting down, even
    # fast into a low chair, turned SisFall's waist sensor by at most 29 degrees, and a chest
    # sensor turns less still since the trunk stays upright on a seat. 40 degrees is the middle
    # of that gap, as the tuning rule chooses it (docs/algorithms.md), not its edge by the falls.
    min_orientation_change_deg: float = 40.0
    # After a detection, new impacts are ignored for 10 s so that one fall is reported once.
    rearm_s: float = 10.0

    def __post_init__(self) -> None:
        values = dataclasses.asdict(self)
        negative = [name for name, value in values.items() if not value >= 0.0]
        if negative:
            raise ValueError(f"fall parameters must be non-negative numbers: {negative}")
        if self.pre_window_start_s <= self.pre_window_end_s:
            raise ValueError("pre_window_start_s must be greater than pre_window_end_s")
        if not 0.0 < self.impact_max_fraction_of_range <= 1.0:
            raise ValueError("impact_max_fraction_of_range must lie in (0, 1]")


DEFAULT_FALL_PARAMETERS = FallParameters()


@dataclasses.dataclass(frozen=True)
class FallDetection:
    """One detected fall: when the impact happened and the evidence that confirmed it."""

    t_s: float  # time of the highest |a| of the impact
    confirmed_at_s: float  # time of the sample that completed the still window
    peak_g: float  # highest |a| of the impact (unsmoothed)
    impact_g: float  # highest 0.1 s mean of |a|, the quantity compared with the threshold
    orientation_change_deg: float  # angle between gravity before and after
    stillness_rms_g: float  # RMS deviation of acceleration over the still window


@dataclasses.dataclass
class _Impact:
    """An impact cluster waiting for the stillness that would confirm it (internal, mutable)."""

    opened_index: int
    last_impact_index: int
    peak_t_s: float
    peak_g: float
    impact_g: float
    gravity_before: Vector


def _mean(vectors: list[Vector]) -> Vector:
    count = len(vectors)
    return (
        math.fsum(v[0] for v in vectors) / count,
        math.fsum(v[1] for v in vectors) / count,
        math.fsum(v[2] for v in vectors) / count,
    )


class FallDetector:
    """Streaming detector: feed samples in time order at a constant rate, collect detections.

    `rate_hz` is the sensor's sample rate and `range_g` its range (+-g, the value at which each
    axis clips). A detection is emitted on the sample that completes the still window, at the
    earliest settle + still window (2.5 s) after the last impact; its `t_s` is the impact's
    time. With a narrow range, `peak_g` and `impact_g` are clipped as the samples are.
    """

    def __init__(
        self, rate_hz: float, range_g: float, params: FallParameters = DEFAULT_FALL_PARAMETERS
    ) -> None:
        if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
            raise ValueError(
                f"sample rate {rate_hz:g} Hz is outside {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz"
            )
        if not range_g >= MIN_RANGE_G:
            raise ValueError(f"range +-{range_g:g} g is narrower than +-{MIN_RANGE_G:g} g")
        self.rate_hz = rate_hz
        self.range_g = range_g
        self.params = params
        self.impact_threshold_g = min(
            params.impact_g, params.impact_max_fraction_of_range * range_g
        )

        def samples(seconds: float) -> int:
            return max(1, round(seconds * rate_hz))

        self._cluster = samples(params.impact_cluster_s)
        self._pre_start = samples(params.pre_window_start_s)
        self._pre_end = samples(params.pre_window_end_s)
        self._settle = samples(params.settle_s)
        self._still = samples(params.still_window_s)
        self._confirm = samples(params.confirm_within_s)
        self._rearm = samples(params.rearm_s)
        # Recent (t_s, |a|) for the impact mean, and recent vectors for both gravity windows.
        # The impact mean's window spans `span` samples: the whole ones, and when there is a
        # fraction left, the sample before them at that weight. (Rounded so that 0.1 s at
        # 50 Hz is 5 samples, not 5.000000001.)
        span = max(1.0, round(params.impact_smoothing_s * rate_hz, 9))
        fraction = span - math.floor(span)
        self._smoothing = math.floor(span) + (1 if fraction else 0)
        self._edge_weight = fraction or 1.0
        self._smoothing_span = span
        self._recent: deque[tuple[float, float]] = deque(maxlen=self._smoothing)
        self._recent_sum = 0.0
        self._history: deque[Vector] = deque(maxlen=self._pre_start + 1)
        # The still window's mean vector and RMS deviation in constant time per sample: running
        # sums of x, y, z and |v|^2 over its last `_still` vectors.
        self._still_items: deque[Vector] = deque(maxlen=self._still)
        self._still_sums = [0.0, 0.0, 0.0, 0.0]
        self._still_pushes = 0
        self._pending: list[_Impact] = []
        self._index = -1
        self._armed_from = 0
        self._last_t_s = -math.inf

    def update(self, t_s: float, ax_g: float, ay_g: float, az_g: float) -> FallDetection | None:
        """Add one sample; returns a detection when this sample confirms a fall."""
        found = self.update_batch((t_s,), ((ax_g, ay_g, az_g),))
        return found[0] if found else None

    def feed(self, samples: Iterable[Sample]) -> list[FallDetection]:
        """Add many `(t_s, ax_g, ay_g, az_g)` samples; returns the detections they confirm."""
        found: list[FallDetection] = []
        iterator = iter(samples)
        while chunk := list(islice(iterator, FEED_CHUNK)):
            found += self.update_batch(
                [sample[0] for sample in chunk], [(x, y, z) for _, x, y, z in chunk]
            )
        return found

    def update_batch(  # noqa: PLR0915 - the per-sample steps are inlined on purpose
        self, times_s: Sequence[float], vectors: Sequence[Vector]
    ) -> list[FallDetection]:
        """Add samples given as their times (s) and `(ax, ay, az)` vectors (g), in time order.

        The same computation as one `update` per sample, operation for operation, so results
        are bit-identical; the state lives in local variables for the batch, which makes a BLE
        batch several times cheaper than a call per sample (docs/performance.md).
        """
        if len(times_s) != len(vectors):
            raise ValueError(f"{len(times_s)} times for {len(vectors)} samples")
        found: list[FallDetection] = []
        isfinite, sqrt, fsum = math.isfinite, math.sqrt, math.fsum
        impact_g = self.impact_threshold_g
        history_append = self._history.append
        items = self._still_items
        items_append = items.append
        still = self._still
        sums = self._still_sums
        recent = self._recent
        recent_append = recent.append
        smoothing = self._smoothing
        edge_lightness = 1.0 - self._edge_weight
        span = self._smoothing_span
        index, last_t_s = self._index, self._last_t_s
        recent_sum, pushes = self._recent_sum, self._still_pushes
        try:
            for t_s, vector in zip(times_s, vectors, strict=True):
                ax_g, ay_g, az_g = vector
                if not (isfinite(t_s) and isfinite(ax_g) and isfinite(ay_g) and isfinite(az_g)):
                    raise ValueError(f"non-finite sample at t={t_s} s: ({ax_g}, {ay_g}, {az_g})")
                if t_s <= last_t_s:
                    raise ValueError(f"time must increase: {t_s} s after {last_t_s} s")
                last_t_s = t_s
                index += 1
                history_append(vector)
                if len(items) == still:
                    ox, oy, oz = items[0]
                    sums[0] -= ox
                    sums[1] -= oy
                    sums[2] -= oz
                    sums[3] -= ox * ox + oy * oy + oz * oz
                items_append(vector)
                squared = ax_g * ax_g + ay_g * ay_g + az_g * az_g
                sums[0] += ax_g
                sums[1] += ay_g
                sums[2] += az_g
                sums[3] += squared
                pushes += 1
                if pushes == still:
                    # Re-add exactly once per window length so rounding cannot drift.
                    pushes = 0
                    sums[0] = fsum(v[0] for v in items)
                    sums[1] = fsum(v[1] for v in items)
                    sums[2] = fsum(v[2] for v in items)
                    sums[3] = fsum(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] for v in items)
                magnitude = sqrt(squared)
                full = len(recent) == smoothing
                if full:
                    recent_sum -= recent[0][1]
                recent_append((t_s, magnitude))
                recent_sum += magnitude
                if index % smoothing == 0:  # re-add exactly: no drift on long streams
                    recent_sum = fsum(m for _, m in recent)
                # The oldest sample weighs its fraction; in the stream's first 0.1 s, all count.
                impact = (
                    (recent_sum - edge_lightness * recent[0][1]) / span
                    if full
                    else recent_sum / len(recent)
                )
                if not self._pending and (impact < impact_g or index < self._armed_from):
                    continue  # the common case: nothing to track, nothing to confirm
                self._index = index
                self._track_impacts(t_s, magnitude, impact)
                if self._pending:
                    detection = self._confirm_fall(t_s)
                    if detection is not None:
                        found.append(detection)
        finally:
            self._index, self._last_t_s = index, last_t_s
            self._recent_sum, self._still_pushes = recent_sum, pushes
        return found

    def _track_impacts(self, t_s: float, magnitude: float, impact: float) -> None:
        index = self._index
        latest = self._pending[-1] if self._pending else None
        in_cluster = latest is not None and index - latest.opened_index < self._cluster
        if latest is not None and in_cluster:
            if magnitude > latest.peak_g:
                latest.peak_g, latest.peak_t_s = magnitude, t_s
            if impact >= self.impact_threshold_g:
                latest.last_impact_index = index
                latest.impact_g = max(latest.impact_g, impact)
            return
        if impact < self.impact_threshold_g or index < self._armed_from:
            return
        # history[-1] is this sample: the pre-impact window is [now - start, now - end].
        size = len(self._history)
        start, end = max(0, size - 1 - self._pre_start), size - 1 - self._pre_end
        if end <= start:
            return  # too early in the stream to know the posture before the impact
        before = _mean(list(islice(self._history, start, end)))
        peak_t_s, peak_g = max(self._recent, key=lambda recent: recent[1])
        self._pending.append(_Impact(index, index, peak_t_s, peak_g, impact, before))

    def _confirm_fall(self, t_s: float) -> FallDetection | None:
        index = self._index
        params = self.params
        # Stillness counts only once every impact so far has settled: the still window then
        # follows the last impact, which is the one that ended the fall.
        latest_impact = max(pending.last_impact_index for pending in self._pending)
        settled = index - latest_impact >= self._settle + self._still
        confirmed: list[tuple[_Impact, float]] = []
        rms = math.inf
        if settled:
            after, rms = self._still_mean_and_rms()
            if rms <= params.still_rms_g:
                for pending in self._pending:
                    angle = angle_deg(pending.gravity_before, after)
                    if angle >= params.min_orientation_change_deg:
                        confirmed.append((pending, angle))
        if not confirmed:
            self._pending = [
                p for p in self._pending if index - p.last_impact_index < self._confirm
            ]
            return None
        # The most recent impact that passes is the fall's own; earlier ones are the steps or
        # strides before it, which share the same upright posture and would misdate the fall.
        chosen, angle = confirmed[-1]
        self._pending.clear()
        self._armed_from = index + self._rearm
        return FallDetection(
            t_s=chosen.peak_t_s,
            confirmed_at_s=t_s,
            peak_g=chosen.peak_g,
            impact_g=chosen.impact_g,
            orientation_change_deg=angle,
            stillness_rms_g=rms,
        )

    def _still_mean_and_rms(self) -> tuple[Vector, float]:
        count = len(self._still_items)
        sx, sy, sz, sq = self._still_sums
        mean = (sx / count, sy / count, sz / count)
        variance = sq / count - (mean[0] * mean[0] + mean[1] * mean[1] + mean[2] * mean[2])
        return mean, math.sqrt(max(0.0, variance))


def detect_falls(
    samples: Iterable[Sample],
    rate_hz: float,
    range_g: float,
    params: FallParameters = DEFAULT_FALL_PARAMETERS,
) -> list[FallDetection]:
    """All falls in `(t_s, ax_g, ay_g, az_g)` samples at a constant rate, from a +-`range_g` g
    accelerometer."""
    return FallDetector(rate_hz, range_g, params).feed(samples)
