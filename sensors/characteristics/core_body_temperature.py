"""greenTEG CORE: the Core Body Temperature characteristic and the temperature CORE advertises.

Sources, both from github.com/CoreBodyTemp/CoreBodyTemp: "CORE SENSOR - Core Body Temperature
Service Specification" v2.2, 2024-07-04 (the *spec*), and "CORE Bluetooth and ANT+
Communication Implementation Notes" v3.1, 2024-08-08 (the *notes*). What a CORE serves, and
where the two documents contradict themselves, is tabled in docs/core-and-hrs.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, Self

from pydantic import Field

from sensors.characteristic import Centi, Characteristic, Deci, Milli
from sensors.errors import DecodeErrorKind
from sensors.wire import Reader, Writer

# Spec §2; notes §2.1: scan for either, since old firmware advertises the legacy private service
# instead of the Core Body Temperature service.
CORE_SERVICE_UUID: Final = "00002100-5b1e-4347-b07c-97b514dae121"
CORE_LEGACY_SERVICE_UUID: Final = "00004200-f366-40b2-ac37-70cce0aa83b1"


class CoreDataQuality(StrEnum):
    """Bits 2-0 of Quality and State (spec §3.1.1.5, Table 4), named as the spec names them."""

    INVALID = "invalid"
    POOR = "poor"
    FAIR = "fair"
    GOOD = "good"
    EXCELLENT = "excellent"


class HeartRateMonitorState(StrEnum):
    """Bits 5-4 of Quality and State: whether CORE is paired to a heart-rate monitor (Table 4)."""

    NOT_SUPPORTED = "not_supported"
    NOT_RECEIVING = "not_receiving"
    RECEIVING = "receiving"


# Flags, spec Table 3. The table's last row says "5-7 reserved" but bit 5 is the Heat Strain
# Index flag added in v2.2 (and used by the notes' Table 5 example, flags 0x37): bits 6-7 are
# the reserved ones.
_FLAG_SKIN: Final = 0x01
_FLAG_CORE_RESERVED: Final = 0x02
_FLAG_QUALITY_STATE: Final = 0x04
_FLAG_FAHRENHEIT: Final = 0x08
_FLAG_HEART_RATE: Final = 0x10
_FLAG_HEAT_STRAIN: Final = 0x20
_FLAGS_RESERVED: Final = 0xC0
# Spec §3.1.1.2: the mandatory core field holds 0x7FFF when there is no valid reading.
CORE_TEMPERATURE_NOT_AVAILABLE: Final = 0x7FFF
# Quality and State, Table 4: bit 3 and bits 7-6 are reserved; 0b111 and 0b11 mean "N/A".
_QUALITY_MASK: Final = 0x07
_STATE_SHIFT: Final = 4
_STATE_MASK: Final = 0x03
_QUALITY_STATE_RESERVED: Final = 0xC8
_QUALITY_NOT_AVAILABLE: Final = 0b111
_STATE_NOT_AVAILABLE: Final = 0b11
_QUALITIES: Final = dict(enumerate(CoreDataQuality))
_QUALITY_CODES: Final = {quality: code for code, quality in _QUALITIES.items()}
_STATES: Final = dict(enumerate(HeartRateMonitorState))
_STATE_CODES: Final = {state: code for code, state in _STATES.items()}

# SINT16 in 0.01 degrees: -327.68 to 327.67; for the core field 327.67 is the "not available" code.
_CENTI_MIN: Final = -327.68
_SKIN_MAX: Final = 327.67
_CORE_MAX: Final = 327.66
_SINT16_MIN: Final = -0x8000
_SINT16_MAX: Final = 0x7FFF
# Spec §3.1.1.7: the Heat Strain Index is held in tenths and "ranges from 0 to 25.4".
HEAT_STRAIN_INDEX_MAX: Final = 25.4

CoreCelsius = Annotated[Centi, Field(ge=_CENTI_MIN, le=_CORE_MAX)]
SkinCelsius = Annotated[Centi, Field(ge=_CENTI_MIN, le=_SKIN_MAX)]


def _celsius(hundredths: int, fahrenheit: bool) -> float:
    degrees = hundredths / 100
    return (degrees - 32.0) * 5.0 / 9.0 if fahrenheit else degrees


class CoreBodyTemperature(Characteristic):
    """00002101-…: core temperature, with skin temperature, quality, heart rate and heat strain.

    Fields are present only when their flag says so (spec Table 2, "if present"; notes §2.2,
    "depending on the flag field, not all values may be present"). Held in degrees Celsius: a
    payload in 0.01 °F (flag bit 3) is converted to the nearest 0.01 °C; encoding is Celsius.
    None means "not available", whichever way the wire says it: `core_temperature_c` for 0x7FFF
    (§3.1.1.2), `quality` for code 0b111 and `heart_rate_monitor` for 0b11 (Table 4), and
    `heart_rate_bpm` for 0, which CORE sends while it receives no heart rate (§3.1.1.6). So a
    Quality and State byte that says "N/A" twice, or a heart rate of 0, re-encodes as the field
    left out: the same information in fewer bytes.
    """

    UUID = "00002101-5b1e-4347-b07c-97b514dae121"
    NAME = "CORE Core Body Temperature (00002101)"

    core_temperature_c: CoreCelsius | None = None
    skin_temperature_c: SkinCelsius | None = None
    # §3.1.1.4 defines no meaning or unit for it; carried so that nothing on the wire is lost.
    core_reserved: int | None = Field(default=None, ge=_SINT16_MIN, le=_SINT16_MAX)
    quality: CoreDataQuality | None = None
    heart_rate_monitor: HeartRateMonitorState | None = None
    heart_rate_bpm: int | None = Field(default=None, ge=1, le=0xFF)
    heat_strain_index: Deci | None = Field(default=None, ge=0, le=HEAT_STRAIN_INDEX_MAX)

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        flags = reader.uint(1, "flags")
        if flags & _FLAGS_RESERVED:
            raise reader.error(
                DecodeErrorKind.RESERVED_FLAGS, f"reserved flag bits set in 0x{flags:02X}", 0
            )
        fahrenheit = bool(flags & _FLAG_FAHRENHEIT)
        core = reader.sint(2, "core_temperature_c")
        values: dict[str, Any] = {
            "core_temperature_c": None
            if core == CORE_TEMPERATURE_NOT_AVAILABLE
            else _celsius(core, fahrenheit)
        }
        if flags & _FLAG_SKIN:
            values["skin_temperature_c"] = _celsius(
                reader.sint(2, "skin_temperature_c"), fahrenheit
            )
        if flags & _FLAG_CORE_RESERVED:
            values["core_reserved"] = reader.sint(2, "core_reserved")
        if flags & _FLAG_QUALITY_STATE:
            values.update(_read_quality_and_state(reader))
        if flags & _FLAG_HEART_RATE:
            bpm = reader.uint(1, "heart_rate_bpm")
            values["heart_rate_bpm"] = bpm or None
        if flags & _FLAG_HEAT_STRAIN:
            values["heat_strain_index"] = reader.uint(1, "heat_strain_index") / 10
        return values

    def _write(self, writer: Writer) -> None:
        has_quality_state = self.quality is not None or self.heart_rate_monitor is not None
        flags = (
            (_FLAG_SKIN if self.skin_temperature_c is not None else 0)
            | (_FLAG_CORE_RESERVED if self.core_reserved is not None else 0)
            | (_FLAG_QUALITY_STATE if has_quality_state else 0)
            | (_FLAG_HEART_RATE if self.heart_rate_bpm is not None else 0)
            | (_FLAG_HEAT_STRAIN if self.heat_strain_index is not None else 0)
        )
        writer.uint(1, flags)
        writer.sint(
            2,
            CORE_TEMPERATURE_NOT_AVAILABLE
            if self.core_temperature_c is None
            else round(self.core_temperature_c * 100),
        )
        if self.skin_temperature_c is not None:
            writer.sint(2, round(self.skin_temperature_c * 100))
        if self.core_reserved is not None:
            writer.sint(2, self.core_reserved)
        if has_quality_state:
            quality = (
                _QUALITY_NOT_AVAILABLE if self.quality is None else _QUALITY_CODES[self.quality]
            )
            state = (
                _STATE_NOT_AVAILABLE
                if self.heart_rate_monitor is None
                else _STATE_CODES[self.heart_rate_monitor]
            )
            writer.uint(1, quality | state << _STATE_SHIFT)
        if self.heart_rate_bpm is not None:
            writer.uint(1, self.heart_rate_bpm)
        if self.heat_strain_index is not None:
            writer.uint(1, round(self.heat_strain_index * 10))


def _read_quality_and_state(reader: Reader) -> dict[str, Any]:
    start = reader.position
    byte = reader.uint(1, "quality")
    reader.mark("heart_rate_monitor", start)
    if byte & _QUALITY_STATE_RESERVED:
        raise reader.error(
            DecodeErrorKind.RESERVED_FLAGS,
            f"reserved bits set in Quality and State 0x{byte:02X}",
            start,
        )
    code = byte & _QUALITY_MASK
    state = (byte >> _STATE_SHIFT) & _STATE_MASK
    if code != _QUALITY_NOT_AVAILABLE and code not in _QUALITIES:
        raise reader.error(
            DecodeErrorKind.RESERVED_VALUE, f"data quality code {code} is undefined", start
        )
    return {
        "quality": None if code == _QUALITY_NOT_AVAILABLE else _QUALITIES[code],
        "heart_rate_monitor": None if state == _STATE_NOT_AVAILABLE else _STATES[state],
    }


# --- The advertisement ---------------------------------------------------------------------------

# Notes §2.1, Table 2. The table prints the company identifier as "0x0B-F6" under "LSB first", but
# a real CORE reports it as 3062 = 0x0BF6 (jogomu/corealarm, corealarm.py header: "Manufacturer
# ID: 3062", data b'\x00\x04u\x8e'), i.e. F6 0B on air, little-endian like every other field.
CORE_COMPANY_ID: Final = 0x0BF6
CORE_ADVERTISEMENT_VERSION: Final = 0
# Status bits 0-3 are the sensor's state machine; 4 is "Measuring or Erasing", other states are
# internal; bits 4-7 are reserved or internal, so they are carried but not refused.
CORE_STATE_MEASURING: Final = 4
_STATE_BITS: Final = 0x0F


class CoreAdvertisement(Characteristic):
    """CORE's manufacturer data: the core temperature in 0.001 °C, readable without connecting.

    Decodes the bytes after the company identifier, as bleak hands them over in
    `AdvertisementData.manufacturer_data[CORE_COMPANY_ID]`: version (only 0 is defined), status,
    and the temperature as an unsigned 16-bit count of 0.001 °C (notes Table 2). Not a GATT
    characteristic, so it has no UUID and is not in the codec table. The notes define no "no
    reading" value; trust the temperature only while `measuring`.
    """

    NAME = "CORE advertisement (manufacturer data, company 0x0BF6)"

    status: int = Field(ge=0, le=0xFF)
    core_temperature_c: Milli = Field(ge=0, le=0xFFFF / 1000)

    @property
    def state(self) -> int:
        """The sensor's state-machine state, bits 0-3 of the status byte."""
        return self.status & _STATE_BITS

    @property
    def measuring(self) -> bool:
        return self.state == CORE_STATE_MEASURING

    @classmethod
    def from_manufacturer_data(cls, manufacturer_data: Mapping[int, bytes]) -> Self | None:
        """The CORE entry of a scan's manufacturer data, decoded; None when there is none."""
        data = manufacturer_data.get(CORE_COMPANY_ID)
        return None if data is None else cls.decode(data)

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        version = reader.uint(1, "version")
        if version != CORE_ADVERTISEMENT_VERSION:
            raise reader.error(
                DecodeErrorKind.UNSUPPORTED_VERSION,
                f"manufacturer data version {version}; only {CORE_ADVERTISEMENT_VERSION} "
                "is defined",
                0,
            )
        return {
            "status": reader.uint(1, "status"),
            "core_temperature_c": reader.uint(2, "core_temperature_c") / 1000,
        }

    def _write(self, writer: Writer) -> None:
        writer.uint(1, CORE_ADVERTISEMENT_VERSION)
        writer.uint(1, self.status)
        writer.uint(2, round(self.core_temperature_c * 1000))
