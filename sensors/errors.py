"""The one error type that decoding raises, so callers never see IndexError or struct.error."""

from __future__ import annotations

from enum import StrEnum


class DecodeErrorKind(StrEnum):
    """Why a payload was refused; stable names that metrics and logs can group by."""

    TOO_SHORT = "too_short"
    TRAILING_BYTES = "trailing_bytes"
    RESERVED_FLAGS = "reserved_flags"
    RESERVED_VALUE = "reserved_value"
    OUT_OF_RANGE = "out_of_range"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_TEXT = "invalid_text"
    UNKNOWN_CHARACTERISTIC = "unknown_characteristic"
    UNKNOWN_MEASUREMENT_TYPE = "unknown_measurement_type"
    UNKNOWN_FRAME_TYPE = "unknown_frame_type"
    INVALID_BIT_WIDTH = "invalid_bit_width"
    REPEATED_SETTING = "repeated_setting"


class DecodeError(ValueError):
    """A payload that does not follow its characteristic's specification.

    The message names the characteristic and, where one applies, the byte offset, so a technician
    reading a log line knows which device sent what and where it went wrong.
    """

    def __init__(
        self,
        kind: DecodeErrorKind,
        characteristic: str,
        detail: str,
        offset: int | None = None,
    ) -> None:
        self.kind = kind
        self.characteristic = characteristic
        self.detail = detail
        self.offset = offset
        where = f" at byte offset {offset}" if offset is not None else ""
        super().__init__(f"{characteristic}: {detail}{where} ({kind.value})")
