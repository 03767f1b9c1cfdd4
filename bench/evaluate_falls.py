"""Evaluate the fall detector on the SisFall development split: leave-one-subject-out and pooled.

    .venv/bin/python bench/evaluate_falls.py ../shared/data/sisfall-dev [--jobs 2]
        [--rates 25 50 100 200] [--ranges 16 8 4 2] [--select-at 50 16]
        [--pooled-only] [--ablation] [--sweep] [--rotate SEED] [--cache-dir DIR]

Each trial's ADXL345 columns are turned into what a sensor at each rate and range would have
output (bench/sisfall.py: clipped to the range, low-passed and decimated from 200 Hz), then
replayed through the detector. A fall trial (F01-F15) counts as detected if the detector fires
at least once; an activity trial (D01-D19) counts as a false alarm if it fires at all.

Two evaluations, printed as Markdown:

- Leave-one-subject-out (LOSO), the one that judges the detector: for each subject in turn, the
  thresholds set from data (impact and rotation) are chosen by a tuning rule on the other
  subjects' trials only (a grid at the --select-at condition), then the held-out subject's
  trials are replayed with them at every rate and range. Sensitivity and specificity per held-out
  subject and pooled over them, with 95 % Wilson intervals, for each tuning rule.
- Pooled: the shipped parameters on every trial, as before LOSO existed; it is an upper bound,
  since those parameters were chosen while looking at these trials.

--ablation and --sweep add the stage-by-stage and one-parameter-at-a-time tables (pooled, at
every condition of --rates and --ranges); --rotate turns every trial by a random rotation
first, to show that the mounting does not matter. Resampled recordings are cached outside the
repository (default: the system's temp directory); --jobs runs conditions in parallel.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fall_validation import (
    RULES,
    Counts,
    GridPoint,
    Labelled,
    Rule,
    choose,
    grid,
    grid_parameters,
    proportion,
)
from sisfall import DEFAULT_CACHE_DIR, Condition, Recordings, Trial

from gateway.analytics.falls import (
    DEFAULT_FALL_PARAMETERS,
    FallDetection,
    FallParameters,
    detect_falls,
)

RATES_HZ = (25, 50, 100, 200)
RANGES_G = (16.0, 8.0, 4.0, 2.0)
SELECT_AT = Condition(50, 16.0)
# Activities that look most like falls to a trunk sensor, discussed in docs/algorithms.md.
HARD_NEGATIVES = ("D03", "D04", "D08", "D09", "D10", "D11", "D13", "D14", "D17", "D18", "D19")

Detections = list[FallDetection]
ALL_SUBJECTS = "(none: all subjects)"


@dataclass(frozen=True)
class Run:
    """Replay these trials (manifest indices) with these parameters."""

    params: FallParameters
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Job:
    condition: Condition
    runs: tuple[Run, ...]


# --- replaying, in this process or in workers ------------------------------------------------

_recordings: Recordings | None = None


def _start_worker(root: Path, cache_dir: Path, rotation_seed: int | None) -> None:
    global _recordings  # noqa: PLW0603 - one loader per worker process, set by its initializer
    _recordings = Recordings(root, cache_dir, rotation_seed)


def _warm(conditions: Sequence[Condition]) -> None:
    assert _recordings is not None
    for condition in conditions:
        _recordings.axes(condition)


def _replay(job: Job) -> list[list[Detections]]:
    """Per run, per trial of the run: the detections."""
    assert _recordings is not None
    all_axes = _recordings.axes(job.condition)
    rate, range_g = job.condition.rate_hz, job.condition.range_g
    results = []
    for run in job.runs:
        found = []
        for index in run.indices:
            xs, ys, zs = all_axes[index]
            samples = [
                (n / rate, x, y, z) for n, (x, y, z) in enumerate(zip(xs, ys, zs, strict=True))
            ]
            found.append(detect_falls(samples, rate, range_g, run.params))
        results.append(found)
    return results


class Replayer:
    """Runs jobs inline (one process) or on a pool of worker processes."""

    def __init__(self, root: Path, cache_dir: Path, rotation_seed: int | None, jobs: int) -> None:
        self.jobs = jobs
        self.recordings = Recordings(root, cache_dir, rotation_seed)
        self._pool = (
            ProcessPoolExecutor(
                jobs, initializer=_start_worker, initargs=(root, cache_dir, rotation_seed)
            )
            if jobs > 1
            else None
        )
        _start_worker(root, cache_dir, rotation_seed)

    def warm(self, conditions: Sequence[Condition]) -> None:
        """Derive and cache every condition first, one range per task: each reads the files."""
        by_range: defaultdict[float, list[Condition]] = defaultdict(list)
        for condition in conditions:
            by_range[condition.range_g].append(condition)
        if self._pool is None:
            _warm(conditions)
        else:
            list(self._pool.map(_warm, by_range.values()))

    def replay(self, jobs: Sequence[Job]) -> list[list[list[Detections]]]:
        if self._pool is None:
            return [_replay(job) for job in jobs]
        return list(self._pool.map(_replay, jobs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def chunks(items: Sequence[GridPoint], count: int) -> Iterator[Sequence[GridPoint]]:
    size = max(1, math.ceil(len(items) / count))
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the two evaluations ---------------------------------------------------------------------


@dataclass
class Loso:
    """One tuning rule's leave-one-subject-out result."""

    rule: Rule
    chosen: dict[str, GridPoint]
    # detections[condition][trial index], each trial replayed by its own fold
    detections: dict[Condition, dict[int, Detections]]


def subjects_of(trials: Sequence[Trial]) -> list[str]:
    return sorted({trial.subject for trial in trials})


def fold_choices(
    trials: Sequence[Trial], fired_by_point: dict[GridPoint, list[bool]], rule: Rule
) -> dict[str, GridPoint]:
    """Per held-out subject, the rule's thresholds from the other subjects' trials; under
    `ALL_SUBJECTS`, what the rule chooses from every trial (the values to ship)."""
    chosen = {}
    for held_out in [*subjects_of(trials), ALL_SUBJECTS]:
        training = [i for i, trial in enumerate(trials) if trial.subject != held_out]
        chosen[held_out] = choose(
            rule,
            {point: [fired[i] for i in training] for point, fired in fired_by_point.items()},
            [Labelled(trials[i].subject, trials[i].is_fall) for i in training],
        )
    return chosen


def counts(
    trials: Sequence[Trial], detections: dict[int, Detections], subject: str | None = None
) -> Counts:
    chosen = [i for i in detections if subject is None or trials[i].subject == subject]
    return Counts.of([trials[i].is_fall for i in chosen], [bool(detections[i]) for i in chosen])


# --- report ----------------------------------------------------------------------------------


def describe(detection: FallDetection) -> str:
    return (
        f"t={detection.t_s:.2f} s, peak {detection.peak_g:.2f} g, impact "
        f"{detection.impact_g:.2f} g, rotation {detection.orientation_change_deg:.0f} deg, "
        f"stillness {detection.stillness_rms_g:.3f} g"
    )


def point_text(point: GridPoint) -> str:
    return f"{point[0]:g} g, {point[1]:g} deg"


def print_pooled(
    trials: Sequence[Trial],
    conditions: Sequence[Condition],
    outcomes: dict[Condition, dict[int, Detections]],
    recordings: Recordings,
) -> None:
    print("## Pooled: the shipped parameters on every trial (an upper bound)\n")
    print(f"Parameters: {DEFAULT_FALL_PARAMETERS}\n")
    print("| condition | sensitivity [95 % CI] | specificity [95 % CI] |")
    print("|---|---|---|")
    for condition in conditions:
        total = counts(trials, outcomes[condition])
        print(
            f"| {condition} | {proportion(total.detected, total.falls)} | "
            f"{proportion(total.quiet, total.activities)} |"
        )
    widest = [c for c in conditions if c.range_g == max(c.range_g for c in conditions)]
    print(f"\n### Per activity code, at +-{widest[0].range_g:g} g\n")
    print("| code | trials | " + " | ".join(f"correct at {c.rate_hz} Hz" for c in widest) + " |")
    print("|---|---|" + "---|" * len(widest))
    for code in sorted({trial.code for trial in trials}):
        mine = [i for i, trial in enumerate(trials) if trial.code == code]
        cells = []
        for condition in widest:
            correct = sum(bool(outcomes[condition][i]) == trials[i].is_fall for i in mine)
            cells.append(f"{100 * correct / len(mine):.1f} % ({correct}/{len(mine)})")
        print(f"| {code} | {len(mine)} | " + " | ".join(cells) + " |")
    print("\n### Impact measured in the detected falls (the first detection's `impact_g`)\n")
    print("Clipping caps what a narrow range can measure; the threshold must stay below it.\n")
    print("| condition | lowest | 10th percentile | median | highest |")
    print("|---|---|---|---|---|")
    for condition in conditions:
        impacts = sorted(
            found[0].impact_g
            for i, found in outcomes[condition].items()
            if trials[i].is_fall and found
        )
        tenth = statistics.quantiles(impacts, n=10)[0]
        print(
            f"| {condition} | {impacts[0]:.2f} g | {tenth:.2f} g | "
            f"{statistics.median(impacts):.2f} g | {impacts[-1]:.2f} g |"
        )
    print("\n### Timing of the detections in fall trials\n")
    print("SisFall has no onset annotation; the trial's largest |a| stands in for the impact.\n")
    print("| condition | median offset | largest offset | median confirmation delay |")
    print("|---|---|---|---|")
    for condition in conditions:
        offsets, delays = [], []
        axes = recordings.axes(condition)
        for i, found in outcomes[condition].items():
            if trials[i].is_fall and found:
                xs, ys, zs = axes[i]
                magnitudes = [math.hypot(x, y, z) for x, y, z in zip(xs, ys, zs, strict=True)]
                largest_at = magnitudes.index(max(magnitudes)) / condition.rate_hz
                offsets.append(abs(found[0].t_s - largest_at))
                delays.append(found[0].confirmed_at_s - found[0].t_s)
        print(
            f"| {condition} | {statistics.median(offsets):.2f} s | {max(offsets):.2f} s | "
            f"{statistics.median(delays):.2f} s |"
        )
    print("\n### Errors\n")
    print_errors(trials, conditions, outcomes)


def print_errors(
    trials: Sequence[Trial],
    conditions: Sequence[Condition],
    outcomes: dict[Condition, dict[int, Detections]],
) -> None:
    """Each wrong trial once, with the conditions where it is wrong and the first evidence."""
    wrong: defaultdict[int, list[Condition]] = defaultdict(list)
    for condition in conditions:
        for i, found in outcomes[condition].items():
            if bool(found) != trials[i].is_fall:
                wrong[i].append(condition)
    if not wrong:
        print("None.")
    for i in sorted(wrong, key=lambda i: (trials[i].code, trials[i].file)):
        where = wrong[i]
        first = outcomes[where[0]][i]
        places = "every condition" if len(where) == len(conditions) else "; ".join(map(str, where))
        if trials[i].is_fall:
            print(f"- {trials[i].code} `{trials[i].file}`: missed fall at {places}")
        else:
            print(
                f"- {trials[i].code} `{trials[i].file}`: false alarm at {places} "
                f"(at {where[0]}: {describe(first[0])})"
            )


def print_loso(
    trials: Sequence[Trial],
    conditions: Sequence[Condition],
    select_at: Condition,
    result: Loso,
) -> None:
    subjects = subjects_of(trials)
    print(f"### Rule `{result.rule.name}`: {result.rule.summary}\n")
    print("Thresholds chosen without the held-out subject (impact, rotation):\n")
    print("| held out | " + " | ".join(subjects) + " | none |")
    print("|---|" + "---|" * (len(subjects) + 1))
    print(
        "| chosen | "
        + " | ".join(point_text(result.chosen[s]) for s in [*subjects, ALL_SUBJECTS])
        + " |\n"
    )
    print("Pooled over the held-out subjects:\n")
    print("| condition | sensitivity [95 % CI] | specificity [95 % CI] |")
    print("|---|---|---|")
    for condition in conditions:
        total = counts(trials, result.detections[condition])
        print(
            f"| {condition} | {proportion(total.detected, total.falls)} | "
            f"{proportion(total.quiet, total.activities)} |"
        )
    print(f"\nPer held-out subject at {select_at}:\n")
    print("| held out | falls detected [95 % CI] | activities without alarm [95 % CI] |")
    print("|---|---|---|")
    for subject in subjects:
        mine = counts(trials, result.detections[select_at], subject)
        print(
            f"| {subject} | {proportion(mine.detected, mine.falls)} | "
            f"{proportion(mine.quiet, mine.activities)} |"
        )
    print("\nPer held-out subject at every condition (falls detected; activities without alarm):\n")
    print("| held out | " + " | ".join(str(c) for c in conditions) + " |")
    print("|---|" + "---|" * len(conditions))
    for subject in subjects:
        cells = []
        for condition in conditions:
            mine = counts(trials, result.detections[condition], subject)
            falls = f"{mine.detected}/{mine.falls}" if mine.falls else "-"
            cells.append(f"{falls}; {mine.quiet}/{mine.activities}")
        print(f"| {subject} | " + " | ".join(cells) + " |")
    print("\nErrors:\n")
    print_errors(trials, conditions, result.detections)
    print()


def print_summary(
    trials: Sequence[Trial],
    conditions: Sequence[Condition],
    pooled: dict[Condition, dict[int, Detections]],
    results: Sequence[Loso],
) -> None:
    print("## Summary: sensitivity / specificity (%)\n")
    names = [f"LOSO, `{r.rule.name}`" for r in results]
    print("| condition | " + " | ".join(names) + " | pooled, shipped parameters |")
    print("|---|" + "---|" * (len(names) + 1))
    for condition in conditions:
        cells = []
        for detections in [*(r.detections[condition] for r in results), pooled[condition]]:
            total = counts(trials, detections)
            cells.append(
                f"{100 * total.detected / total.falls:.1f} / "
                f"{100 * total.quiet / total.activities:.1f}"
            )
        print(f"| {condition} | " + " | ".join(cells) + " |")
    print()


ABLATIONS = {
    "impact only": {"min_orientation_change_deg": 0.0, "still_rms_g": math.inf},
    "impact + stillness": {"min_orientation_change_deg": 0.0},
    "impact + rotation": {"still_rms_g": math.inf},
    "impact + rotation + stillness (the detector)": {},
}

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
# Impact thresholds with the range bound lifted (the bound set to the range itself): what a
# threshold above 80 % of the range would cost at +-2 g.
UNBOUNDED_IMPACT_G = (1.7, 1.8, 1.9, 2.0)


def print_ablation(
    trials: Sequence[Trial], replayer: Replayer, conditions: Sequence[Condition]
) -> None:
    """What each stage contributes: false alarms per hard-negative code as stages are added."""
    print("\n## Ablation: the stages one by one (pooled)\n")
    header = " | ".join(HARD_NEGATIVES)
    print(f"| stages | condition | sensitivity | specificity | false alarms: {header} |")
    print("|---|---|---|---|" + "---|" * len(HARD_NEGATIVES))
    everything = tuple(range(len(trials)))
    variants = {
        name: dataclasses.replace(DEFAULT_FALL_PARAMETERS, **changes)
        for name, changes in ABLATIONS.items()
    }
    jobs = [Job(c, tuple(Run(p, everything) for p in variants.values())) for c in conditions]
    for condition, per_run in zip(conditions, replayer.replay(jobs), strict=True):
        for name, found in zip(variants, per_run, strict=True):
            total = Counts.of([t.is_fall for t in trials], [bool(f) for f in found])
            alarms: defaultdict[str, int] = defaultdict(int)
            totals: defaultdict[str, int] = defaultdict(int)
            for trial, fired in zip(trials, found, strict=True):
                totals[trial.code] += 1
                alarms[trial.code] += bool(fired) and not trial.is_fall
            cells = " | ".join(f"{alarms[c]}/{totals[c]}" for c in HARD_NEGATIVES)
            print(
                f"| {name} | {condition} | {proportion(total.detected, total.falls)} | "
                f"{proportion(total.quiet, total.activities)} | {cells} |"
            )


def print_sweep(
    trials: Sequence[Trial], replayer: Replayer, conditions: Sequence[Condition]
) -> None:
    """Each parameter moved alone to either side of its default: how fragile are the figures?"""
    print("\n## Sensitivity to each parameter (pooled; sensitivity / specificity in %)\n")
    print("| parameter | value | " + " | ".join(str(c) for c in conditions) + " |")
    print("|---|---|" + "---|" * len(conditions))
    rows = [("(defaults)", "", DEFAULT_FALL_PARAMETERS)]
    for name, values in SWEEP.items():
        rows += [
            (name, f"{v:g}", dataclasses.replace(DEFAULT_FALL_PARAMETERS, **{name: v}))
            for v in values
        ]
    rows += [
        (
            "impact_g, range bound lifted",
            f"{v:g}",
            dataclasses.replace(
                DEFAULT_FALL_PARAMETERS, impact_g=v, impact_max_fraction_of_range=1.0
            ),
        )
        for v in UNBOUNDED_IMPACT_G
    ]
    everything = tuple(range(len(trials)))
    jobs = [Job(c, tuple(Run(p, everything) for _, _, p in rows)) for c in conditions]
    per_condition = replayer.replay(jobs)
    labels = [t.is_fall for t in trials]
    for row, (name, value, _) in enumerate(rows):
        cells = []
        for per_run in per_condition:
            total = Counts.of(labels, [bool(f) for f in per_run[row]])
            cells.append(
                f"{100 * total.detected / total.falls:.1f} / "
                f"{100 * total.quiet / total.activities:.1f}"
            )
        print(f"| {name} | {value} | " + " | ".join(cells) + " |")


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the sisfall-dev directory (with manifest.csv)")
    parser.add_argument(
        "--rates",
        type=int,
        nargs="+",
        default=list(RATES_HZ),
        choices=(20, 25, 40, 50, 100, 200),
        help="rates to evaluate at, divisors of 200 Hz (default: 25 50 100 200)",
    )
    parser.add_argument(
        "--ranges",
        type=float,
        nargs="+",
        default=list(RANGES_G),
        metavar="G",
        help="accelerometer ranges, +-g, 2 to 16 (default: 16 8 4 2; 16 is SisFall's own)",
    )
    parser.add_argument(
        "--select-at",
        type=float,
        nargs=2,
        default=[SELECT_AT.rate_hz, SELECT_AT.range_g],
        metavar=("HZ", "G"),
        help="the condition at which tuning rules choose thresholds (default: 50 16)",
    )
    parser.add_argument("--pooled-only", action="store_true", help="skip the LOSO evaluation")
    parser.add_argument("--ablation", action="store_true", help="also evaluate stage by stage")
    parser.add_argument("--sweep", action="store_true", help="also move each parameter alone")
    parser.add_argument(
        "--rotate",
        type=int,
        metavar="SEED",
        help="turn every trial by its own random rotation (seeded), as if mounted at any angle",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help=f"where resampled recordings are cached (default: {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    args = parser.parse_args()
    if not all(2.0 <= r <= 16.0 for r in args.ranges):
        parser.error("--ranges must lie between 2 and 16 g")
    return args


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    conditions = [Condition(rate, range_g) for range_g in args.ranges for rate in args.rates]
    select_at = Condition(int(args.select_at[0]), args.select_at[1])
    replayer = Replayer(args.data, args.cache_dir, args.rotate, max(1, args.jobs))
    trials = replayer.recordings.trials
    everything = tuple(range(len(trials)))
    try:
        replayer.warm(sorted({*conditions, select_at}, key=lambda c: (c.range_g, c.rate_hz)))
        loaded = time.perf_counter()
        pooled_jobs = [Job(c, (Run(DEFAULT_FALL_PARAMETERS, everything),)) for c in conditions]
        points = [] if args.pooled_only else grid()
        grid_jobs = [
            Job(select_at, tuple(Run(grid_parameters(p), everything) for p in part))
            for part in chunks(points, 2 * replayer.jobs)
        ]
        replayed = replayer.replay([*pooled_jobs, *grid_jobs])
        pooled = {
            c: dict(zip(everything, runs[0], strict=True))
            for c, runs in zip(conditions, replayed[: len(conditions)], strict=True)
        }
        fired_by_point = {
            point: [bool(found) for found in per_trial]
            for point, per_trial in zip(
                points, [run for runs in replayed[len(conditions) :] for run in runs], strict=True
            )
        }
        results = [] if args.pooled_only else loso(trials, conditions, fired_by_point, replayer)
        turned = (
            ""
            if args.rotate is None
            else f", each turned by a random rotation (seed {args.rotate})"
        )
        falls = sum(t.is_fall for t in trials)
        print(
            f"# Fall detector on {args.data}: {len(trials)} trials ({falls} falls, "
            f"{len(trials) - falls} activities) from {len(subjects_of(trials))} subjects{turned}\n"
        )
        if results:
            print_summary(trials, conditions, pooled, results)
            print("## Leave-one-subject-out\n")
            print(
                f"Tuning grid at {select_at}: impact_g x min_orientation_change_deg over "
                f"{len(points)} points; each fold chooses from the other subjects' trials only.\n"
            )
            for result in results:
                print_loso(trials, conditions, select_at, result)
        print_pooled(trials, conditions, pooled, replayer.recordings)
        if args.ablation:
            print_ablation(trials, replayer, conditions)
        if args.sweep:
            print_sweep(trials, replayer, conditions)
    finally:
        replayer.close()
    print(
        f"\n_Loading and resampling {loaded - started:.1f} s; replaying "
        f"{time.perf_counter() - loaded:.1f} s with {replayer.jobs} process(es)._"
    )


def loso(
    trials: Sequence[Trial],
    conditions: Sequence[Condition],
    fired_by_point: dict[GridPoint, list[bool]],
    replayer: Replayer,
) -> list[Loso]:
    """Every rule's folds: each held-out subject's trials replayed with that fold's choice."""
    choices = {rule.name: fold_choices(trials, fired_by_point, rule) for rule in RULES}
    runs: list[tuple[str, Run]] = []
    for rule in RULES:
        for subject, point in choices[rule.name].items():
            if subject == ALL_SUBJECTS:
                continue
            mine = tuple(i for i, trial in enumerate(trials) if trial.subject == subject)
            runs.append((rule.name, Run(grid_parameters(point), mine)))
    jobs = [Job(c, tuple(run for _, run in runs)) for c in conditions]
    results = {
        rule.name: Loso(rule, choices[rule.name], {c: {} for c in conditions}) for rule in RULES
    }
    for condition, per_run in zip(conditions, replayer.replay(jobs), strict=True):
        for (name, run), found in zip(runs, per_run, strict=True):
            results[name].detections[condition].update(zip(run.indices, found, strict=True))
    return list(results.values())


if __name__ == "__main__":
    main()
