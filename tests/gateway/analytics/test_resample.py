"""Anti-aliased decimation: unit gain at DC, pass band kept, aliases removed."""

from __future__ import annotations

import math

import pytest

from gateway.analytics.resample import decimate, lowpass_taps


def sine(frequency_hz: float, rate_hz: float, seconds: float) -> list[float]:
    return [
        math.sin(2 * math.pi * frequency_hz * n / rate_hz) for n in range(int(rate_hz * seconds))
    ]


def rms(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values))


def test_taps_are_symmetric_with_unit_dc_gain() -> None:
    taps = lowpass_taps(20.0, 200.0, 65)
    assert len(taps) == 65
    assert math.fsum(taps) == pytest.approx(1.0, abs=1e-12)
    assert all(a == pytest.approx(b) for a, b in zip(taps, reversed(taps), strict=True))


@pytest.mark.parametrize(
    ("cutoff", "taps", "message"),
    [(0.0, 33, "cutoff"), (100.0, 33, "cutoff"), (20.0, 32, "odd"), (20.0, 1, "odd")],
)
def test_bad_filter_designs_are_refused(cutoff: float, taps: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lowpass_taps(cutoff, 200.0, taps)


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_a_constant_such_as_gravity_stays_constant_to_the_edges(factor: int) -> None:
    out = decimate([0.98] * 1000, factor)
    assert len(out) == math.ceil(1000 / factor)
    assert all(v == pytest.approx(0.98, abs=1e-12) for v in out)


@pytest.mark.parametrize(("factor", "frequency_hz"), [(4, 5.0), (4, 15.0), (8, 5.0)])
def test_pass_band_is_kept(factor: int, frequency_hz: float) -> None:
    out = decimate(sine(frequency_hz, 200.0, 10.0), factor)
    middle = out[len(out) // 4 : -len(out) // 4]
    assert rms(middle) == pytest.approx(1 / math.sqrt(2), rel=0.02)


@pytest.mark.parametrize(("factor", "frequency_hz"), [(4, 40.0), (4, 70.0), (8, 20.0), (8, 45.0)])
def test_what_would_alias_is_removed(factor: int, frequency_hz: float) -> None:
    """Above the output Nyquist frequency: at least 40 dB down instead of folding back."""
    out = decimate(sine(frequency_hz, 200.0, 10.0), factor)
    middle = out[len(out) // 4 : -len(out) // 4]
    assert rms(middle) < 0.01 * (1 / math.sqrt(2))


def test_output_sample_k_is_input_sample_k_times_factor() -> None:
    ramp = [float(n) for n in range(400)]
    out = decimate(ramp, 4)
    # A symmetric filter does not delay: away from the edges a ramp comes out unchanged.
    assert out[10:90] == pytest.approx([4.0 * k for k in range(10, 90)])


def test_factor_must_be_positive_and_empty_input_is_empty() -> None:
    with pytest.raises(ValueError, match="factor must be at least 1"):
        decimate([1.0, 2.0], 0)
    assert decimate([], 4) == []
