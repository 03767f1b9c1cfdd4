"""Control-point commands, client to sensor: get settings, start with chosen settings, stop, ...

Layout from the SDK's `BlePMDClient.kt` (`sendControlPointCommand`, `querySettings`,
`startMeasurement`, `stopMeasurement`, `startSDKMode`): the op code, then for most ops the type
byte `(recordingType << 7) | measurementType`, then for a start the selected settings, one value
each (`PmdSetting.serializeSelected`, which never sends FACTOR).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, field_validator, model_validator

from sensors.characteristic import Characteristic
from sensors.pmd.gatt import PMD_CONTROL_POINT_UUID
from sensors.pmd.measurement import (
    MeasurementType,
    RecordingType,
    measurement_byte,
    read_measurement_byte,
)
from sensors.pmd.opcodes import COMMAND_PARAMETERS, OP_CODES, ControlPointOp, Parameters, read_op
from sensors.pmd.settings import PmdSettings, SettingType
from sensors.wire import Reader, Writer

_WITH_MEASUREMENT = frozenset({Parameters.MEASUREMENT, Parameters.MEASUREMENT_AND_SETTINGS})


class PmdCommand(Characteristic):
    """One command the client writes to the control point; the sensor answers with a response.

    `measurement` and `recording` for ops that name a stream; `settings` (one value each) for
    REQUEST_MEASUREMENT_START when it selects any (PPI and SDK mode start without); `parameters`
    holds the offline-trigger ops' bytes, which this library does not interpret.
    """

    UUID = PMD_CONTROL_POINT_UUID
    NAME = "PMD Control Point command (fb005c81)"
    model_config = ConfigDict(ser_json_bytes="hex", val_json_bytes="hex")

    message: Literal["command"] = "command"
    op: ControlPointOp
    measurement: MeasurementType | None = None
    recording: RecordingType = RecordingType.ONLINE
    settings: PmdSettings | None = None
    parameters: bytes = b""

    @field_validator("settings", mode="after")
    @classmethod
    def _a_selection(cls, settings: PmdSettings | None) -> PmdSettings | None:
        # Only a start request carries settings (checked below, with the op).
        if settings is None:
            return None
        if not settings.root:
            raise ValueError("give settings=None rather than an empty list")
        if not settings.is_selection:
            raise ValueError("a start request selects exactly one value per setting")
        if SettingType.FACTOR in settings.root:
            raise ValueError("the sensor reports FACTOR; a start request does not send it")
        return settings

    @model_validator(mode="after")
    def _fields_match_the_op(self) -> Self:
        shape = COMMAND_PARAMETERS[self.op]
        named = shape in _WITH_MEASUREMENT
        if (self.measurement is not None) != named:
            raise ValueError(f"{self.op} {'needs a' if named else 'takes no'} measurement")
        if self.measurement is None and self.recording is not RecordingType.ONLINE:
            raise ValueError("a recording type needs a measurement")
        if self.settings is not None and shape is not Parameters.MEASUREMENT_AND_SETTINGS:
            raise ValueError(f"{self.op} takes no settings")
        if self.parameters and shape is not Parameters.OPAQUE:
            raise ValueError(f"{self.op} takes no opaque parameters")
        return self

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        op = read_op(reader)
        shape = COMMAND_PARAMETERS[op]
        values: dict[str, Any] = {"op": op}
        if shape in _WITH_MEASUREMENT:
            values["measurement"], values["recording"] = read_measurement_byte(
                reader, "measurement"
            )
        if shape is Parameters.MEASUREMENT_AND_SETTINGS and reader.remaining:
            values["settings"] = PmdSettings.read(reader)
        if shape is Parameters.OPAQUE:
            values["parameters"] = reader.rest("parameters")
        return values

    def _write(self, writer: Writer) -> None:
        writer.uint(1, OP_CODES[self.op])
        if self.measurement is not None:
            writer.uint(1, measurement_byte(self.measurement, self.recording))
        if self.settings is not None:
            self.settings.write(writer)
        writer.raw(self.parameters)
