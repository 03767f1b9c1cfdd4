"""Polar Measurement Data (PMD): the Polar H10 and Verity Sense streaming protocol, as codecs.

Every behaviour follows Polar's public documents and the SDK's Kotlin client (polar-ble-sdk,
`BlePMDClient.kt` and its models); each module names its source. docs/pmd.md summarises them.

- `PmdDataFrame` decodes a data notification from its bytes alone and is in the UUID table.
- The control point carries four kinds of value; which one depends on how it travelled, so its
  types are used directly (`PmdFeatures`, `PmdCommand`, `decode_indication`) or through
  `decode_control_point` for a capture whose direction is unknown.
"""

from sensors.pmd.commands import PmdCommand
from sensors.pmd.control_point import (
    PmdControlPointMessage,
    PmdIndication,
    decode_control_point,
    decode_indication,
)
from sensors.pmd.delta import (
    DeltaBlock,
    decode_delta_samples,
    encode_delta_samples,
    plan_delta_blocks,
    write_delta_blocks,
)
from sensors.pmd.features import PmdFeatures
from sensors.pmd.frame import PmdDataFrame, PpiSample
from sensors.pmd.gatt import PMD_CONTROL_POINT_UUID, PMD_DATA_UUID, PMD_SERVICE_UUID
from sensors.pmd.layouts import DATA_MEASUREMENTS, FRAME_LAYOUTS, FrameLayout
from sensors.pmd.measurement import MEASUREMENT_CODES, MeasurementType, RecordingType
from sensors.pmd.opcodes import OP_CODES, STATUS_CODES, ControlPointOp, ResponseStatus
from sensors.pmd.responses import PmdMeasurementStopped, PmdResponse, assemble_response
from sensors.pmd.settings import SETTING_FIELDS, PmdSettings, SettingType

__all__ = [
    "DATA_MEASUREMENTS",
    "FRAME_LAYOUTS",
    "MEASUREMENT_CODES",
    "OP_CODES",
    "PMD_CONTROL_POINT_UUID",
    "PMD_DATA_UUID",
    "PMD_SERVICE_UUID",
    "SETTING_FIELDS",
    "STATUS_CODES",
    "ControlPointOp",
    "DeltaBlock",
    "FrameLayout",
    "MeasurementType",
    "PmdCommand",
    "PmdControlPointMessage",
    "PmdDataFrame",
    "PmdFeatures",
    "PmdIndication",
    "PmdMeasurementStopped",
    "PmdResponse",
    "PmdSettings",
    "PpiSample",
    "RecordingType",
    "ResponseStatus",
    "SettingType",
    "assemble_response",
    "decode_control_point",
    "decode_delta_samples",
    "decode_indication",
    "encode_delta_samples",
    "plan_delta_blocks",
    "write_delta_blocks",
]
