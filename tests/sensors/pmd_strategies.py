"""Hypothesis strategies for PMD: data frames of every kind, control-point messages, settings.

Compressed frames are drawn as a reference and blocks of deltas at random bit widths (2-32), so
the samples need every width the encoder can choose, and sums that wrap at 32 bits.
"""

from __future__ import annotations

from hypothesis import strategies as st

from sensors.pmd import (
    FRAME_LAYOUTS,
    SETTING_FIELDS,
    ControlPointOp,
    DeltaBlock,
    FrameLayout,
    MeasurementType,
    PmdCommand,
    PmdDataFrame,
    PmdFeatures,
    PmdMeasurementStopped,
    PmdResponse,
    PmdSettings,
    PpiSample,
    RecordingType,
    ResponseStatus,
    SettingType,
)
from sensors.pmd.delta import INT32_MAX, MIN_ENCODED_BIT_WIDTH, reference_range, wrap_int32
from sensors.pmd.features import FEATURE_FLAGGED
from sensors.pmd.opcodes import COMMAND_PARAMETERS, SETTINGS_RESPONSES, Parameters
from sensors.pmd.settings import ValueEncoding

MAX_SAMPLES = 40


def _signed(bits: int) -> st.SearchStrategy[int]:
    low, high = reference_range(bits)
    return st.integers(low, high)


def deltas_of_width(bit_width: int) -> st.SearchStrategy[int]:
    """Deltas a field of `bit_width` bits carries; a 1-bit field reads as 0 or 2^31 - 1."""
    return st.sampled_from((0, INT32_MAX)) if bit_width == 1 else _signed(bit_width)


@st.composite
def delta_blocks(
    draw: st.DrawFn, channels: int, min_width: int = MIN_ENCODED_BIT_WIDTH
) -> tuple[DeltaBlock, ...]:
    blocks = []
    for _ in range(draw(st.integers(0, 4))):
        width = draw(st.integers(min_width, 32))
        sample = st.tuples(*(deltas_of_width(width) for _ in range(channels)))
        blocks.append(DeltaBlock(width, tuple(draw(st.lists(sample, max_size=12)))))
    return tuple(blocks)


def accumulate(reference: tuple[int, ...], blocks: tuple[DeltaBlock, ...]) -> list[tuple[int, ...]]:
    """The samples that `reference` and `blocks` stand for, summed as 32-bit integers."""
    samples = [reference]
    for block in blocks:
        for deltas in block.deltas:
            samples.append(
                tuple(wrap_int32(v + d) for v, d in zip(samples[-1], deltas, strict=True))
            )
    return samples


@st.composite
def compressed_samples(draw: st.DrawFn, layout: FrameLayout) -> tuple[tuple[int, ...], ...]:
    reference = draw(st.tuples(*(_signed(layout.bits) for _ in range(layout.channels))))
    return tuple(accumulate(reference, draw(delta_blocks(layout.channels))))


def plain_samples(layout: FrameLayout) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    sample = st.tuples(*(_signed(layout.bits) for _ in range(layout.channels)))
    return st.lists(sample, max_size=MAX_SAMPLES).map(tuple)


ppi_samples = st.builds(
    PpiSample,
    hr_bpm=st.integers(0, 0xFF),
    ppi_ms=st.integers(0, 0xFFFF),
    error_estimate_ms=st.integers(0, 0xFFFF),
    blocker=st.booleans(),
    skin_contact=st.booleans(),
    skin_contact_supported=st.booleans(),
)
sensor_times = st.integers(0, 2**64 - 1)


@st.composite
def data_frames(draw: st.DrawFn) -> PmdDataFrame:
    key = draw(st.sampled_from([*FRAME_LAYOUTS, (MeasurementType.PPI, False, 0)]))
    measurement, compressed, frame_type = key
    if measurement is MeasurementType.PPI:
        samples: object = tuple(draw(st.lists(ppi_samples, max_size=MAX_SAMPLES)))
    else:
        layout = FRAME_LAYOUTS[key]
        samples = draw(compressed_samples(layout) if compressed else plain_samples(layout))
    return PmdDataFrame(
        measurement=measurement,
        sensor_time_ns=draw(sensor_times),
        frame_type=frame_type,
        compressed=compressed,
        samples=samples,
    )


def _setting_values(kind: SettingType) -> st.SearchStrategy[int | float]:
    spec = SETTING_FIELDS[kind]
    if spec.encoding is ValueEncoding.FLOAT32:
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    if spec.encoding is ValueEncoding.SIGNED:
        return _signed(8 * spec.size)
    return st.integers(0, (1 << (8 * spec.size)) - 1)


@st.composite
def settings_lists(
    draw: st.DrawFn, *, selection: bool = False, kinds: tuple[SettingType, ...] = tuple(SettingType)
) -> PmdSettings:
    """Settings in a random order; a selection holds one value of each and never FACTOR."""
    chosen = draw(st.lists(st.sampled_from(kinds), unique=True, min_size=1))
    sizes = st.just(1) if selection else st.integers(0, 5)
    values: dict[SettingType, tuple[int | float, ...]] = {}
    for kind in chosen:
        count = draw(sizes)
        values[kind] = tuple(draw(st.lists(_setting_values(kind), min_size=count, max_size=count)))
    return PmdSettings(values)


measurements = st.sampled_from(MeasurementType)
recordings = st.sampled_from(RecordingType)


@st.composite
def commands(draw: st.DrawFn) -> PmdCommand:
    op = draw(st.sampled_from(ControlPointOp))
    shape = COMMAND_PARAMETERS[op]
    if shape is Parameters.NONE:
        return PmdCommand(op=op)
    if shape is Parameters.OPAQUE:
        return PmdCommand(op=op, parameters=draw(st.binary(max_size=20)))
    no_factor = tuple(kind for kind in SettingType if kind is not SettingType.FACTOR)
    settings = (
        draw(st.none() | settings_lists(selection=True, kinds=no_factor))
        if shape is Parameters.MEASUREMENT_AND_SETTINGS
        else None
    )
    return PmdCommand(
        op=op, measurement=draw(measurements), recording=draw(recordings), settings=settings
    )


@st.composite
def responses(draw: st.DrawFn) -> PmdResponse:
    op = draw(st.sampled_from(ControlPointOp))
    measurement, recording = draw(measurements), draw(recordings)
    status = draw(st.sampled_from(ResponseStatus))
    if status is not ResponseStatus.SUCCESS:
        return PmdResponse(op=op, measurement=measurement, recording=recording, status=status)
    more = draw(st.booleans())
    if op in SETTINGS_RESPONSES and not more and draw(st.booleans()):
        return PmdResponse(
            op=op,
            measurement=measurement,
            recording=recording,
            status=status,
            settings=draw(settings_lists()),
        )
    # Raw parameters: whatever is not read as settings (one byte, or a part-list, or other ops).
    size = st.integers(0, 1) if op in SETTINGS_RESPONSES and not more else st.integers(0, 20)
    parameters = draw(size.flatmap(lambda n: st.binary(min_size=n, max_size=n)))
    return PmdResponse(
        op=op,
        measurement=measurement,
        recording=recording,
        status=status,
        more=more,
        parameters=parameters,
    )


features = st.builds(
    PmdFeatures, measurements=st.lists(st.sampled_from(sorted(FEATURE_FLAGGED))).map(tuple)
)
measurement_stopped = st.builds(
    PmdMeasurementStopped, measurements=st.lists(measurements, max_size=6).map(tuple)
)

CONTROL_POINT_MESSAGES = {
    PmdFeatures: features,
    PmdCommand: commands(),
    PmdResponse: responses(),
    PmdMeasurementStopped: measurement_stopped,
}
