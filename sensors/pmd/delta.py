"""Delta-compressed PMD samples, read exactly as the SDK's `BlePMDClient.parseDeltaFramesAll`.

```
payload   := reference  block+
reference := channels x ceil(resolution / 8) bytes, each a little-endian signed integer
block     := bit_width:u8  sample_count:u8  packed[ceil(bit_width x channels x count / 8)]
```

The packed bits are one little-endian bit stream (bit i of byte k is stream bit 8k + i) cut into
`bit_width`-bit fields, channels interleaved (s1c0, s1c1, ..., s2c0, ...), each assembled least
significant bit first; sample[n][c] = sample[n-1][c] + field. The SDK holds samples in a 32-bit
`Int`, so sums wrap at 32 bits here too. Sign handling follows its masks to the bit:

- reference: `mask = -1 shl (resolution - 1)`; a value with any mask bit set gets all of them;
- delta: `mask = Int.MAX_VALUE shl (bitWidth - 1)`, the same for widths 2-32; a 1-bit field
  of 1 therefore reads as +2^31 - 1, not -1, so the encoder never writes widths below 2.

Which channel count and resolution a frame has is a property of its frame type (`layouts.py`);
these functions take both explicitly so that a frame type outside that table can be read with
the RESOLUTION and CHANNELS its start request selected.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sensors.errors import DecodeErrorKind
from sensors.wire import Reader, Writer

INT32_MIN: Final = -(1 << 31)
INT32_MAX: Final = (1 << 31) - 1
MAX_BIT_WIDTH: Final = 32
# The widest resolution a 32-bit sample holds; also the widest delta field the SDK can assemble.
MAX_RESOLUTION_BITS: Final = 32
MAX_BLOCK_SAMPLES: Final = 0xFF
# Narrowest width the encoder writes: see the 1-bit reading above.
MIN_ENCODED_BIT_WIDTH: Final = 2
_UINT32: Final = 0xFFFF_FFFF

Sample = tuple[int, ...]


def wrap_int32(value: int) -> int:
    """`value` as a Kotlin `Int` holds it: two's complement, 32 bits."""
    value &= _UINT32
    return value - (1 << 32) if value > INT32_MAX else value


def _sdk_delta(field: int, bit_width: int) -> int:
    # parseDeltaFrame: `mask = Int.MAX_VALUE shl bitWidth - 1; if (value and mask != 0) value =
    # value or mask`.
    mask = (INT32_MAX << (bit_width - 1)) & _UINT32
    return wrap_int32(field | mask) if field & mask else field


def _sdk_reference(raw: bytes, resolution_bits: int) -> int:
    # parseDeltaFrameRefSamples: TypeUtils.convertArrayToSignedInt (sign from the last byte),
    # then `mask = -0x1 shl resolution - 1; if (sample and mask != 0) sample = sample or mask`.
    value = int.from_bytes(raw, "little", signed=True) & _UINT32
    mask = (_UINT32 << (resolution_bits - 1)) & _UINT32
    return wrap_int32(value | mask if value & mask else value)


def reference_size(channels: int, resolution_bits: int) -> int:
    """Bytes of the reference sample: `channels * ceil(resolution / 8)`."""
    return channels * -(-resolution_bits // 8)


def reference_range(resolution_bits: int) -> tuple[int, int]:
    """The reference values that read back as written at this resolution."""
    return -(1 << (resolution_bits - 1)), (1 << (resolution_bits - 1)) - 1


def _check_layout(channels: int, resolution_bits: int) -> None:
    if channels < 1:
        raise ValueError(f"channels must be at least 1, got {channels}")
    if not 1 <= resolution_bits <= MAX_RESOLUTION_BITS:
        raise ValueError(f"resolution must be 1..{MAX_RESOLUTION_BITS} bits, got {resolution_bits}")


def read_delta_samples(reader: Reader, channels: int, resolution_bits: int) -> tuple[Sample, ...]:
    """The reference sample and every block up to the end of `reader`; raises DecodeError.

    Malformed input is refused where the SDK would throw or misread: a missing reference, a
    block header or packed data cut short (TOO_SHORT), a bit width of 0 or above 32
    (INVALID_BIT_WIDTH). Padding bits after a block's last field are ignored, as the SDK does.
    """
    _check_layout(channels, resolution_bits)
    width = -(-resolution_bits // 8)
    raw = reader.raw(reference_size(channels, resolution_bits), "reference sample")
    previous = [
        _sdk_reference(raw[i * width : (i + 1) * width], resolution_bits) for i in range(channels)
    ]
    samples: list[Sample] = [tuple(previous)]
    block = 0
    while reader.remaining:
        width_at = reader.position
        bit_width = reader.uint(1, f"delta block {block} bit width")
        count = reader.uint(1, f"delta block {block} sample count")
        if not 1 <= bit_width <= MAX_BIT_WIDTH:
            raise reader.error(
                DecodeErrorKind.INVALID_BIT_WIDTH,
                f"delta block {block} has bit width {bit_width} (1..{MAX_BIT_WIDTH} allowed)",
                width_at,
            )
        fields = count * channels
        packed = reader.raw(-(-bit_width * fields // 8), f"delta block {block} data")
        stream = int.from_bytes(packed, "little")
        field_mask = (1 << bit_width) - 1
        for _ in range(count):
            for channel in range(channels):
                delta = _sdk_delta(stream & field_mask, bit_width)
                stream >>= bit_width
                previous[channel] = wrap_int32(previous[channel] + delta)
            samples.append(tuple(previous))
        block += 1
    return tuple(samples)


def decode_delta_samples(payload: bytes, channels: int, resolution_bits: int) -> tuple[Sample, ...]:
    """Samples of a delta-compressed payload (the bytes after a data frame's 10-byte header)."""
    reader = Reader(payload, "PMD delta-compressed samples")
    return read_delta_samples(reader, channels, resolution_bits)


@dataclass(frozen=True, slots=True)
class DeltaBlock:
    """One block as it goes on the wire: its field width and one tuple of deltas per sample."""

    bit_width: int
    deltas: tuple[Sample, ...]


def _fits(delta: int, bit_width: int) -> bool:
    return _sdk_delta(delta & ((1 << bit_width) - 1), bit_width) == delta


def delta_bit_width(delta: int) -> int:
    """The narrowest field width (2..32) that reads back as `delta`, an int32."""
    magnitude = delta if delta >= 0 else ~delta
    return max(MIN_ENCODED_BIT_WIDTH, magnitude.bit_length() + 1)


def plan_delta_blocks(samples: Sequence[Sample]) -> tuple[DeltaBlock, ...]:
    """The encoder's blocks: runs of up to 255 samples at the width their largest delta needs."""
    deltas = [
        tuple(wrap_int32(now - before) for now, before in zip(current, prior, strict=True))
        for prior, current in itertools.pairwise(samples)
    ]
    blocks = []
    for start in range(0, len(deltas), MAX_BLOCK_SAMPLES):
        run = tuple(deltas[start : start + MAX_BLOCK_SAMPLES])
        width = max(delta_bit_width(delta) for sample in run for delta in sample)
        blocks.append(DeltaBlock(width, run))
    return tuple(blocks)


def write_delta_blocks(
    writer: Writer, reference: Sample, blocks: Sequence[DeltaBlock], resolution_bits: int
) -> None:
    """The reference sample, then `blocks` as given; ValueError for what would not read back."""
    _check_layout(len(reference), resolution_bits)
    low, high = reference_range(resolution_bits)
    width = -(-resolution_bits // 8)
    for value in reference:
        if not low <= value <= high:
            raise ValueError(
                f"reference {value} is outside {low}..{high} at {resolution_bits} bits"
            )
        writer.sint(width, value)
    for block in blocks:
        if not 1 <= block.bit_width <= MAX_BIT_WIDTH:
            raise ValueError(f"bit width {block.bit_width} is outside 1..{MAX_BIT_WIDTH}")
        if len(block.deltas) > MAX_BLOCK_SAMPLES:
            raise ValueError(f"a block holds at most {MAX_BLOCK_SAMPLES} samples")
        stream = 0
        shift = 0
        for sample in block.deltas:
            if len(sample) != len(reference):
                raise ValueError(f"a delta has {len(sample)} channels, not {len(reference)}")
            for delta in sample:
                if not _fits(delta, block.bit_width):
                    raise ValueError(f"delta {delta} does not fit {block.bit_width} bits")
                stream |= (delta & ((1 << block.bit_width) - 1)) << shift
                shift += block.bit_width
        writer.uint(1, block.bit_width)
        writer.uint(1, len(block.deltas))
        writer.raw(stream.to_bytes(-(-shift // 8), "little"))


def write_delta_samples(writer: Writer, samples: Sequence[Sample], resolution_bits: int) -> None:
    """`samples` delta-compressed in the encoder's canonical blocks (`plan_delta_blocks`)."""
    if not samples:
        raise ValueError("a delta-compressed payload needs at least its reference sample")
    if any(not INT32_MIN <= value <= INT32_MAX for sample in samples for value in sample):
        raise ValueError("delta-compressed samples are 32-bit signed integers")
    write_delta_blocks(writer, samples[0], plan_delta_blocks(samples), resolution_bits)


def encode_delta_samples(samples: Sequence[Sample], resolution_bits: int) -> bytes:
    writer = Writer()
    write_delta_samples(writer, samples, resolution_bits)
    return writer.getvalue()
