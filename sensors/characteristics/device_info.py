"""Device Information service strings (GSS 0x2A24-0x2A29): UTF-8 text, one type per UUID."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import AfterValidator

from sensors.characteristic import Characteristic
from sensors.errors import DecodeErrorKind
from sensors.uuids import sig_uuid
from sensors.wire import Reader, Writer

# ATT caps an attribute value at 512 bytes (Core 5.4 Vol 3 Part F 3.2.9).
MAX_TEXT_BYTES: Final = 512


def _check_text(text: str) -> str:
    if "\x00" in text:
        raise ValueError(f"NUL at character {text.index(chr(0))}")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise ValueError(f"longer than {MAX_TEXT_BYTES} bytes of UTF-8")
    return text


DeviceText = Annotated[str, AfterValidator(_check_text)]


class DeviceInformationText(Characteristic):
    """A Device Information string. Trailing NULs, which some firmware pads with, are dropped."""

    text: DeviceText

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        data = reader.rest("text")
        try:
            text = data.rstrip(b"\x00").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise reader.error(
                DecodeErrorKind.INVALID_TEXT, f"not UTF-8: {exc.reason}", exc.start
            ) from None
        if "\x00" in text:
            # A NUL inside the text (not padding) means a garbled buffer, not a string.
            raise reader.error(DecodeErrorKind.INVALID_TEXT, "NUL inside the text", data.index(0))
        return {"text": text}

    def _write(self, writer: Writer) -> None:
        writer.raw(self.text.encode("utf-8"))


class ModelNumber(DeviceInformationText):
    UUID = sig_uuid(0x2A24)
    NAME = "Model Number String (0x2A24)"


class SerialNumber(DeviceInformationText):
    UUID = sig_uuid(0x2A25)
    NAME = "Serial Number String (0x2A25)"


class FirmwareRevision(DeviceInformationText):
    UUID = sig_uuid(0x2A26)
    NAME = "Firmware Revision String (0x2A26)"


class HardwareRevision(DeviceInformationText):
    UUID = sig_uuid(0x2A27)
    NAME = "Hardware Revision String (0x2A27)"


class SoftwareRevision(DeviceInformationText):
    UUID = sig_uuid(0x2A28)
    NAME = "Software Revision String (0x2A28)"


class ManufacturerName(DeviceInformationText):
    UUID = sig_uuid(0x2A29)
    NAME = "Manufacturer Name String (0x2A29)"


DEVICE_INFORMATION_TYPES: Final = (
    ManufacturerName,
    ModelNumber,
    SerialNumber,
    HardwareRevision,
    FirmwareRevision,
    SoftwareRevision,
)
