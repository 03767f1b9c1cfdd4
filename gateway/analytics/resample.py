"""Anti-aliased integer decimation of sampled signals, in pure Python.

Used to replay recordings made at a higher rate (SisFall's 200 Hz) at the vest's rate, so a
detector is evaluated on what it would really see; aliasing would otherwise fold impact energy
above the new Nyquist frequency into false low-frequency content.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

# Hamming window coefficients: side lobes at least 43 dB down and a stop band near 53 dB, ample
# for accelerometer data whose noise floor (about 0.01 g) is 40 dB below gravity.
HAMMING_A0 = 0.54
HAMMING_A1 = 0.46


@dataclass(frozen=True)
class DecimationParameters:
    """How the anti-alias filter is designed for a given decimation factor."""

    # Windowed-sinc taps per unit of decimation factor. A Hamming window's transition band is
    # about 3.3 * input_rate / taps wide, so 16 taps per factor makes it about 0.2 * output_rate
    # whatever the factor.
    taps_per_factor: int = 16
    # The cutoff (the -6 dB point) as a fraction of the output Nyquist frequency. With 16 taps
    # per factor the response is -1.2 dB at 0.7 and at least 46 dB down at and above the output
    # Nyquist frequency, where aliases would fold back.
    cutoff_fraction: float = 0.8


DEFAULT_DECIMATION = DecimationParameters()


def lowpass_taps(cutoff_hz: float, rate_hz: float, num_taps: int) -> tuple[float, ...]:
    """Hamming-windowed sinc low-pass FIR taps, normalised to unit gain at DC.

    Unit DC gain matters here: gravity is the DC component from which orientation is read.
    """
    if num_taps < 3 or num_taps % 2 == 0:
        raise ValueError(f"num_taps must be odd and at least 3, got {num_taps}")
    if not 0.0 < cutoff_hz < rate_hz / 2:
        raise ValueError(f"cutoff {cutoff_hz} Hz must lie between 0 and {rate_hz / 2} Hz")
    centre = (num_taps - 1) / 2
    normalised = 2.0 * cutoff_hz / rate_hz
    taps: list[float] = []
    for n in range(num_taps):
        x = n - centre
        sinc = normalised if x == 0 else math.sin(math.pi * normalised * x) / (math.pi * x)
        window = HAMMING_A0 - HAMMING_A1 * math.cos(2.0 * math.pi * n / (num_taps - 1))
        taps.append(sinc * window)
    total = math.fsum(taps)
    return tuple(tap / total for tap in taps)


def decimate(
    signal: Sequence[float], factor: int, params: DecimationParameters = DEFAULT_DECIMATION
) -> list[float]:
    """Low-pass then keep every `factor`-th sample (output sample k is input sample k * factor).

    Only the kept samples are filtered (the polyphase shortcut). The signal is extended by
    repeating its end values, so a constant signal such as gravity stays constant to the edges.
    """
    if factor < 1:
        raise ValueError(f"decimation factor must be at least 1, got {factor}")
    if factor == 1 or not signal:
        return list(signal)
    num_taps = params.taps_per_factor * factor + 1
    # Rates are relative here: input rate 1, so the output Nyquist frequency is 0.5 / factor.
    taps = lowpass_taps(params.cutoff_fraction * 0.5 / factor, 1.0, num_taps)
    half = num_taps // 2
    padded = [signal[0]] * half + list(signal) + [signal[-1]] * half
    return [
        sum(map(operator.mul, taps, padded[start : start + num_taps]))
        for start in range(0, len(signal), factor)
    ]
