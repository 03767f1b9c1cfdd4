"""PMD data frames against real captures, the SDK's model tests and the specification's example.

SDK tests are in polar-ble-sdk `sources/Android/android-communications/library/src/test/java/
com/polar/androidcommunications/api/ble/model/gatt/client/pmd/` (model/AccDataTest.kt,
model/EcgDataTest.kt, model/PpiDataTest.kt, BlePmdClientTest.kt), written there as
`byteArrayOf(...)` and copied here as hex.
"""

from __future__ import annotations

import struct

import pytest
from pydantic import ValidationError

from sensors import DecodeError, DecodeErrorKind, decode
from sensors.pmd import PMD_DATA_UUID, MeasurementType, PmdDataFrame, PpiSample
from tests.sensors.test_pmd_delta import FLOAT32_REAL

ECG, ACC, PPG, PPI, GYRO = (
    MeasurementType.ECG,
    MeasurementType.ACC,
    MeasurementType.PPG,
    MeasurementType.PPI,
    MeasurementType.GYRO,
)
# The header the SDK's model tests share: type, then 2_000_000_000 ns (00 94 35 77 ...), then
# the frame type byte.
T_2E9 = "00 94 35 77 00 00 00 00"


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# A real H10 ECG notification at ATT MTU 232: 229 bytes, 73 samples of int24 microvolts
# (phdiethelm/h10_ecg exploration/gatttool.md, the notification its table decodes: sample 0 =
# 117, sample 1 = 115, sample 14 = -4).
H10_ECG = (
    "00 aa9a9351 31495208 00 "
    "750000 730000 630000 5e0000 770000 8c0000 8c0000 850000 7c0000 830000 980000 9c0000 8e0000 "
    "570000 fcffff f5ffff 300000 370000 270000 040000 d0ffff 7a0000 0a0300 9f0600 520800 eb0500 "
    "4b0100 c7feff 26ffff 92ffff 3fffff 4fffff 90ffff 90ffff 94ffff b2ffff d5ffff e5ffff e3ffff "
    "f5ffff 090000 0d0000 190000 190000 040000 fcffff 0b0000 2b0000 300000 1d0000 120000 240000 "
    "420000 450000 220000 0b0000 f7ffff b7ffff 9dffff c7ffff d0ffff c5ffff e3ffff 000000 0b0000 "
    "240000 420000 450000 320000 2b0000 320000 340000 270000"
)


def test_real_h10_ecg_notification() -> None:
    frame = PmdDataFrame.decode(_hex(H10_ECG))
    assert (frame.measurement, frame.frame_type, frame.compressed) == (ECG, 0, False)
    # The eight bytes aa 9a 93 51 31 49 52 08, little-endian, as sent: near 2019-01-01 in the
    # 2000 epoch, where a fresh H10's clock starts.
    assert frame.sensor_time_ns == 0x08524931_51939AAA
    samples = frame.channel_samples()
    assert len(samples) == 73
    assert (samples[0], samples[1], samples[14]) == ((117,), (115,), (-4,))
    assert frame.encode() == _hex(H10_ECG)


def test_sdk_ecg_type_0() -> None:
    """EcgDataTest `process raw ecg data type 0`: 02 80 FF = -32766, 02 80 00 = 32770."""
    wire = _hex(f"00 {T_2E9} 00  0280FF 028000")
    frame = PmdDataFrame.decode(wire)
    assert frame == PmdDataFrame(
        measurement=ECG, sensor_time_ns=2_000_000_000, frame_type=0, samples=((-32766,), (32770,))
    )
    assert frame.encode() == wire


# AccDataTest `process acc raw data frame type 1`: 36 samples of x, y, z int16 mG.
ACC_TYPE_1 = (
    "F7FF FFFF E703 F8FF FEFF E503 F9FF FFFF E503 FAFF FFFF E603 FAFF FEFF E603 F9FF FFFF E503 "
    "F8FF FFFF E603 F8FF FEFF E603 FAFF FFFF E503 FAFF FFFF E703 FAFF FFFF E503 F8FF FFFF E603 "
    "F7FF FFFF E603 F8FF FEFF E603 F9FF FEFF E703 F9FF 0000 E603 F9FF FFFF E603 F7FF FEFF E503 "
    "F9FF FFFF E503 F9FF FFFF E503 FAFF 0000 E603 F9FF FEFF E603 F8FF FFFF E603 F8FF FFFF E503 "
    "F9FF FFFF E603 F9FF FFFF E503 FAFF FFFF E603 F9FF FFFF E503 F9FF FFFF E503 F8FF FEFF E603 "
    "F9FF FFFF E603 F9FF FFFF E603 F9FF 0000 E503 F9FF FEFF E603 F8FF FEFF E603 F7FF FEFF E603"
)


def test_sdk_acc_plain_type_1() -> None:
    wire = _hex(f"02 {T_2E9} 01 {ACC_TYPE_1}")
    frame = PmdDataFrame.decode(wire)
    assert (frame.measurement, frame.frame_type, frame.compressed) == (ACC, 1, False)
    samples = frame.channel_samples()
    assert len(samples) == 216 // 2 // 3
    assert samples[:2] == ((-9, -1, 999), (-8, -2, 997))
    assert frame.encode() == wire


# AccDataTest `process acc compressed data type 0`: a Verity ACC frame (0x80), reference
# (1905, 27376, -29282), then 56 samples of 10-bit deltas.
ACC_COMPRESSED_0 = (
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF "
    "EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3 "
    "CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03 "
    "BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27 "
    "9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B "
    "7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B "
    "4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F "
    "1F CB DA E3 C7 A2 76 F9"
)


def test_sdk_acc_compressed_type_0_and_its_factor() -> None:
    frame = PmdDataFrame.decode(_hex(f"02 {T_2E9} 80 {ACC_COMPRESSED_0}"))
    assert (frame.measurement, frame.frame_type, frame.compressed) == (ACC, 0, True)
    samples = frame.channel_samples()
    assert len(samples) == 1 + 56
    assert samples[0] == (1905, 27376, -29282)
    assert samples[1] == (1905 + 190, 27376 - 105, -29282 - 85)
    # The test's factor 2.44e-4 g per count; type 0 is in g, x 1000 for mG, within the 8 g range.
    factor = 2.44e-4
    scaled = frame.scaled(factor)
    assert scaled[0] == pytest.approx((1905 * factor, 27376 * factor, -29282 * factor))
    assert all(abs(value * 1000) <= 8 * 1000 for sample in scaled for value in sample)
    assert PmdDataFrame.decode(frame.encode()) == frame


def test_sdk_acc_compressed_type_1() -> None:
    """AccDataTest `process acc compressed data type 1`: one 6-bit block, deltas -5, -3, 0."""
    frame = PmdDataFrame.decode(_hex("02 6500000000000000 81 F1FF 1400 F003 06 01 7B0F08"))
    assert (frame.sensor_time_ns, frame.frame_type, frame.compressed) == (0x65, 1, True)
    assert frame.samples == ((-15, 20, 1008), (-20, 17, 1008))


def test_specification_delta_example() -> None:
    """The 2021 specification's "Delta frame sample example from Polar Verity Sense": reference
    D0 FF 65 01 E4 0F, a block of 8-bit deltas FC 07 FF then 0C 13 F2 (its first two of 29
    samples; the count byte is 02 here so that the frame ends after them)."""
    frame = PmdDataFrame.decode(_hex("02 0000000000000000 80 D0FF 6501 E40F 08 02 FC07FF 0C13F2"))
    assert frame.samples == ((-48, 357, 4068), (-52, 364, 4067), (-40, 383, 4053))


# A real Verity Sense PPG frame (fsmeraldi/bleakheart src/bleakheart/_core.py, the docstring of
# _decode_ppg_data): compressed type 0, 4 channels of 24 bits, blocks of 42 8-bit and 7 10-bit
# deltas. The docstring misprints channel 1 of the reference (7d 9b f8 is -484483).
VERITY_PPG = """
    01 2d 3b ba ac ab 31 18 0b 80 bb 1a f8 7d 9b f8 94 b9 f8 df 20
    f6 08 2a cb ea d5 e2 00 d2 de 2c cc da b6 ee f5 d5 f9 11 17 fa
    f1 ef bf 99 ca a7 ec 05 e2 4c e2 df e3 fe 19 31 66 36 e8 0e d6
    c2 39 cb f6 27 da 2f 2c 11 24 ce d8 e2 ec 3e 0d 21 1e 0f f1 dd
    d3 8e 19 2d f9 3f be a3 07 08 f3 30 11 ee 1e 32 cd 06 11 d8 11
    12 e0 14 19 c9 05 00 1d 39 f8 e9 97 8f bb ea 14 f9 db 0e 1c 25
    28 fe c7 cb d5 00 34 fc 11 fe ee 16 ff 18 de ec d0 07 e3 db ed
    17 5a 3d 66 db c5 dc 06 f1 30 1a 9b 1a 03 34 5f 1c eb f0 fb c9
    0f 16 fc 3b 18 3b da 1c 1f d5 19 d1 11 11 de 08 f5 29 2a fa fc
    0f 20 e3 0a 07 03 74 af 41 01 f2 f7 d0 bf fc 35 10 e0 c3 fc 2b
    88 31 00 03 0b 5c bf c2 01 2b 20 41 80 04 0d 38 50 c3 fc
"""


def test_real_verity_ppg_frame() -> None:
    frame = PmdDataFrame.decode(_hex(VERITY_PPG))
    assert (frame.measurement, frame.frame_type, frame.compressed) == (PPG, 0, True)
    samples = frame.channel_samples()
    assert len(samples) == 1 + 42 + 7
    assert samples[0] == (-517445, -484483, -476780, -646945)
    # Read least significant bit first, the 10-bit block continues the 8-bit one smoothly:
    # -517605 then -517602, as the reference notes (1.6) computed with the SDK's algorithm.
    assert (samples[42][0], samples[43][0]) == (-517605, -517602)


def test_sdk_ppi_type_0() -> None:
    """PpiDataTest `process ppi raw data type 0`, flags 0xFF then 0x00."""
    frame = PmdDataFrame.decode(_hex("03 0000000000000000 00  80 8080 8080 FF  00 0100 0100 00"))
    all_flags = {"blocker": True, "skin_contact": True, "skin_contact_supported": True}
    assert frame.samples == (
        PpiSample(hr_bpm=128, ppi_ms=32896, error_estimate_ms=32896, **all_flags),
        PpiSample(hr_bpm=0, ppi_ms=1, error_estimate_ms=1),
    )
    # Flag bits 3-7 are reserved and not kept, so the encoding writes 0x07.
    assert frame.encode() == _hex("03 0000000000000000 00  80 8080 8080 07  00 0100 0100 00")


def test_gyro_float32_frames_scale_as_floats() -> None:
    """GyrData.kt compressed type 1: float32 bit patterns (the SDK's real vector: 1.0, 10.0,
    20.0 deg/s first), read as floats before the factor."""
    frame = PmdDataFrame.decode(_hex("05 0000000000000000 81") + _hex(FLOAT32_REAL))
    assert (frame.measurement, frame.frame_type, frame.compressed) == (GYRO, 1, True)
    assert frame.scaled(1.0)[0] == (1.0, 10.0, 20.0)
    assert frame.scaled(0.5)[1][2] == pytest.approx(
        struct.unpack("<f", (0x3F8CCCCD).to_bytes(4, "little"))[0] * 0.5
    )


def test_measurement_byte_is_read_through_the_0x3f_mask() -> None:
    """PmdMeasurementType.fromId masks the type byte with 0x3F."""
    frame = PmdDataFrame.decode(_hex(f"C0 {T_2E9} 00 0280FF"))
    assert frame.measurement is ECG


def test_the_uuid_table_decodes_pmd_data() -> None:
    assert decode(PMD_DATA_UUID.upper(), _hex(f"00 {T_2E9} 00 0280FF")) == PmdDataFrame(
        measurement=ECG, sensor_time_ns=2_000_000_000, frame_type=0, samples=((-32766,),)
    )


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("", DecodeErrorKind.TOO_SHORT, 0),
        (f"00 {T_2E9}", DecodeErrorKind.TOO_SHORT, 9),  # no frame type byte
        (f"04 {T_2E9} 00", DecodeErrorKind.UNKNOWN_MEASUREMENT_TYPE, 0),  # 4 is reserved
        (f"0B {T_2E9} 00", DecodeErrorKind.UNKNOWN_MEASUREMENT_TYPE, 0),  # pressure: not decoded
        # BlePmdClientTest `process not supported frame type`: PPG, frame type byte 0x7F.
        ("01 386C3172A4D3230D 7F", DecodeErrorKind.UNKNOWN_FRAME_TYPE, 9),
        # BlePmdClientTest `process ecg data`: ECG frame type 3, which this library does not read.
        ("00 386C3172A4D3230D 03 001203 111004 00", DecodeErrorKind.UNKNOWN_FRAME_TYPE, 9),
        # BlePmdClientTest `process acc data`: ACC compressed frame type 3.
        ("02 0100000000000000 83 00", DecodeErrorKind.UNKNOWN_FRAME_TYPE, 9),
        (f"00 {T_2E9} 80 000000", DecodeErrorKind.UNKNOWN_FRAME_TYPE, 9),  # no compressed ECG
        (f"03 {T_2E9} 80", DecodeErrorKind.UNKNOWN_FRAME_TYPE, 9),  # no compressed PPI
        (f"05 {T_2E9} 00 000000000000", DecodeErrorKind.UNKNOWN_FRAME_TYPE, 9),  # no plain gyro
        # BlePmdClientTest `process ppg data`: a compressed PPG frame of one byte; the SDK's
        # test mocks the parser, which would need a 12-byte reference.
        ("01 0000000000000070 80 FF", DecodeErrorKind.TOO_SHORT, 10),
        (f"00 {T_2E9} 00 0280FF 0280", DecodeErrorKind.TOO_SHORT, 13),  # half an ECG sample
        (f"02 {T_2E9} 01 F7FFFFFFE703 F8FF", DecodeErrorKind.TOO_SHORT, 16),
        (f"03 {T_2E9} 00 808080808007 00", DecodeErrorKind.TOO_SHORT, 16),  # part of a record
        (f"02 {T_2E9} 81 F1FF1400F003 06", DecodeErrorKind.TOO_SHORT, 17),  # block header cut
        (f"02 {T_2E9} 81 F1FF1400F003 0601 7B0F", DecodeErrorKind.TOO_SHORT, 18),  # block cut
        (f"02 {T_2E9} 81 F1FF1400F003 0001 7B0F08", DecodeErrorKind.INVALID_BIT_WIDTH, 16),
        (f"02 {T_2E9} 81 F1FF1400F003 2101 7B0F08", DecodeErrorKind.INVALID_BIT_WIDTH, 16),
    ],
)
def test_malformed_frames(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        PmdDataFrame.decode(_hex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)
    assert caught.value.characteristic == PmdDataFrame.NAME


BEAT = PpiSample(hr_bpm=60, ppi_ms=1000, error_estimate_ms=10)


@pytest.mark.parametrize(
    ("measurement", "frame_type", "compressed", "samples"),
    [
        (ACC, 0, True, ()),  # a compressed frame starts with its reference
        (ACC, 1, False, ((1, 2),)),  # two channels of three
        (ACC, 0, False, ((128, 0, 0),)),  # beyond int8
        (ACC, 1, True, ((40000, 0, 0),)),  # a reference beyond 16 bits
        (ACC, 1, True, ((0, 0, 0), (2**31, 0, 0))),  # beyond int32
        (ECG, 3, False, ()),  # no such layout
        (PPI, 0, False, ((1, 2, 3),)),  # PPI carries records
        (ECG, 0, False, (BEAT,)),
        (MeasurementType.PRESSURE, 0, False, ()),
    ],
)
def test_frames_that_cannot_be_sent_are_refused(
    measurement: MeasurementType, frame_type: int, compressed: bool, samples: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationError):
        PmdDataFrame(
            measurement=measurement,
            sensor_time_ns=0,
            frame_type=frame_type,
            compressed=compressed,
            samples=samples,  # type: ignore[arg-type]
        )


def test_ppi_frames_have_no_factor() -> None:
    frame = PmdDataFrame(measurement=PPI, sensor_time_ns=0, frame_type=0, samples=())
    with pytest.raises(ValueError, match="factor"):
        frame.scaled(2.0)
    with pytest.raises(ValueError, match="PpiSample"):
        frame.channel_samples()
    assert frame.ppi_samples() == ()
    with pytest.raises(ValueError, match="PPI records"):
        PmdDataFrame.decode(_hex(f"00 {T_2E9} 00")).ppi_samples()
