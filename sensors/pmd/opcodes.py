"""Control-point codes as tables: operations, what each carries, and response statuses.

Operations from the SDK's `PmdControlPointCommand.kt` (`PmdControlPointCommandClientToService`);
statuses from `PmdControlPointResponse.kt` (`PmdControlPointResponseCode`), which match the
"Control Point Error Codes" table of the 2021 specification (0-13) and add DISK_FULL (14).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Final

from sensors.errors import DecodeErrorKind
from sensors.wire import Reader

# First byte of a control-point value, by what the value is (PmdMeasurementType.fromByteArray,
# PmdControlPointResponse.CONTROL_POINT_RESPONSE_CODE, PmdControlPointCommandServiceToClient).
FEATURE_READ_CODE: Final = 0x0F
RESPONSE_CODE: Final = 0xF0
MEASUREMENT_STOPPED_CODE: Final = 0x01


class ControlPointOp(StrEnum):
    # The SDK's NULL_ITEM: a real H10 names it in its INVALID_MTU response (`f0 00 01 0a`,
    # phdiethelm/h10_ecg exploration/gatttool.md).
    NULL_ITEM = "null_item"
    GET_MEASUREMENT_SETTINGS = "get_measurement_settings"
    REQUEST_MEASUREMENT_START = "request_measurement_start"
    STOP_MEASUREMENT = "stop_measurement"
    GET_SDK_MODE_MEASUREMENT_SETTINGS = "get_sdk_mode_measurement_settings"
    GET_MEASUREMENT_STATUS = "get_measurement_status"
    GET_SDK_MODE_STATUS = "get_sdk_mode_status"
    GET_OFFLINE_RECORDING_TRIGGER_STATUS = "get_offline_recording_trigger_status"
    SET_OFFLINE_RECORDING_TRIGGER_MODE = "set_offline_recording_trigger_mode"
    SET_OFFLINE_RECORDING_TRIGGER_SETTINGS = "set_offline_recording_trigger_settings"


OP_CODES: Final[Mapping[ControlPointOp, int]] = MappingProxyType(
    {op: code for code, op in enumerate(ControlPointOp)}
)
OPS: Final[Mapping[int, ControlPointOp]] = MappingProxyType(dict(enumerate(ControlPointOp)))


class Parameters(Enum):
    """What follows the op code in a command the client writes (BlePMDClient.kt)."""

    NONE = "none"
    MEASUREMENT = "measurement"  # the type byte
    MEASUREMENT_AND_SETTINGS = "measurement_and_settings"  # the type byte, then one value each
    # Offline-trigger layouts (PmdOfflineTrigger.kt) that this library carries as bytes.
    OPAQUE = "opaque"


COMMAND_PARAMETERS: Final[Mapping[ControlPointOp, Parameters]] = MappingProxyType(
    {
        ControlPointOp.NULL_ITEM: Parameters.NONE,
        ControlPointOp.GET_MEASUREMENT_SETTINGS: Parameters.MEASUREMENT,
        ControlPointOp.REQUEST_MEASUREMENT_START: Parameters.MEASUREMENT_AND_SETTINGS,
        ControlPointOp.STOP_MEASUREMENT: Parameters.MEASUREMENT,
        ControlPointOp.GET_SDK_MODE_MEASUREMENT_SETTINGS: Parameters.MEASUREMENT,
        ControlPointOp.GET_MEASUREMENT_STATUS: Parameters.NONE,
        ControlPointOp.GET_SDK_MODE_STATUS: Parameters.NONE,
        ControlPointOp.GET_OFFLINE_RECORDING_TRIGGER_STATUS: Parameters.NONE,
        ControlPointOp.SET_OFFLINE_RECORDING_TRIGGER_MODE: Parameters.OPAQUE,
        ControlPointOp.SET_OFFLINE_RECORDING_TRIGGER_SETTINGS: Parameters.OPAQUE,
    }
)

# Responses whose parameters are a settings list (querySettings, queryFullSettings,
# startMeasurement's updateSelectedFromStartResponse).
SETTINGS_RESPONSES: Final = frozenset(
    {
        ControlPointOp.GET_MEASUREMENT_SETTINGS,
        ControlPointOp.GET_SDK_MODE_MEASUREMENT_SETTINGS,
        ControlPointOp.REQUEST_MEASUREMENT_START,
    }
)


class ResponseStatus(StrEnum):
    SUCCESS = "success"
    ERROR_INVALID_OP_CODE = "error_invalid_op_code"
    ERROR_INVALID_MEASUREMENT_TYPE = "error_invalid_measurement_type"
    ERROR_NOT_SUPPORTED = "error_not_supported"
    ERROR_INVALID_LENGTH = "error_invalid_length"
    ERROR_INVALID_PARAMETER = "error_invalid_parameter"
    ERROR_ALREADY_IN_STATE = "error_already_in_state"
    ERROR_INVALID_RESOLUTION = "error_invalid_resolution"
    ERROR_INVALID_SAMPLE_RATE = "error_invalid_sample_rate"
    ERROR_INVALID_RANGE = "error_invalid_range"
    # The H10 answers this while the ATT MTU is below 232 (README of the reference notes, 1.2).
    ERROR_INVALID_MTU = "error_invalid_mtu"
    ERROR_INVALID_NUMBER_OF_CHANNELS = "error_invalid_number_of_channels"
    ERROR_INVALID_STATE = "error_invalid_state"
    ERROR_DEVICE_IN_CHARGER = "error_device_in_charger"
    ERROR_DISK_FULL = "error_disk_full"


# Codes 0-14 in declaration order; 15-255 are "Reserved for Future Usage".
STATUS_CODES: Final[Mapping[ResponseStatus, int]] = MappingProxyType(
    {status: code for code, status in enumerate(ResponseStatus)}
)
STATUSES: Final[Mapping[int, ResponseStatus]] = MappingProxyType(dict(enumerate(ResponseStatus)))


def read_op(reader: Reader, field: str = "op") -> ControlPointOp:
    at = reader.position
    code = reader.uint(1, field)
    op = OPS.get(code)
    if op is None:
        raise reader.error(
            DecodeErrorKind.RESERVED_VALUE, f"control point op code 0x{code:02X} is not defined", at
        )
    return op


def read_status(reader: Reader) -> ResponseStatus:
    at = reader.position
    code = reader.uint(1, "status")
    status = STATUSES.get(code)
    if status is None:
        raise reader.error(
            DecodeErrorKind.RESERVED_VALUE, f"response status {code} is reserved", at
        )
    return status
