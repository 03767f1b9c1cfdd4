"""Leave-one-subject-out validation of the fall detector: counts, intervals and tuning rules.

Pure: it works on which trials fired under which parameters, never on the recordings. The
tuning rules choose the detector's data-dependent thresholds from the training subjects' trials
only; `choose` is handed the training trials alone, so the held-out subject cannot leak in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gateway.analytics.falls import DEFAULT_FALL_PARAMETERS, FallParameters

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile: two-sided 95 %

# The thresholds that were set from the data's extremes ("every fall reaches 1.7 g", "falls
# rotated 57-162 degrees", docs/algorithms.md); the windows have physical reasons and stay fixed.
# The rotation grid reaches down to 20 degrees, where sitting down fast starts to pass, so that
# the lower edge of the optimal region is set by the data and not by the grid.
IMPACT_GRID_G = (1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0)
ROTATION_GRID_DEG = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0)

GridPoint = tuple[float, float]  # (impact_g, min_orientation_change_deg)


@dataclass(frozen=True)
class Labelled:
    """A trial as the tuning rules see it: its subject, its label, and whether it fired."""

    subject: str
    is_fall: bool


@dataclass(frozen=True)
class Counts:
    """Falls detected out of falls, and activities without an alarm out of activities."""

    detected: int = 0
    falls: int = 0
    quiet: int = 0
    activities: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.detected + other.detected,
            self.falls + other.falls,
            self.quiet + other.quiet,
            self.activities + other.activities,
        )

    @classmethod
    def of(cls, labels: Sequence[bool], fired: Sequence[bool]) -> Counts:
        """Counts for trials labelled fall (True) or activity (False) and whether each fired."""
        falls = [f for is_fall, f in zip(labels, fired, strict=True) if is_fall]
        quiet = [not f for is_fall, f in zip(labels, fired, strict=True) if not is_fall]
        return cls(sum(falls), len(falls), sum(quiet), len(quiet))

    @property
    def youden(self) -> float:
        """Sensitivity + specificity - 1: both classes weigh the same whatever their sizes."""
        sensitivity = self.detected / self.falls if self.falls else 1.0
        specificity = self.quiet / self.activities if self.activities else 1.0
        return sensitivity + specificity - 1.0


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; sound near 0 and 1, where figures here live."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(successes: int, trials: int) -> str:
    """`97.5 % (117/120) [93.7, 99.1]`: share, counts and 95 % Wilson interval."""
    if not trials:
        return "-"
    low, high = wilson(successes, trials)
    return (
        f"{100 * successes / trials:.1f} % ({successes}/{trials}) "
        f"[{100 * low:.1f}, {100 * high:.1f}]"
    )


def grid_parameters(
    point: GridPoint, base: FallParameters = DEFAULT_FALL_PARAMETERS
) -> FallParameters:
    impact_g, rotation_deg = point
    return dataclasses.replace(base, impact_g=impact_g, min_orientation_change_deg=rotation_deg)


def grid() -> list[GridPoint]:
    return [(i, r) for i in IMPACT_GRID_G for r in ROTATION_GRID_DEG]


def optimal_points(
    fired_by_point: Mapping[GridPoint, Sequence[bool]], labels: Sequence[bool]
) -> list[GridPoint]:
    """The grid points with the best Youden index on these trials."""
    scores = {point: Counts.of(labels, fired).youden for point, fired in fired_by_point.items()}
    best = max(scores.values())
    # Youden indices are ratios of small integers: equal ones may differ in the last bit.
    return [point for point, score in scores.items() if score >= best - 1e-12]


def tightest(optimal: Sequence[GridPoint]) -> GridPoint:
    """The optimal point with the highest impact threshold, then the highest rotation.

    How the detector's thresholds were first set: just below the weakest fall on each axis
    ("every fall reaches 1.7 g", "the least-rotated fall turned 57 degrees").
    """
    return max(optimal)


def centred(optimal: Sequence[GridPoint]) -> GridPoint:
    """The optimal point nearest the middle of the optimal region, on each axis in grid steps.

    The middle leaves the same margin to the trials of either class that bound the region, so
    that the next subject's weakest fall and strongest activity have equal room. Ties go to the
    lower thresholds, the side of sensitivity.
    """

    def steps(point: GridPoint) -> tuple[float, float]:
        return (IMPACT_GRID_G.index(point[0]), ROTATION_GRID_DEG.index(point[1]))

    coordinates = [steps(point) for point in optimal]
    middle = tuple(
        (min(c[axis] for c in coordinates) + max(c[axis] for c in coordinates)) / 2
        for axis in (0, 1)
    )
    return min(
        optimal,
        key=lambda point: (
            math.dist(steps(point), middle),
            point,
        ),
    )


@dataclass(frozen=True)
class Rule:
    """A way of choosing the thresholds from the training subjects' trials."""

    name: str
    summary: str
    pick: Callable[[Sequence[GridPoint]], GridPoint]


RULES = (
    Rule(
        "tightest",
        "the best Youden index on the training subjects, then the highest thresholds "
        "(how the detector's defaults were first set)",
        tightest,
    ),
    Rule(
        "centred",
        "the best Youden index on the training subjects, then the middle of the optimal region",
        centred,
    ),
)


def choose(
    rule: Rule,
    fired_by_point: Mapping[GridPoint, Sequence[bool]],
    training: Sequence[Labelled],
) -> GridPoint:
    """The rule's thresholds, from the training trials alone (`fired_by_point` is over them)."""
    return rule.pick(optimal_points(fired_by_point, [trial.is_fall for trial in training]))
