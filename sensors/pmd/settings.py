"""PMD measurement settings: the `type, count, value x count` lists of the control point.

Layout and field sizes from the SDK's `PmdSetting.kt` (`parsePmdSettingsData`, `typeToFieldSize`,
`serializeSelected`) and the *online measurement* document, Table 5. A settings response offers
several values per setting; a start request selects one value of each; a start response may
carry the FACTOR that turns raw samples into units. Every value is little-endian.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Final, Self

from pydantic import ConfigDict, Field, RootModel, field_validator

from sensors.errors import DecodeErrorKind
from sensors.wire import Reader, Writer


class SettingType(StrEnum):
    SAMPLE_RATE = "sample_rate"  # Hz
    RESOLUTION = "resolution"  # bits per sample
    RANGE = "range"  # +/- g, deg/s or gauss, depending on the measurement
    RANGE_MILLIUNIT = "range_milliunit"
    CHANNELS = "channels"
    FACTOR = "factor"  # raw sample x FACTOR = value in the stream's unit
    SECURITY = "security"  # the 16-byte key of a secured offline recording (PmdSecret.kt)


class ValueEncoding(Enum):
    UNSIGNED = "unsigned"
    SIGNED = "signed"
    FLOAT32 = "float32"


@dataclass(frozen=True, slots=True)
class SettingField:
    code: int
    size: int
    encoding: ValueEncoding


SETTING_FIELDS: Final[Mapping[SettingType, SettingField]] = MappingProxyType(
    {
        SettingType.SAMPLE_RATE: SettingField(0, 2, ValueEncoding.UNSIGNED),
        SettingType.RESOLUTION: SettingField(1, 2, ValueEncoding.UNSIGNED),
        SettingType.RANGE: SettingField(2, 2, ValueEncoding.UNSIGNED),
        # Signed: PmdSettingTest.testPmdSettingWithRangeMilliUnit reads FF FF FF FF as -1.
        SettingType.RANGE_MILLIUNIT: SettingField(3, 4, ValueEncoding.SIGNED),
        # One byte, not two: the Verity Sense refuses a two-byte channel count (bleakheart #10).
        SettingType.CHANNELS: SettingField(4, 1, ValueEncoding.UNSIGNED),
        SettingType.FACTOR: SettingField(5, 4, ValueEncoding.FLOAT32),
        SettingType.SECURITY: SettingField(6, 16, ValueEncoding.UNSIGNED),
    }
)
SETTING_TYPES: Final[Mapping[int, SettingType]] = MappingProxyType(
    {spec.code: kind for kind, spec in SETTING_FIELDS.items()}
)
MAX_VALUES_PER_SETTING: Final = 0xFF

SettingValue = int | float
_FLOAT32: Final = struct.Struct("<f")


def float32(value: float) -> float:
    """`value` at IEEE-754 single precision, as the wire carries it; ValueError if it overflows."""
    try:
        return float(_FLOAT32.unpack(_FLOAT32.pack(value))[0])
    except OverflowError:
        raise ValueError(f"{value} does not fit an IEEE-754 single-precision float") from None


def _checked(kind: SettingType, value: SettingValue) -> SettingValue:
    spec = SETTING_FIELDS[kind]
    if spec.encoding is ValueEncoding.FLOAT32:
        quantized = float32(value)
        if not math.isfinite(quantized):
            raise ValueError(f"{kind} {value} is not finite")
        return quantized
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{kind} values are integers, got {value!r}")
    bits = 8 * spec.size
    low, high = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        if spec.encoding is ValueEncoding.SIGNED
        else (0, (1 << bits) - 1)
    )
    if not low <= value <= high:
        raise ValueError(f"{kind} {value} is outside {low}..{high}")
    return value


class PmdSettings(RootModel[dict[SettingType, tuple[SettingValue, ...]]]):
    """Settings in wire order, each type with its values; FACTOR values are floats, others ints.

    The order is kept because devices and the SDK send settings in no fixed order (the H10
    start request of the 2021 specification sends RANGE before SAMPLE_RATE), and encoding a
    decoded list gives back the same bytes.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    root: dict[SettingType, tuple[SettingValue, ...]] = Field(default_factory=dict)

    @field_validator("root", mode="after")
    @classmethod
    def _values_fit_their_fields(
        cls, settings: dict[SettingType, tuple[SettingValue, ...]]
    ) -> dict[SettingType, tuple[SettingValue, ...]]:
        checked: dict[SettingType, tuple[SettingValue, ...]] = {}
        for kind, values in settings.items():
            if len(values) > MAX_VALUES_PER_SETTING:
                raise ValueError(f"{kind}: at most {MAX_VALUES_PER_SETTING} values per setting")
            checked[kind] = tuple(_checked(kind, value) for value in values)
        return checked

    @classmethod
    def choose(cls, selection: Mapping[SettingType, SettingValue]) -> Self:
        """One value per setting, as a start request carries them (`PmdSetting(selected)`)."""
        return cls({kind: (value,) for kind, value in selection.items()})

    def get(self, kind: SettingType) -> tuple[SettingValue, ...]:
        """The values given for `kind`, or () when the list does not name it."""
        return self.root.get(kind, ())

    @property
    def factor(self) -> float | None:
        """The FACTOR, when the list carries one (a start response's, `getFactor` in the SDK)."""
        values = self.get(SettingType.FACTOR)
        return float(values[0]) if values else None

    @property
    def is_selection(self) -> bool:
        """True when every setting has exactly one value, as in a start request."""
        return all(len(values) == 1 for values in self.root.values())

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Every remaining byte of `reader` as a settings list; raises DecodeError."""
        settings: dict[SettingType, tuple[SettingValue, ...]] = {}
        while reader.remaining:
            type_at = reader.position
            code = reader.uint(1, "settings")
            kind = SETTING_TYPES.get(code)
            if kind is None:
                raise reader.error(
                    DecodeErrorKind.RESERVED_VALUE, f"setting type {code} is not defined", type_at
                )
            if kind in settings:
                raise reader.error(
                    DecodeErrorKind.REPEATED_SETTING, f"setting {kind} appears twice", type_at
                )
            count = reader.uint(1, f"{kind} count")
            settings[kind] = tuple(_read_value(reader, kind) for _ in range(count))
        return cls(settings)

    def write(self, writer: Writer) -> None:
        for kind, values in self.root.items():
            spec = SETTING_FIELDS[kind]
            writer.uint(1, spec.code)
            writer.uint(1, len(values))
            for value in values:
                if spec.encoding is ValueEncoding.FLOAT32:
                    writer.raw(_FLOAT32.pack(value))
                elif spec.encoding is ValueEncoding.SIGNED:
                    writer.sint(spec.size, int(value))
                else:
                    writer.uint(spec.size, int(value))

    def encode(self) -> bytes:
        writer = Writer()
        self.write(writer)
        return writer.getvalue()


def _read_value(reader: Reader, kind: SettingType) -> SettingValue:
    spec = SETTING_FIELDS[kind]
    at = reader.position
    if spec.encoding is ValueEncoding.FLOAT32:
        value = float(_FLOAT32.unpack(reader.raw(spec.size, str(kind)))[0])
        if not math.isfinite(value):
            raise reader.error(DecodeErrorKind.OUT_OF_RANGE, f"{kind} {value} is not finite", at)
        return value
    if spec.encoding is ValueEncoding.SIGNED:
        return reader.sint(spec.size, str(kind))
    return reader.uint(spec.size, str(kind))
