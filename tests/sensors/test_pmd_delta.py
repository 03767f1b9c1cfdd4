"""The delta codec against the SDK's parser tests, a transliteration of its algorithm, and itself.

Vectors from polar-ble-sdk `sources/Android/android-communications/library/src/test/java/com/
polar/androidcommunications/api/ble/model/gatt/client/pmd/BlePmdClientParsersTest.kt` (written
there as `byteArrayOf(...)`; copied here as hex).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors import DecodeError, DecodeErrorKind
from sensors.pmd import DeltaBlock, decode_delta_samples, encode_delta_samples, write_delta_blocks
from sensors.pmd.delta import INT32_MAX, delta_bit_width, plan_delta_blocks
from sensors.wire import Writer
from tests.sensors.pmd_strategies import accumulate, delta_blocks, deltas_of_width

# test_parseDeltaFrameAllSamples_multipleDeltas: 3 channels, 16 bits, ten blocks of 3- and
# 4-bit deltas.
MULTIPLE_DELTAS = (
    "C9 FF 12 00 11 00 03 09 41 FE 2B 0F 9C 0B BF 15 00 4F 00 04 1E F1 EF 00 F0 C1 23 E4 ED "
    "F4 D1 F1 F1 F5 FF 22 DE 31 00 F1 FE 21 02 1F 0E 2B 1F 00 E2 20 00 0E 02 E1 1E 20 FF F1 "
    "F1 02 C5 D0 02 E0 E1 02 03 0A 31 2E FB BA 90 2B AA 0E 23 40 9E 03 04 14 E3 EF F3 0F 02 "
    "1F 01 E0 0F 04 9E 13 E2 D0 04 E2 22 E2 C2 0E 20 0F 20 02 FE 00 0F 1C 32 EE 03 0A 89 00 "
    "07 08 7C 00 CE 2F E8 3A 9E 03 04 1E 01 00 11 19 4F 00 2F 12 FD 13 FF 0E 10 00 00 F1 C0 "
    "12 E4 EF 21 00 00 01 F1 FF FF 02 10 10 2B 51 0B 4E 31 FC 2E BF 31 14 EC 0E 2F 52 EF 03 "
    "0A 06 9E 04 0E 02 A8 88 EE E0 07 9A 00 04 0A 1F 21 1E 4E 2E FE C6 C0 02 EF 03 01 02 EE "
    "11 03 0A F8 13 00 00 F0 40 BF A5 E7 00 76 00 "
)
# test_parseDeltaFrameAllSamples_withResolution32_realVector1 ("real vector"): 3 channels of
# float32 bit patterns (1.0, 10.0, 20.0), then a block of 28-bit and one of 32-bit deltas; the
# SDK's array repeats the two blocks.
_FLOAT32_BLOCKS = (
    "1C 06 00 00 A0 01 00 00 08 CD CC EC 0D 00 00 08 CD CC EC 3D 33 33 1A CD CC EC 3D 33 33 "
    "1A 00 00 C0 30 33 33 1A 00 00 C0 A0 99 99 DA 00 00 C0 A0 99 99 DA 66 66 A6 A1 99 99 DA "
    "66 66 A6 01 00 00 0E 20 03 66 66 A6 01 00 00 E0 00 42 6C 45 0E 00 00 E0 00 42 6C 45 0E "
    "2B F8 ED 21 00 00 60 FD BE 93 BA F0 93 9B 4C CF "
)
FLOAT32_REAL = "00 00 80 3F 00 00 20 41 00 00 A0 41 " + _FLOAT32_BLOCKS * 2
# test_parseDeltaFrameAllSamples_withResolution32: one block of 17 samples of 32-bit deltas.
RESOLUTION_32 = (
    "02 00 00 00 19 32 99 E9 00 DA FE FF 20 11 17 32 99 E9 E7 A7 65 16 38 DB 06 46 E7 A7 65 "
    "16 38 DB 06 46 73 41 3B B8 7A 26 04 01 C9 0A FF 59 77 07 D1 32 87 BF 01 9F 21 3E 0D 91 "
    "E5 01 76 AD 21 3E 0D 91 E5 01 76 AD 92 01 38 CD E5 01 76 AD 92 01 38 CD 00 54 84 87 92 "
    "01 38 CD 00 54 84 87 78 CB EE 40 00 54 84 87 78 CB EE 40 F1 DE CC 8B 78 CB EE 40 F1 DE "
    "CC 8B 17 32 99 E9 F1 DE CC 8B 17 32 99 E9 E7 A7 65 16 17 32 99 E9 E7 A7 65 16 38 DB 06 "
    "46 E7 A7 65 16 38 DB 06 46 73 41 3B B8 7A 26 04 01 C9 0A FF 59 77 07 D1 32 87 BF 01 9F "
    "21 3E 0D 91 E5 01 76 AD 21 3E 0D 91 E5 01 76 AD 92 01 38 CD E5 01 76 AD 92 01 38 CD 00 "
    "54 84 87 92 01 38 CD 00 54 84 87 78 CB EE 40 "
)


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def _uint32(sample: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(value & 0xFFFF_FFFF for value in sample)


def test_multiple_blocks_of_3_and_4_bit_deltas() -> None:
    samples = decode_delta_samples(_hex(MULTIPLE_DELTAS), 3, 16)
    assert len(samples) == 1 + 9 + 30 + 10 + 20 + 10 + 30 + 10 + 10 + 10
    assert samples[0] == (-55, 18, 17)
    assert samples[1] == (-54, 18, 18)


def test_32_bit_float_patterns_real_vector() -> None:
    samples = decode_delta_samples(_hex(FLOAT32_REAL), 3, 32)
    assert len(samples) == 1 + 6 + 3 + 6 + 3
    assert _uint32(samples[0]) == (0x3F800000, 0x41200000, 0x41A00000)
    # The SDK's expectation, 0x41A00000 + 0xFDECCCCD, wraps at 32 bits.
    assert _uint32(samples[1]) == (0x3F800000 + 0x1A00000, 0x41200000 + 0x0800000, 0x3F8CCCCD)


def test_32_bit_deltas() -> None:
    samples = decode_delta_samples(_hex(RESOLUTION_32), 3, 32)
    assert len(samples) == 18
    assert _uint32(samples[0]) == (0x00000002, 0xE9993219, 0xFFFEDA00)
    assert _uint32(samples[1]) == (
        (0x00000002 + 0xE9993217) & 0xFFFF_FFFF,
        (0xE9993219 + 0x1665A7E7) & 0xFFFF_FFFF,
        (0xFFFEDA00 + 0x4606DB38) & 0xFFFF_FFFF,
    )


@pytest.mark.parametrize(
    ("payload", "channels", "resolution", "expected"),
    [
        # parse reference sample when resolution16: -1, 0, 32767, -32768.
        ("FFFF 0000 FF7F 0080", 4, 16, (-1, 0, 32767, -32768)),
        # parse reference sample when resolution32 (float bit patterns, compared as bits).
        ("00000000 FFFFFFFF 00000080", 3, 32, (0, -1, -(2**31))),
    ],
)
def test_reference_samples(
    payload: str, channels: int, resolution: int, expected: tuple[int, ...]
) -> None:
    assert decode_delta_samples(_hex(payload), channels, resolution) == (expected,)


def test_reference_sign_follows_the_resolution_mask() -> None:
    """22 bits in 3 bytes: any bit from 21 up makes it negative (parseDeltaFrameRefSamples)."""
    assert decode_delta_samples(bytes.fromhex("ffff1f"), 1, 22) == ((0x1FFFFF,),)
    assert decode_delta_samples(bytes.fromhex("000020"), 1, 22) == ((-(1 << 21),),)
    assert decode_delta_samples(bytes.fromhex("000040"), 1, 22) == ((-(1 << 21),),)


def test_a_one_bit_field_reads_as_the_sdk_reads_it() -> None:
    """`Int.MAX_VALUE shl 0` masks a set 1-bit field to 2^31 - 1 (BlePMDClient.parseDeltaFrame)."""
    samples = decode_delta_samples(bytes.fromhex("0500 0102 02"), 1, 16)
    assert samples == ((5,), (5,), (5 + INT32_MAX - 2**32,))


def test_the_encoder_uses_the_narrowest_width_of_at_least_two_bits() -> None:
    assert [delta_bit_width(d) for d in (0, -1, 1, -2, 2, 127, -128, 128, INT32_MAX)] == [
        2, 2, 2, 2, 3, 8, 8, 9, 32,
    ]  # fmt: skip
    blocks = plan_delta_blocks([(0, 0)] * 300)
    assert [(b.bit_width, len(b.deltas)) for b in blocks] == [(2, 255), (2, 44)]


@pytest.mark.parametrize(
    ("payload", "kind", "offset"),
    [
        ("F1FF 1400", DecodeErrorKind.TOO_SHORT, 0),  # reference needs 6 bytes
        ("F1FF 1400 F003 06", DecodeErrorKind.TOO_SHORT, 7),  # block header without its count
        ("F1FF 1400 F003 0601 7B0F", DecodeErrorKind.TOO_SHORT, 8),  # 18 bits need 3 bytes
        ("F1FF 1400 F003 0001 7B0F08", DecodeErrorKind.INVALID_BIT_WIDTH, 6),
        ("F1FF 1400 F003 2101 7B0F08", DecodeErrorKind.INVALID_BIT_WIDTH, 6),
        ("F1FF 1400 F003 0601 7B0F08 FF01", DecodeErrorKind.INVALID_BIT_WIDTH, 11),
    ],
)
def test_malformed_payloads(payload: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_delta_samples(_hex(payload), 3, 16)
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


def test_layout_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="resolution"):
        decode_delta_samples(b"\x00", 1, 33)
    with pytest.raises(ValueError, match="channels"):
        decode_delta_samples(b"", 0, 16)


def test_the_encoder_refuses_what_would_not_read_back() -> None:
    with pytest.raises(ValueError, match="reference"):
        encode_delta_samples([(40000,)], 16)
    with pytest.raises(ValueError, match="does not fit"):
        write_delta_blocks(Writer(), (0,), [DeltaBlock(4, ((8,),))], 16)
    with pytest.raises(ValueError, match="32-bit"):
        encode_delta_samples([(0,), (2**31,)], 16)


def _sdk_parse_delta_frames_all(value: bytes, channels: int, resolution: int) -> list[list[int]]:
    """A line-by-line transliteration of BlePMDClient.parseDeltaFramesAll (SIGNED_INT), bit lists
    and all, as the oracle for the fast decoder; it raises where the Kotlin throws
    (copyOfRange/arraycopy past the end) and where Bluewatch refuses (width 0 or above 32).
    """

    def to_int(x: int) -> int:
        x &= 0xFFFF_FFFF
        return x - (1 << 32) if x & 0x8000_0000 else x

    size = -(-resolution // 8)
    ref_mask = to_int(-1 << (resolution - 1))
    refs = []
    for channel in range(channels):
        chunk = value[channel * size : (channel + 1) * size]
        if len(chunk) != size:
            raise IndexError("reference")
        sample = to_int(int.from_bytes(chunk, "little", signed=True))
        if sample & ref_mask:
            sample = to_int(sample | ref_mask)
        refs.append(sample)
    samples = [refs]
    offset = channels * size
    while offset < len(value):
        if offset + 2 > len(value):
            raise IndexError("block header")
        delta_size, count = value[offset], value[offset + 1]
        offset += 2
        if not 1 <= delta_size <= 32:
            raise ValueError("bit width")
        bit_length = count * delta_size * channels
        length = -(-bit_length // 8)
        frame = value[offset : offset + length]
        if len(frame) != length:
            raise IndexError("delta frame")
        bits = [bool(byte & (1 << i)) for byte in frame for i in range(8)]
        mask = to_int(0x7FFFFFFF << (delta_size - 1))
        position = 0
        while position < bit_length:
            last = samples[-1]
            nxt = []
            for channel in range(channels):
                field = 0
                for i, bit in enumerate(bits[position : position + delta_size]):
                    field |= int(bit) << i
                field = to_int(field)
                if field & mask:
                    field = to_int(field | mask)
                position += delta_size
                nxt.append(to_int(last[channel] + field))
            samples.append(nxt)
        offset += length
    return samples


@given(
    st.binary(max_size=60),
    st.integers(1, 5),
    st.sampled_from([8, 12, 16, 22, 24, 32]),
)
def test_agrees_with_the_sdk_algorithm_on_any_bytes(
    payload: bytes, channels: int, resolution: int
) -> None:
    try:
        expected = _sdk_parse_delta_frames_all(payload, channels, resolution)
    except (IndexError, ValueError):
        with pytest.raises(DecodeError):
            decode_delta_samples(payload, channels, resolution)
        return
    assert [list(s) for s in decode_delta_samples(payload, channels, resolution)] == expected


@st.composite
def explicit_payloads(draw: st.DrawFn) -> tuple[int, int, tuple[int, ...], tuple[DeltaBlock, ...]]:
    channels = draw(st.integers(1, 6))
    resolution = draw(st.integers(1, 32))
    reference = draw(
        st.tuples(
            *(
                st.integers(-(1 << (resolution - 1)), (1 << (resolution - 1)) - 1)
                for _ in range(channels)
            )
        )
    )
    return channels, resolution, reference, draw(delta_blocks(channels, min_width=1))


@given(explicit_payloads())
def test_blocks_at_any_bit_width_decode_to_their_running_sums(
    case: tuple[int, int, tuple[int, ...], tuple[DeltaBlock, ...]],
) -> None:
    channels, resolution, reference, blocks = case
    writer = Writer()
    write_delta_blocks(writer, reference, blocks, resolution)
    payload = writer.getvalue()
    decoded = decode_delta_samples(payload, channels, resolution)
    assert list(decoded) == accumulate(reference, blocks)
    assert [list(s) for s in decoded] == _sdk_parse_delta_frames_all(payload, channels, resolution)
    # The canonical encoding of the same samples reads back the same, at its own widths.
    assert decode_delta_samples(
        encode_delta_samples(decoded, resolution), channels, resolution
    ) == (decoded)


@given(st.integers(1, 32).flatmap(lambda w: st.tuples(st.just(w), deltas_of_width(w))))
def test_every_delta_fits_the_width_drawn_for_it(case: tuple[int, int]) -> None:
    width, delta = case
    writer = Writer()
    write_delta_blocks(writer, (0,), [DeltaBlock(width, ((delta,),))], 32)
    assert decode_delta_samples(writer.getvalue(), 1, 32)[1] == (delta,)
