"""PMD data frames (notifications of fb005c82): header, then samples of one frame kind.

Header from the SDK's `PmdDataFrame.kt` and the *online measurement* document, Table 6:

```
byte 0      measurement type (masked with 0x3F)
bytes 1-8   uint64 LE sensor time, ns since 2000-01-01T00:00:00Z, of the frame's last sample
byte 9      bit 7: delta-compressed; bits 0-6: frame type
bytes 10..  samples
```

Samples are integers, one tuple per sample and one int per channel, after delta
reconstruction and before any factor: scaling is `PmdDataFrame.scaled(factor)`, a separate
step, because the factor comes from the start response, not from the frame.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any, Final, Self, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sensors.characteristic import Characteristic
from sensors.errors import DecodeErrorKind
from sensors.pmd.delta import (
    INT32_MAX,
    INT32_MIN,
    read_delta_samples,
    reference_range,
    write_delta_samples,
)
from sensors.pmd.gatt import PMD_DATA_UUID
from sensors.pmd.layouts import (
    COMPRESSED_BIT,
    DATA_MEASUREMENTS,
    FRAME_LAYOUTS,
    FRAME_TYPE_MASK,
    PPI_FRAME_TYPE,
    FrameLayout,
)
from sensors.pmd.measurement import MEASUREMENT_CODES, MeasurementType, read_measurement_code
from sensors.wire import Reader, Writer

UINT64_MAX: Final = (1 << 64) - 1
PPI_RECORD_SIZE: Final = 6
# PPI flags (PpiData.kt; 2021 spec "Frame types PPI"). Bits 3-7 are reserved and, as in the SDK,
# ignored: its own PpiDataTest sends flags 0xFF.
_PPI_BLOCKER: Final = 0x01
_PPI_SKIN_CONTACT: Final = 0x02
_PPI_SKIN_CONTACT_SUPPORTED: Final = 0x04
_INT32_BITS: Final = struct.Struct("<i")
_FLOAT32: Final = struct.Struct("<f")

Sample = tuple[int, ...]


class PpiSample(BaseModel):
    """One beat from the optical sensor: heart rate, the peak-to-peak interval and its quality.

    `blocker` set means the interval is not valid; `skin_contact` is meaningful only when
    `skin_contact_supported` (the 2024 document words bit 2 the other way round; the SDK and the
    2021 specification read it as "supported").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hr_bpm: int = Field(ge=0, le=0xFF)
    ppi_ms: int = Field(ge=0, le=0xFFFF)
    error_estimate_ms: int = Field(ge=0, le=0xFFFF)
    blocker: bool = False
    skin_contact: bool = False
    skin_contact_supported: bool = False


ChannelSamples = tuple[tuple[int, ...], ...]


class PmdDataFrame(Characteristic):
    """One PMD data notification: the header as sent and its samples as integers.

    `sensor_time_ns` is the sensor's clock as sent (ns since 2000-01-01, a fresh H10 starts
    near 2019-01-01); it dates the last sample. `samples` holds `PpiSample`s for PPI frames
    and one tuple of channel values per sample otherwise.
    """

    UUID = PMD_DATA_UUID
    NAME = "PMD Data (fb005c82)"

    measurement: MeasurementType
    sensor_time_ns: int = Field(ge=0, le=UINT64_MAX)
    frame_type: int = Field(ge=0, le=FRAME_TYPE_MASK)
    compressed: bool = False
    samples: Annotated[ChannelSamples | tuple[PpiSample, ...], Field(union_mode="left_to_right")]

    @property
    def layout(self) -> FrameLayout | None:
        """The sample layout of this frame kind; None for PPI records."""
        return FRAME_LAYOUTS.get((self.measurement, self.compressed, self.frame_type))

    @model_validator(mode="after")
    def _samples_fit_the_frame_kind(self) -> Self:
        if self.measurement is MeasurementType.PPI:
            if self.compressed or self.frame_type != PPI_FRAME_TYPE:
                raise ValueError(f"PPI frames are plain type {PPI_FRAME_TYPE}")
            if not all(isinstance(sample, PpiSample) for sample in self.samples):
                raise ValueError("PPI frames carry PpiSample records")
            return self
        layout = self.layout
        if layout is None:
            raise ValueError(
                f"no {self.measurement} {'compressed' if self.compressed else 'plain'} frame "
                f"type {self.frame_type}"
            )
        _check_channel_samples(self.samples, layout, self.compressed)
        return self

    def channel_samples(self) -> ChannelSamples:
        """The samples of a non-PPI frame, typed as channel tuples."""
        if self.measurement is MeasurementType.PPI:
            raise ValueError("PPI frames carry PpiSample records, not channel samples")
        return cast(ChannelSamples, self.samples)  # the validator holds this

    def ppi_samples(self) -> tuple[PpiSample, ...]:
        """The records of a PPI frame."""
        if self.measurement is not MeasurementType.PPI:
            raise ValueError(f"{self.measurement} frames carry channel samples, not PPI records")
        return cast(tuple[PpiSample, ...], self.samples)  # the validator holds this

    def scaled(self, factor: float) -> tuple[tuple[float, ...], ...]:
        """Samples x `factor` (the start response's FACTOR), in the stream's unit.

        Gyroscope compressed type 1 carries float32 bit patterns, read as floats first
        (GyrData.kt). No unit conversion: Verity ACC compressed type 0 comes out in g, which
        the SDK multiplies by 1000 for mG.
        """
        layout = self.layout
        if layout is None:
            raise ValueError("PPI frames have no factor")
        samples = self.channel_samples()
        if layout.float32:
            return tuple(
                tuple(_FLOAT32.unpack(_INT32_BITS.pack(v))[0] * factor for v in s) for s in samples
            )
        return tuple(tuple(v * factor for v in sample) for sample in samples)

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        measurement, _ = read_measurement_code(reader, "measurement")
        if measurement not in DATA_MEASUREMENTS:
            raise reader.error(
                DecodeErrorKind.UNKNOWN_MEASUREMENT_TYPE,
                f"{measurement} data frames are not decoded (only "
                f"{', '.join(sorted(DATA_MEASUREMENTS))})",
                0,
            )
        time_ns = reader.uint(8, "sensor_time_ns")
        type_at = reader.position
        type_byte = reader.uint(1, "frame_type")
        compressed = bool(type_byte & COMPRESSED_BIT)
        frame_type = type_byte & FRAME_TYPE_MASK
        values: dict[str, Any] = {
            "measurement": measurement,
            "sensor_time_ns": time_ns,
            "frame_type": frame_type,
            "compressed": compressed,
        }
        if measurement is MeasurementType.PPI:
            if compressed or frame_type != PPI_FRAME_TYPE:
                raise _unknown_frame_type(reader, measurement, compressed, frame_type, type_at)
            return {**values, "samples": _read_ppi(reader)}
        layout = FRAME_LAYOUTS.get((measurement, compressed, frame_type))
        if layout is None:
            raise _unknown_frame_type(reader, measurement, compressed, frame_type, type_at)
        samples = (
            read_delta_samples(reader, layout.channels, layout.bits)
            if compressed
            else _read_plain(reader, layout)
        )
        return {**values, "samples": samples}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, MEASUREMENT_CODES[self.measurement])
        writer.uint(8, self.sensor_time_ns)
        writer.uint(1, self.frame_type | (COMPRESSED_BIT if self.compressed else 0))
        layout = self.layout
        if layout is None:
            for record in self.ppi_samples():
                _write_ppi(writer, record)
        elif self.compressed:
            write_delta_samples(writer, self.channel_samples(), layout.bits)
        else:
            size = layout.bits // 8
            for sample in self.channel_samples():
                for value in sample:
                    writer.sint(size, value)


def _unknown_frame_type(
    reader: Reader, measurement: MeasurementType, compressed: bool, frame_type: int, at: int
) -> Exception:
    kind = "compressed" if compressed else "plain"
    return reader.error(
        DecodeErrorKind.UNKNOWN_FRAME_TYPE,
        f"{measurement} {kind} frame type {frame_type} has no known layout",
        at,
    )


def _check_channel_samples(
    samples: tuple[object, ...], layout: FrameLayout, compressed: bool
) -> None:
    if compressed and not samples:
        raise ValueError("a compressed frame starts with its reference sample")
    # Plain values fill their fields; a compressed frame's reference is read at `bits`, and the
    # sums after it are 32-bit.
    bounds = reference_range(layout.bits)
    for index, sample in enumerate(samples):
        if not isinstance(sample, tuple) or len(sample) != layout.channels:
            raise ValueError(f"sample {index}: expected {layout.channels} channel values")
        low, high = bounds if index == 0 or not compressed else (INT32_MIN, INT32_MAX)
        for value in sample:
            if not low <= value <= high:
                raise ValueError(f"sample {index}: {value} is outside {low}..{high}")


def _read_plain(reader: Reader, layout: FrameLayout) -> tuple[Sample, ...]:
    size = layout.bits // 8
    step = size * layout.channels
    start = reader.position
    whole, partial = divmod(reader.remaining, step)
    if partial:
        raise reader.error(
            DecodeErrorKind.TOO_SHORT,
            f"sample {whole} needs {step} bytes but {partial} remain",
            start + whole * step,
        )
    data = reader.raw(whole * step, "samples")
    values = [
        int.from_bytes(data[at : at + size], "little", signed=True)
        for at in range(0, len(data), size)
    ]
    return tuple(zip(*(values[c :: layout.channels] for c in range(layout.channels)), strict=True))


def _read_ppi(reader: Reader) -> tuple[PpiSample, ...]:
    start = reader.position
    whole, partial = divmod(reader.remaining, PPI_RECORD_SIZE)
    if partial:
        raise reader.error(
            DecodeErrorKind.TOO_SHORT,
            f"PPI record {whole} needs {PPI_RECORD_SIZE} bytes but {partial} remain",
            start + whole * PPI_RECORD_SIZE,
        )
    records = []
    for _ in range(whole):
        hr = reader.uint(1, "hr_bpm")
        ppi = reader.uint(2, "ppi_ms")
        error = reader.uint(2, "error_estimate_ms")
        flags = reader.uint(1, "flags")
        records.append(
            PpiSample(
                hr_bpm=hr,
                ppi_ms=ppi,
                error_estimate_ms=error,
                blocker=bool(flags & _PPI_BLOCKER),
                skin_contact=bool(flags & _PPI_SKIN_CONTACT),
                skin_contact_supported=bool(flags & _PPI_SKIN_CONTACT_SUPPORTED),
            )
        )
    return tuple(records)


def _write_ppi(writer: Writer, record: PpiSample) -> None:
    writer.uint(1, record.hr_bpm)
    writer.uint(2, record.ppi_ms)
    writer.uint(2, record.error_estimate_ms)
    writer.uint(
        1,
        (_PPI_BLOCKER if record.blocker else 0)
        | (_PPI_SKIN_CONTACT if record.skin_contact else 0)
        | (_PPI_SKIN_CONTACT_SUPPORTED if record.skin_contact_supported else 0),
    )
