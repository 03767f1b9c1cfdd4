"""`bluewatch analyze`: replay recorded CSV through the officer-safety analytics, offline.

`analyze falls FILE.csv` runs the fall detector over `t_s,ax_g,ay_g,az_g` samples;
`analyze core-temp FILE.csv` estimates core temperature and PSI from `minute,hr_bpm` rows. Both
print one JSON object per result and refuse malformed files whole, naming file, line and problem.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.analytics.core_temp import (
    DEFAULT_CORE_TEMP_PARAMETERS,
    MAX_HEART_RATE_BPM,
    MIN_HEART_RATE_BPM,
    CoreTempEstimator,
)
from gateway.analytics.falls import (
    MAX_RATE_HZ,
    MIN_RANGE_G,
    MIN_RATE_HZ,
    FallDetection,
    detect_falls,
)
from gateway.analytics.strain import (
    DEFAULT_RESTING_HEART_RATE_BPM,
    PSI_CORE_TEMP_LIMIT_C,
    PSI_HEART_RATE_LIMIT_BPM,
    physiological_strain_index,
    psi_band,
)
from gateway.commands import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, Streams

FALLS_HEADER = ("t_s", "ax_g", "ay_g", "az_g")
CORE_TEMP_HEADER = ("minute", "hr_bpm")

# Every sample interval must lie within 10 % of the file's typical interval: loggers jitter and
# round timestamps (1 ms rounding is 3 % of a 30 Hz interval), but a dropped sample doubles
# an interval, and the detector's windows are counted in samples.
RATE_TOLERANCE = 0.10
# Rates at the edges of the range pass despite floating-point rounding of the mean interval.
RATE_EPSILON = 1e-6
# Without --range, a recording is taken to be unclipped: SisFall's +-16 g, the widest range the
# detector was evaluated at, is as good as unclipped for a body-worn sensor (docs/algorithms.md).
DEFAULT_RANGE_G = 16.0
# A gap of more than a day between heart rates is two recordings, not missing minutes.
MAX_GAP_MINUTES = 24 * 60
# A starting core temperature outside this range is a typing error, not a person at work.
MIN_INITIAL_CORE_TEMP_C = 35.0


class InputFileError(ValueError):
    """A file that cannot be analysed; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class _Row:
    line: int
    values: tuple[str, ...]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "analyze",
        help="replay a CSV recording through the analytics",
        description=(
            "Replay a recording through the officer-safety analytics and print one JSON object "
            "per result. Malformed files are refused with the file, line and problem."
        ),
    )
    analyses = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    falls = analyses.add_parser(
        "falls",
        help="detect falls in accelerometer samples",
        description=(
            "Detect falls in a CSV with header `t_s,ax_g,ay_g,az_g` (seconds; acceleration in g, "
            f"any sensor orientation) at a constant rate of {MIN_RATE_HZ:g} to {MAX_RATE_HZ:g} "
            "Hz. Prints one JSON object per fall, with `t_s` the time of the impact."
        ),
    )
    falls.add_argument("file", metavar="FILE.csv", help="the samples")
    falls.add_argument(
        "--range",
        type=float,
        default=DEFAULT_RANGE_G,
        metavar="G",
        dest="range_g",
        help=(
            "the accelerometer's range, +-g, as set on the device (e.g. 2, 4 or 8 for a Polar "
            f"H10); at least {MIN_RANGE_G:g} (default: %(default)g, unclipped)"
        ),
    )
    core_temp = analyses.add_parser(
        "core-temp",
        help="estimate core temperature and PSI from heart rate",
        description=(
            "Estimate core temperature from each minute's mean heart rate (Buller et al. 2013) "
            "and the Physiological Strain Index, from a CSV with header `minute,hr_bpm`. "
            "Prints one JSON object per row; missing minutes advance the estimate unobserved."
        ),
    )
    core_temp.add_argument("file", metavar="FILE.csv", help="the per-minute heart rates")
    core_temp.add_argument(
        "--initial-core-temp",
        type=float,
        default=DEFAULT_CORE_TEMP_PARAMETERS.initial_core_temp_c,
        metavar="C",
        help="starting core temperature, degC; also PSI's baseline (default: %(default)s)",
    )
    core_temp.add_argument(
        "--resting-hr",
        type=float,
        default=DEFAULT_RESTING_HEART_RATE_BPM,
        metavar="BPM",
        help="the officer's resting heart rate, PSI's baseline (default: %(default)s, Moran's)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, io: Streams) -> int:
    command = f"bluewatch analyze {args.analysis}"
    try:
        if args.analysis == "falls":
            if not args.range_g >= MIN_RANGE_G:
                io.stderr.write(f"{command}: --range {args.range_g:g} is below {MIN_RANGE_G:g} g\n")
                return EXIT_USAGE
            results = [_fall_to_dict(fall) for fall in analyze_falls(args.file, args.range_g)]
        else:
            problem = _core_temp_options_problem(args.initial_core_temp, args.resting_hr)
            if problem:
                io.stderr.write(f"{command}: {problem}\n")
                return EXIT_USAGE
            results = analyze_core_temp(args.file, args.initial_core_temp, args.resting_hr)
    except InputFileError as exc:
        io.stderr.write(f"{command}: {exc}\n")
        return EXIT_BAD_INPUT
    for result in results:
        io.stdout.write(json.dumps(result) + "\n")
    return EXIT_OK


def analyze_falls(path: str, range_g: float) -> list[FallDetection]:
    """Falls in a `t_s,ax_g,ay_g,az_g` file, at the rate its timestamps show, from a sensor
    whose range is `range_g` (+-g)."""
    rows = list(_read_rows(path, FALLS_HEADER))
    samples: list[tuple[float, float, float, float]] = []
    for row in rows:
        t_s, ax, ay, az = (
            _number(path, row, name, text) for name, text in _fields(row, FALLS_HEADER)
        )
        if samples and t_s <= samples[-1][0]:
            raise InputFileError(
                f"{path}: line {row.line}: t_s {t_s:g} does not increase "
                f"(previous sample at {samples[-1][0]:g})"
            )
        samples.append((t_s, ax, ay, az))
    rate_hz = _constant_rate(path, rows, [sample[0] for sample in samples])
    return detect_falls(samples, rate_hz, range_g)


def analyze_core_temp(
    path: str, initial_core_temp_c: float, resting_hr_bpm: float
) -> list[dict[str, Any]]:
    """Per row of a `minute,hr_bpm` file: core temperature, PSI and its band."""
    observations: list[tuple[int, float]] = []
    for row in _read_rows(path, CORE_TEMP_HEADER):
        (_, minute_text), (_, hr_text) = _fields(row, CORE_TEMP_HEADER)
        minute = _whole_number(path, row, "minute", minute_text)
        hr = _number(path, row, "hr_bpm", hr_text)
        if observations and minute <= observations[-1][0]:
            raise InputFileError(
                f"{path}: line {row.line}: minute {minute} does not increase "
                f"(previous row is minute {observations[-1][0]})"
            )
        if observations and minute - observations[-1][0] > MAX_GAP_MINUTES:
            raise InputFileError(
                f"{path}: line {row.line}: minute {minute} leaves a gap of more than "
                f"{MAX_GAP_MINUTES} minutes after minute {observations[-1][0]}"
            )
        if not MIN_HEART_RATE_BPM <= hr <= MAX_HEART_RATE_BPM:
            raise InputFileError(
                f"{path}: line {row.line}: hr_bpm {hr:g} is outside "
                f"{MIN_HEART_RATE_BPM:g}-{MAX_HEART_RATE_BPM:g} bpm"
            )
        observations.append((minute, hr))
    estimator = CoreTempEstimator(initial_core_temp_c)
    results: list[dict[str, Any]] = []
    previous: int | None = None
    for minute, hr in observations:
        for _ in range(0 if previous is None else minute - previous - 1):
            estimator.update(None)  # a minute with no heart rate: predict only
        core_temp_c = estimator.update(hr)
        psi = physiological_strain_index(core_temp_c, hr, initial_core_temp_c, resting_hr_bpm)
        results.append(
            {
                "minute": minute,
                "hr_bpm": hr,
                "core_temp_c": round(core_temp_c, 3),
                "psi": round(psi, 2),
                "psi_band": psi_band(psi).value,
            }
        )
        previous = minute
    return results


def _core_temp_options_problem(initial_core_temp_c: float, resting_hr_bpm: float) -> str | None:
    if not MIN_INITIAL_CORE_TEMP_C <= initial_core_temp_c < PSI_CORE_TEMP_LIMIT_C:
        return (
            f"--initial-core-temp {initial_core_temp_c:g} is outside "
            f"{MIN_INITIAL_CORE_TEMP_C:g}-{PSI_CORE_TEMP_LIMIT_C:g} degC"
        )
    if not MIN_HEART_RATE_BPM <= resting_hr_bpm < PSI_HEART_RATE_LIMIT_BPM:
        return (
            f"--resting-hr {resting_hr_bpm:g} is outside "
            f"{MIN_HEART_RATE_BPM:g}-{PSI_HEART_RATE_LIMIT_BPM:g} bpm"
        )
    return None


def _read_rows(path: str, header: tuple[str, ...]) -> Iterator[_Row]:
    """The data rows of a CSV file whose first line must be `header`; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            first = next(reader, None)
            if first is None or tuple(cell.strip() for cell in first) != header:
                found = "an empty file" if first is None else f"`{','.join(first)}`"
                raise InputFileError(
                    f"{path}: line 1: expected the header `{','.join(header)}`, found {found}"
                )
            for values in reader:
                if not any(cell.strip() for cell in values):
                    continue
                if len(values) != len(header):
                    raise InputFileError(
                        f"{path}: line {reader.line_num}: expected {len(header)} values "
                        f"({','.join(header)}), found {len(values)}"
                    )
                yield _Row(reader.line_num, tuple(cell.strip() for cell in values))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise InputFileError(f"{path}: not valid CSV: {exc}") from None


def _fields(row: _Row, header: Sequence[str]) -> Iterator[tuple[str, str]]:
    return zip(header, row.values, strict=True)


def _number(path: str, row: _Row, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputFileError(f"{path}: line {row.line}: {name} is not a number: {text!r}")
    return value


def _whole_number(path: str, row: _Row, name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputFileError(
            f"{path}: line {row.line}: {name} is not a whole number: {text!r}"
        ) from None


def _constant_rate(path: str, rows: Sequence[_Row], times: Sequence[float]) -> float:
    """The sample rate shown by the timestamps, refused unless constant and within range."""
    if len(times) < 2:
        raise InputFileError(f"{path}: needs at least two samples to estimate the sample rate")
    intervals = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The median is the nominal interval: one gap or burst cannot move it, so the error points
    # at the offending line rather than at a normal one.
    nominal = statistics.median(intervals)
    for index, interval in enumerate(intervals, start=1):
        if abs(interval - nominal) > RATE_TOLERANCE * nominal:
            raise InputFileError(
                f"{path}: line {rows[index].line}: interval {interval:.6g} s differs from the "
                f"file's typical interval {nominal:.6g} s by more than {RATE_TOLERANCE:.0%}; "
                "the sample rate must be constant"
            )
    mean_interval = (times[-1] - times[0]) / (len(times) - 1)
    rate_hz = 1.0 / mean_interval
    if not MIN_RATE_HZ * (1 - RATE_EPSILON) <= rate_hz <= MAX_RATE_HZ * (1 + RATE_EPSILON):
        raise InputFileError(
            f"{path}: lines {rows[0].line}-{rows[-1].line}: sample rate {rate_hz:.4g} Hz is "
            f"outside {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz"
        )
    return min(MAX_RATE_HZ, max(MIN_RATE_HZ, rate_hz))


def _fall_to_dict(fall: FallDetection) -> dict[str, Any]:
    return {
        "t_s": fall.t_s,
        "confirmed_at_s": fall.confirmed_at_s,
        "peak_g": round(fall.peak_g, 3),
        "impact_g": round(fall.impact_g, 3),
        "orientation_change_deg": round(fall.orientation_change_deg, 1),
        "stillness_rms_g": round(fall.stillness_rms_g, 4),
    }
