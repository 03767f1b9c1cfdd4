"""Sample layout of each PMD frame kind: how many channels, how many bits, what the integers are.

The SDK fixes channel count and resolution by measurement and frame type, as constants of its
`model/*Data.kt` parsers, never from the negotiated settings; so does this table, and a frame
decodes from its bytes alone. A frame kind missing here is refused as UNKNOWN_FRAME_TYPE, as the
SDK throws for it; `delta.decode_delta_samples` reads such a payload given explicit channels and
resolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sensors.pmd.measurement import MeasurementType

ECG = MeasurementType.ECG
PPG = MeasurementType.PPG
ACC = MeasurementType.ACC
PPI = MeasurementType.PPI
GYRO = MeasurementType.GYRO
MAG = MeasurementType.MAGNETOMETER

COMPRESSED_BIT: Final = 0x80
FRAME_TYPE_MASK: Final = 0x7F
# PPI frames carry records, not channel samples: 6 bytes each (PpiData.kt, dataFromType0).
PPI_FRAME_TYPE: Final = 0


@dataclass(frozen=True, slots=True)
class FrameLayout:
    """Channels per sample and bits per channel value.

    Plain frames: each value is a little-endian signed field of `bits // 8` bytes. Compressed
    frames: `bits` is the reference sample's resolution; later samples are 32-bit sums.
    `float32` marks samples that are IEEE-754 single-precision bit patterns, not counts.
    """

    channels: int
    bits: int
    float32: bool = False


FrameKey = tuple[MeasurementType, bool, int]  # (measurement, compressed, frame type 0-127)

FRAME_LAYOUTS: Final[Mapping[FrameKey, FrameLayout]] = MappingProxyType(
    {
        # ECG type 0, 24-bit signed microvolts: the H10 frame (2021 spec "Frame types ECG";
        # EcgData.kt dataFromRawType0).
        (ECG, False, 0): FrameLayout(1, 24),
        # ACC types 0/1/2: x, y, z as 8/16/24-bit signed (2021 spec "Frame types ACC"; online
        # measurement Tables 7-9; AccData.kt dataFromRawType0/1/2). The H10 sends type 1, mG.
        (ACC, False, 0): FrameLayout(3, 8),
        (ACC, False, 1): FrameLayout(3, 16),
        (ACC, False, 2): FrameLayout(3, 24),
        # PPG type 0: ppg0, ppg1, ppg2, ambient as 24-bit signed (2021 spec "Frame types PPG";
        # PpgData.kt dataFromRawType0).
        (PPG, False, 0): FrameLayout(4, 24),
        # Delta frames (BlePMDClient.parseDeltaFramesAll with the constants of each parser).
        # ACC compressed 0 (Verity, in G x FACTOR) and 1: AccData.kt, 3 channels, 16 bits.
        (ACC, True, 0): FrameLayout(3, 16),
        (ACC, True, 1): FrameLayout(3, 16),
        # PPG compressed 0: 3 PPG channels and ambient, 24 bits (PpgData.kt dataFromCompressedType0;
        # the Verity's 22-bit values sit in these 24-bit references).
        (PPG, True, 0): FrameLayout(4, 24),
        # PPG compressed 7, 8, 10: 16, 24 or 20 PPG channels then a status channel, 24 bits.
        (PPG, True, 7): FrameLayout(17, 24),
        (PPG, True, 8): FrameLayout(25, 24),
        (PPG, True, 10): FrameLayout(21, 24),
        # Gyroscope compressed 0: 16-bit deg/s counts; 1: float32 bit patterns (GyrData.kt).
        (GYRO, True, 0): FrameLayout(3, 16),
        (GYRO, True, 1): FrameLayout(3, 32, float32=True),
        # Magnetometer compressed 0: x, y, z; 1: x, y, z in mG and a calibration status
        # (MagData.kt).
        (MAG, True, 0): FrameLayout(3, 16),
        (MAG, True, 1): FrameLayout(4, 16),
    }
)

# The measurements whose frames this library decodes: the table's and PPI.
DATA_MEASUREMENTS: Final = frozenset({PPI} | {key[0] for key in FRAME_LAYOUTS})
