"""The SisFall development split as a device at a given rate and range would have recorded it.

SisFall (Sucerquia, Lopez and Vargas-Bonilla, Sensors 2017, 17(1):198) is not part of the
project and is never copied into it: trials are read where they lie. A condition is a sample
rate (a divisor of the native 200 Hz) and an accelerometer range (+-g). Resampled recordings are
cached outside the repository (by default in the system's temp directory), keyed by everything
that shapes them, because decimating a million samples in pure Python takes seconds per rate.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
import random
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.analytics.resample import DEFAULT_DECIMATION, decimate
from tests.gateway.analytics.signals import random_rotation  # one rotation helper for both

SOURCE_RATE_HZ = 200
ADXL345_G_PER_COUNT = 0.00390625  # +-16 g over 13 bits: 32 / 8192
ADXL345_RANGE_G = 16.0
# Bump when the way a condition is derived from the files changes: old cache entries then miss.
DERIVATION_VERSION = 1
DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "bluewatch-sisfall"

Axes = tuple[Sequence[float], Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class Trial:
    """One SisFall file: which activity, by whom, and whether it is a fall."""

    file: str
    code: str
    subject: str
    is_fall: bool


@dataclass(frozen=True)
class Condition:
    """How the recording is seen: sample rate (Hz) and accelerometer range (+-g)."""

    rate_hz: int
    range_g: float

    def __str__(self) -> str:
        return f"{self.rate_hz} Hz, +-{self.range_g:g} g"


def read_manifest(root: Path) -> list[Trial]:
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: not found; give the sisfall-dev directory")
    with manifest.open(encoding="utf-8") as handle:
        return [
            Trial(row["file"], row["activity_code"], row["subject"], row["label"] == "fall")
            for row in csv.DictReader(handle)
        ]


def read_adxl345(path: Path) -> Axes:
    """The first three columns of a SisFall file (the ADXL345), in g."""
    xs: array[float] = array("d")
    ys: array[float] = array("d")
    zs: array[float] = array("d")
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


def rotated(axes: Axes, rng: random.Random) -> Axes:
    """The trial as a sensor mounted at a random angle would have recorded it."""
    (a, b, c), (d, e, f), (g, h, i) = random_rotation(rng)
    xs, ys, zs = axes
    triples = list(zip(xs, ys, zs, strict=True))
    return (
        array("d", (a * x + b * y + c * z for x, y, z in triples)),
        array("d", (d * x + e * y + f * z for x, y, z in triples)),
        array("d", (g * x + h * y + i * z for x, y, z in triples)),
    )


def clip(values: Sequence[float], range_g: float) -> array[float]:
    return array("d", (min(range_g, max(-range_g, v)) for v in values))


def derive(axes: Axes, condition: Condition) -> Axes:
    """What a sensor at this rate and range outputs for the motion recorded at 200 Hz.

    The sensor's converter saturates at its range before its own low-pass filter and decimation
    to the output rate, so the 200 Hz samples are clipped first; the output register cannot
    exceed the range either, so the decimated samples (whose filter can ring past a clipped
    plateau) are clipped again.
    """
    if SOURCE_RATE_HZ % condition.rate_hz:
        raise SystemExit(f"{condition.rate_hz} Hz does not divide {SOURCE_RATE_HZ} Hz")
    factor = SOURCE_RATE_HZ // condition.rate_hz
    limit = condition.range_g
    clipped = limit < ADXL345_RANGE_G
    result = []
    for axis in axes:
        source = clip(axis, limit) if clipped else axis
        output = decimate(source, factor)
        result.append(clip(output, limit) if clipped else array("d", output))
    return result[0], result[1], result[2]


class Recordings:
    """Loads the split's trials under any condition, through a cache of derived recordings."""

    def __init__(
        self, root: Path, cache_dir: Path | None, rotation_seed: int | None = None
    ) -> None:
        self.root = root
        self.trials = read_manifest(root)
        self.cache_dir = cache_dir
        self.rotation_seed = rotation_seed
        self._source: list[Axes] | None = None

    def axes(self, condition: Condition) -> list[Axes]:
        """Every trial's three axes under `condition`, in manifest order."""
        path = self._cache_path(condition)
        if path is not None and path.is_file():
            with path.open("rb") as handle:
                cached: list[Axes] = pickle.load(handle)
            return cached
        derived = [derive(axes, condition) for axes in self._read_source()]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            with partial.open("wb") as handle:
                pickle.dump(derived, handle, protocol=pickle.HIGHEST_PROTOCOL)
            partial.replace(path)
        return derived

    def _read_source(self) -> list[Axes]:
        if self._source is None:
            rng = None if self.rotation_seed is None else random.Random(self.rotation_seed)
            source = []
            for trial in self.trials:
                axes = read_adxl345(self.root / trial.file)
                source.append(axes if rng is None else rotated(axes, rng))
            self._source = source
        return self._source

    def _cache_path(self, condition: Condition) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256()
        key.update((self.root / "manifest.csv").read_bytes())
        key.update(
            repr(
                (
                    DERIVATION_VERSION,
                    asdict(DEFAULT_DECIMATION),
                    self.rotation_seed,
                    condition.rate_hz,
                    condition.range_g,
                )
            ).encode()
        )
        return self.cache_dir / f"{key.hexdigest()[:24]}.pickle"
