"""Accelerometer samples from any device, in g, as the activity tracker and fall detector take
them: the vest's IMU batches, and PMD ACC frames scaled by their frame kind. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

from sensors import PmdDataFrame

Vector = tuple[float, float, float]
MG_PER_G: Final = 1000.0


class AccelerationSamples(Protocol):
    """Samples in g at a fixed rate (`ImuBatch` is one; `AccelerationFrame` is the other)."""

    @property
    def samples_g(self) -> Sequence[Vector]: ...

    @property
    def sample_rate_hz(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AccelerationFrame:
    """One PMD ACC frame's samples in g, at the rate its stream was started with."""

    samples_g: tuple[Vector, ...]
    sample_rate_hz: int


@dataclass(frozen=True, slots=True)
class AccScale:
    """How a PMD ACC frame kind turns into g: x FACTOR (when the stream has one), / 1000 for mG."""

    uses_factor: bool
    in_mg: bool


# AccData.kt: plain types 0/1/2 are mG (the H10 sends type 1); compressed type 0 is counts of
# FACTOR g (the Verity, FACTOR 0.000244 at +-8 g; the SDK multiplies by 1000 for mG); compressed
# type 1 is mG x FACTOR when a FACTOR was returned, else mG.
ACC_SCALES: Final[Mapping[tuple[bool, int], AccScale]] = MappingProxyType(
    {
        (False, 0): AccScale(uses_factor=False, in_mg=True),
        (False, 1): AccScale(uses_factor=False, in_mg=True),
        (False, 2): AccScale(uses_factor=False, in_mg=True),
        (True, 0): AccScale(uses_factor=True, in_mg=False),
        (True, 1): AccScale(uses_factor=True, in_mg=True),
    }
)


def acc_frame_g(frame: PmdDataFrame, factor: float | None, rate_hz: int) -> AccelerationFrame:
    """An ACC frame's samples in g; `factor` is its stream's start-response FACTOR (None: 1,
    as the SDK takes a missing one). KeyError for a frame kind not in ACC_SCALES."""
    scale = ACC_SCALES[(frame.compressed, frame.frame_type)]
    multiplier = (factor if scale.uses_factor and factor is not None else 1.0) / (
        MG_PER_G if scale.in_mg else 1.0
    )
    samples = tuple(
        (x * multiplier, y * multiplier, z * multiplier) for x, y, z in frame.channel_samples()
    )
    return AccelerationFrame(samples, rate_hz)
