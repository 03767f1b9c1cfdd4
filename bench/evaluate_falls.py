"""Evaluate the fall detector on the SisFall development split, resampled to 50 and 25 Hz.

    .venv/bin/python bench/evaluate_falls.py ../shared/data/sisfall-dev [--ablation] [--sweep]
        [--rates 50 25] [--rotate SEED]

SisFall (Sucerquia, Lopez and Vargas-Bonilla, Sensors 2017, 17(1):198) is not part of the
project and is never copied into it: this script reads it where it lies. Each trial's ADXL345
columns (g = count x 0.00390625) are low-passed and decimated from 200 Hz in pure Python, then
replayed through the detector. A fall trial (F01-F15) counts as detected if the detector fires
at least once; an activity trial (D01-D19) counts as a false alarm if it fires at all.

Prints Markdown: overall and per-activity sensitivity and specificity at each rate, the missed
falls and false alarms with the evidence, and optionally an ablation of the detector's stages
(--ablation) and a one-parameter-at-a-time sensitivity sweep (--sweep). --rotate turns every
trial by a random rotation first, to show that the mounting does not matter.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.analytics.falls import (
    DEFAULT_FALL_PARAMETERS,
    FallDetection,
    FallParameters,
    detect_falls,
)
from gateway.analytics.resample import decimate
from tests.gateway.analytics.signals import random_rotation  # one rotation helper for both

SOURCE_RATE_HZ = 200
ADXL345_G_PER_COUNT = 0.00390625  # +-16 g over 13 bits: 32 / 8192
RATES_HZ = (50, 25)
# Activities that look most like falls to a trunk sensor, discussed in docs/algorithms.md.
HARD_NEGATIVES = ("D03", "D04", "D08", "D09", "D10", "D11", "D13", "D14", "D17", "D18", "D19")

Axes = tuple[list[float], list[float], list[float]]
Axes3 = tuple[float, float, float]


@dataclass(frozen=True)
class Trial:
    file: str
    code: str
    is_fall: bool
    axes_by_rate: dict[int, Axes]


@dataclass(frozen=True)
class Outcome:
    trial: Trial
    detections: list[FallDetection]

    @property
    def correct(self) -> bool:
        return bool(self.detections) == self.trial.is_fall


def load_adxl345(path: Path) -> Axes:
    """The first three columns of a SisFall file, in g."""
    xs: list[float] = []
    ys: list[float] = []
    zs: list[float] = []
    with path.open(encoding="ascii") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip().rstrip(";")
            if not text:
                continue
            fields = text.split(",")
            if len(fields) != 9:
                raise SystemExit(f"{path}: line {number}: expected 9 columns, found {len(fields)}")
            xs.append(int(fields[0]) * ADXL345_G_PER_COUNT)
            ys.append(int(fields[1]) * ADXL345_G_PER_COUNT)
            zs.append(int(fields[2]) * ADXL345_G_PER_COUNT)
    return xs, ys, zs


def resample(axes: Axes, rate: int) -> Axes:
    """The three axes at `rate`, anti-alias filtered and decimated from 200 Hz."""
    if SOURCE_RATE_HZ % rate:
        raise SystemExit(f"{rate} Hz does not divide {SOURCE_RATE_HZ} Hz")
    factor = SOURCE_RATE_HZ // rate
    xs, ys, zs = axes
    return decimate(xs, factor), decimate(ys, factor), decimate(zs, factor)


def rotated(axes: Axes, rng: random.Random) -> Axes:
    """The trial as a sensor mounted at a random angle would have recorded it."""
    (a, b, c), (d, e, f), (g, h, i) = random_rotation(rng)
    xs, ys, zs = axes
    return (
        [a * x + b * y + c * z for x, y, z in zip(xs, ys, zs, strict=True)],
        [d * x + e * y + f * z for x, y, z in zip(xs, ys, zs, strict=True)],
        [g * x + h * y + i * z for x, y, z in zip(xs, ys, zs, strict=True)],
    )


def load_trials(root: Path, rates: Sequence[int], rotation_seed: int | None = None) -> list[Trial]:
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: not found; give the sisfall-dev directory")
    rng = None if rotation_seed is None else random.Random(rotation_seed)
    trials = []
    with manifest.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            axes = load_adxl345(root / row["file"])
            if rng is not None:
                axes = rotated(axes, rng)
            by_rate = {rate: resample(axes, rate) for rate in rates}
            trials.append(Trial(row["file"], row["activity_code"], row["label"] == "fall", by_rate))
    return trials


def evaluate(trials: Sequence[Trial], rate: int, params: FallParameters) -> list[Outcome]:
    outcomes = []
    for trial in trials:
        xs, ys, zs = trial.axes_by_rate[rate]
        samples = [(n / rate, x, y, z) for n, (x, y, z) in enumerate(zip(xs, ys, zs, strict=True))]
        outcomes.append(Outcome(trial, detect_falls(samples, rate, params)))
    return outcomes


def rates_of(outcomes: Sequence[Outcome]) -> tuple[int, int, int, int]:
    """(falls detected, falls, activities without alarm, activities)."""
    falls = [o for o in outcomes if o.trial.is_fall]
    adls = [o for o in outcomes if not o.trial.is_fall]
    return (
        sum(o.correct for o in falls),
        len(falls),
        sum(o.correct for o in adls),
        len(adls),
    )


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "-"


def describe(detection: FallDetection) -> str:
    return (
        f"t={detection.t_s:.2f} s, peak {detection.peak_g:.2f} g, impact "
        f"{detection.impact_g:.2f} g, rotation {detection.orientation_change_deg:.0f} deg, "
        f"stillness {detection.stillness_rms_g:.3f} g"
    )


def largest_magnitude_time(trial: Trial, rate: int) -> float:
    xs, ys, zs = trial.axes_by_rate[rate]
    magnitudes = [math.sqrt(x * x + y * y + z * z) for x, y, z in zip(xs, ys, zs, strict=True)]
    return magnitudes.index(max(magnitudes)) / rate


def report(outcomes_by_rate: dict[int, list[Outcome]]) -> None:
    rates = list(outcomes_by_rate)
    print("## Overall\n")
    print("| rate | sensitivity | specificity | accuracy |")
    print("|---|---|---|---|")
    for rate, outcomes in outcomes_by_rate.items():
        tp, falls, tn, adls = rates_of(outcomes)
        print(
            f"| {rate} Hz | {percent(tp, falls)} | {percent(tn, adls)} | "
            f"{percent(tp + tn, falls + adls)} |"
        )
    print("\n## Per activity code\n")
    print("| code | trials | " + " | ".join(f"correct at {rate} Hz" for rate in rates) + " |")
    print("|---|---|" + "---|" * len(rates))
    codes = sorted({o.trial.code for o in next(iter(outcomes_by_rate.values()))})
    for code in codes:
        cells = []
        for rate in rates:
            mine = [o for o in outcomes_by_rate[rate] if o.trial.code == code]
            cells.append(percent(sum(o.correct for o in mine), len(mine)))
        print(f"| {code} | {len(mine)} | " + " | ".join(cells) + " |")
    print("\n## Timing of the detections in fall trials\n")
    print("SisFall has no onset annotation; the trial's largest |a| stands in for the impact.\n")
    print("| rate | median offset | largest offset | median confirmation delay |")
    print("|---|---|---|---|")
    for rate, outcomes in outcomes_by_rate.items():
        offsets, delays = [], []
        for o in outcomes:
            if o.trial.is_fall and o.detections:
                first = o.detections[0]
                offsets.append(abs(first.t_s - largest_magnitude_time(o.trial, rate)))
                delays.append(first.confirmed_at_s - first.t_s)
        print(
            f"| {rate} Hz | {statistics.median(offsets):.2f} s | {max(offsets):.2f} s | "
            f"{statistics.median(delays):.2f} s |"
        )
    for rate, outcomes in outcomes_by_rate.items():
        print(f"\n## Errors at {rate} Hz\n")
        errors = [o for o in outcomes if not o.correct]
        if not errors:
            print("None.")
        for o in errors:
            what = "missed fall" if o.trial.is_fall else "false alarm"
            evidence = "; ".join(describe(d) for d in o.detections) or "no detection"
            print(f"- {o.trial.code} `{o.trial.file}`: {what} ({evidence})")


ABLATIONS = {
    "impact only": {"min_orientation_change_deg": 0.0, "still_rms_g": math.inf},
    "impact + stillness": {"min_orientation_change_deg": 0.0},
    "impact + rotation": {"still_rms_g": math.inf},
    "impact + rotation + stillness (the detector)": {},
}


def ablation(trials: Sequence[Trial], rates: Sequence[int]) -> None:
    """What each stage contributes: false alarms per hard-negative code as stages are added."""
    print("\n## Ablation: the stages one by one\n")
    header = " | ".join(HARD_NEGATIVES)
    print(f"| stages | rate | sensitivity | specificity | false alarms: {header} |")
    print("|---|---|---|---|" + "---|" * len(HARD_NEGATIVES))
    for name, changes in ABLATIONS.items():
        params = dataclasses.replace(DEFAULT_FALL_PARAMETERS, **changes)
        for rate in rates:
            outcomes = evaluate(trials, rate, params)
            tp, falls, tn, adls = rates_of(outcomes)
            alarms: defaultdict[str, int] = defaultdict(int)
            totals: defaultdict[str, int] = defaultdict(int)
            for o in outcomes:
                totals[o.trial.code] += 1
                alarms[o.trial.code] += not o.correct and not o.trial.is_fall
            cells = " | ".join(f"{alarms[c]}/{totals[c]}" for c in HARD_NEGATIVES)
            print(f"| {name} | {rate} Hz | {percent(tp, falls)} | {percent(tn, adls)} | {cells} |")


SWEEP: dict[str, tuple[float, ...]] = {
    "impact_g": (1.4, 1.8, 2.0),
    "impact_smoothing_s": (0.05, 0.15),
    "pre_window_start_s": (2.5, 4.0),
    "pre_window_end_s": (0.5, 1.5),
    "settle_s": (0.5, 1.5),
    "still_window_s": (1.0, 2.0),
    "still_rms_g": (0.05, 0.2),
    "confirm_within_s": (4.0, 10.0),
    "min_orientation_change_deg": (45.0, 65.0),
}


def sweep(trials: Sequence[Trial], rates: Sequence[int]) -> None:
    """Each parameter moved alone to either side of its default: how fragile are the figures?"""
    print("\n## Sensitivity to each parameter (sensitivity / specificity)\n")
    print("| parameter | value | " + " | ".join(f"{rate} Hz" for rate in rates) + " |")
    print("|---|---|" + "---|" * len(rates))
    rows = [("(defaults)", "", DEFAULT_FALL_PARAMETERS)]
    for name, values in SWEEP.items():
        default = getattr(DEFAULT_FALL_PARAMETERS, name)
        rows.append((name, f"{default:g} (default)", DEFAULT_FALL_PARAMETERS))
        rows += [
            (name, f"{v:g}", dataclasses.replace(DEFAULT_FALL_PARAMETERS, **{name: v}))
            for v in values
        ]
    for name, value, params in rows:
        cells = []
        for rate in rates:
            tp, falls, tn, adls = rates_of(evaluate(trials, rate, params))
            cells.append(f"{100 * tp / falls:.1f} / {100 * tn / adls:.1f}")
        print(f"| {name} | {value} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the sisfall-dev directory (with manifest.csv)")
    parser.add_argument(
        "--rates",
        type=int,
        nargs="+",
        default=list(RATES_HZ),
        choices=(20, 25, 40, 50, 100, 200),
        help="rates to evaluate at, divisors of 200 Hz (default: 50 25)",
    )
    parser.add_argument(
        "--rotate",
        type=int,
        metavar="SEED",
        help="turn every trial by its own random rotation (seeded), as if mounted at any angle",
    )
    parser.add_argument("--ablation", action="store_true", help="also evaluate stage by stage")
    parser.add_argument("--sweep", action="store_true", help="also move each parameter alone")
    args = parser.parse_args()
    started = time.perf_counter()
    trials = load_trials(args.data, args.rates, args.rotate)
    loaded = time.perf_counter()
    outcomes = {rate: evaluate(trials, rate, DEFAULT_FALL_PARAMETERS) for rate in args.rates}
    evaluated = time.perf_counter()
    turned = (
        "" if args.rotate is None else f", each turned by a random rotation (seed {args.rotate})"
    )
    print(f"# Fall detector on {args.data} ({len(trials)} trials{turned})\n")
    print(f"Parameters: {DEFAULT_FALL_PARAMETERS}\n")
    report(outcomes)
    if args.ablation:
        ablation(trials, args.rates)
    if args.sweep:
        sweep(trials, args.rates)
    print(
        f"\n_Loading and resampling {loaded - started:.1f} s; detection at "
        f"{len(args.rates)} rates {evaluated - loaded:.1f} s._"
    )


if __name__ == "__main__":
    main()
