"""What the sensor indicates on the control point: command responses and its own stops.

Response layout from the SDK's `PmdControlPointResponse.kt`: `F0, op, type byte, status, more,
parameters...`. `more` and the parameters are read only on SUCCESS; a real H10 sends an error
as four bytes (`f0 00 01 0a`, phdiethelm/h10_ecg exploration/gatttool.md), so byte 4 may be
absent. When `more` is set, further indications follow and the SDK appends bytes 5.. of each to
the parameters (`BlePMDClient.sendPmdCommand`); `assemble_response` does the same.

The unsolicited `01 type...` (`PmdControlPointCommandServiceToClient.ONLINE_MEASUREMENT_STOPPED`)
tells the client the sensor stopped those streams itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self

from pydantic import ConfigDict, model_validator

from sensors.characteristic import Characteristic
from sensors.errors import DecodeErrorKind
from sensors.pmd.gatt import PMD_CONTROL_POINT_UUID
from sensors.pmd.measurement import (
    MEASUREMENT_CODES,
    MeasurementType,
    RecordingType,
    measurement_byte,
    read_measurement_byte,
    read_measurement_code,
)
from sensors.pmd.opcodes import (
    MEASUREMENT_STOPPED_CODE,
    OP_CODES,
    RESPONSE_CODE,
    SETTINGS_RESPONSES,
    STATUS_CODES,
    ControlPointOp,
    ResponseStatus,
    read_op,
    read_status,
)
from sensors.pmd.settings import PmdSettings
from sensors.wire import Reader, Writer

# A parameter block of one byte is not a settings list: the SDK skips it (`PmdSetting` parses
# nothing from `size <= 1`), and real start responses carry one such byte (H10 ECG `f0 02 00 00
# 00 00`, H10 ACC `F0 02 02 00 00 01`).
_SHORTEST_SETTINGS = 2


def _carries_settings(
    op: ControlPointOp, status: ResponseStatus, more: bool, parameter_bytes: int
) -> bool:
    """Whether a response's parameters are read as a settings list (the rule, stated once)."""
    return (
        status is ResponseStatus.SUCCESS
        and op in SETTINGS_RESPONSES
        and not more
        and parameter_bytes >= _SHORTEST_SETTINGS
    )


class PmdResponse(Characteristic):
    """The sensor's answer to one command: its status by name and, for settings, what it offers.

    `settings` holds the offered values of a settings response, or the start response's FACTOR;
    `parameters` holds what is not a settings list: other ops' answers, the one-byte trailer of
    a start response, and the part-lists of a response continued with `more`.
    """

    UUID = PMD_CONTROL_POINT_UUID
    NAME = "PMD Control Point response (fb005c81)"
    model_config = ConfigDict(ser_json_bytes="hex", val_json_bytes="hex")

    message: Literal["response"] = "response"
    op: ControlPointOp
    measurement: MeasurementType
    recording: RecordingType = RecordingType.ONLINE
    status: ResponseStatus
    more: bool = False
    settings: PmdSettings | None = None
    parameters: bytes = b""

    @model_validator(mode="after")
    def _one_reading_of_the_parameters(self) -> Self:
        if self.status is not ResponseStatus.SUCCESS and (
            self.more or self.settings is not None or self.parameters
        ):
            raise ValueError("an error response carries no parameters and no continuation")
        if self.settings is not None:
            if self.parameters:
                raise ValueError("give settings or parameters, not both")
            if not self.settings.root or not _carries_settings(
                self.op, self.status, self.more, len(self.settings.encode())
            ):
                raise ValueError(f"a {self.op} response with more={self.more} has no settings")
        elif _carries_settings(self.op, self.status, self.more, len(self.parameters)):
            raise ValueError(f"these parameters are a settings list: give settings= for {self.op}")
        return self

    @property
    def factor(self) -> float | None:
        """The FACTOR a start response reports, None when there is none (then 1.0 in the SDK)."""
        return None if self.settings is None else self.settings.factor

    @classmethod
    def with_parameters(
        cls,
        op: ControlPointOp,
        measurement: MeasurementType,
        status: ResponseStatus,
        parameters: bytes,
        *,
        recording: RecordingType = RecordingType.ONLINE,
        more: bool = False,
    ) -> Self:
        """A response from raw parameter bytes, read as settings where the protocol says so."""
        reader = Reader(parameters, cls.NAME)
        values = _parameter_fields(reader, op, status, more)
        reader.finish()
        return cls(
            op=op,
            measurement=measurement,
            recording=recording,
            status=status,
            more=more,
            **values,
        )

    def parameter_bytes(self) -> bytes:
        """The bytes after the `more` byte, as sent."""
        return self.settings.encode() if self.settings is not None else self.parameters

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        head = _read_head(reader)
        if head["status"] is not ResponseStatus.SUCCESS:
            # The SDK reads neither `more` nor parameters after an error.
            reader.rest("ignored after an error status")
            return head
        return {**head, **_parameter_fields(reader, head["op"], head["status"], head["more"])}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, RESPONSE_CODE)
        writer.uint(1, OP_CODES[self.op])
        writer.uint(1, measurement_byte(self.measurement, self.recording))
        writer.uint(1, STATUS_CODES[self.status])
        if self.status is ResponseStatus.SUCCESS:
            writer.uint(1, int(self.more))
            writer.raw(self.parameter_bytes())


def _read_head(reader: Reader) -> dict[str, Any]:
    """Bytes 0-4: the response code, op, type byte, status and, after a success, `more`."""
    code = reader.uint(1, "message")
    if code != RESPONSE_CODE:
        raise reader.error(
            DecodeErrorKind.RESERVED_VALUE,
            f"a response starts with 0x{RESPONSE_CODE:02X}, not 0x{code:02X}",
            0,
        )
    op = read_op(reader)
    measurement, recording = read_measurement_byte(reader, "measurement")
    status = read_status(reader)
    success = status is ResponseStatus.SUCCESS
    more = bool(reader.uint(1, "more")) if success and reader.remaining else False
    return {
        "op": op,
        "measurement": measurement,
        "recording": recording,
        "status": status,
        "more": more,
    }


def _parameter_fields(
    reader: Reader, op: ControlPointOp, status: ResponseStatus, more: bool
) -> dict[str, Any]:
    if _carries_settings(op, status, more, reader.remaining):
        return {"settings": PmdSettings.read(reader)}
    return {"parameters": reader.rest("parameters")}


def assemble_response(indications: Sequence[bytes | bytearray | memoryview]) -> PmdResponse:
    """One response from the indications of a response continued with `more`, as received.

    Takes bytes, not decoded responses: a continuation's parameters are a piece of a settings
    list and need not decode alone. Raises DecodeError for a malformed part or joined list
    (offsets in the joined list count from its first byte); ValueError when the parts do not
    form one response (op or measurement differ, an error status, `more` set on the last part
    or clear before it).
    """
    if not indications:
        raise ValueError("no response parts")
    heads = []
    chunks = []
    for data in indications:
        reader = Reader(bytes(data), PmdResponse.NAME)
        heads.append(_read_head(reader))
        chunks.append(reader.rest("parameters"))
    first = heads[0]
    if any(
        (head["op"], head["measurement"], head["recording"], head["status"])
        != (first["op"], first["measurement"], first["recording"], ResponseStatus.SUCCESS)
        for head in heads
    ):
        raise ValueError("response parts differ in op or measurement, or report an error")
    if any(not head["more"] for head in heads[:-1]) or heads[-1]["more"]:
        raise ValueError("every part but the last has more=True")
    return PmdResponse.with_parameters(
        first["op"],
        first["measurement"],
        ResponseStatus.SUCCESS,
        b"".join(chunks),
        recording=first["recording"],
    )


class PmdMeasurementStopped(Characteristic):
    """The sensor stopped these streams by itself (`01 type...`, indicated without a command).

    The gateway must notice: the stream will not resume until it is started again.
    """

    UUID = PMD_CONTROL_POINT_UUID
    NAME = "PMD Control Point measurement stopped (fb005c81)"

    message: Literal["measurement_stopped"] = "measurement_stopped"
    # The SDK accepts `01` alone ("process measurement stop control point command from service
    # no content", BlePmdClientTest.kt), so an empty list decodes too.
    measurements: tuple[MeasurementType, ...] = ()

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        code = reader.uint(1, "message")
        if code != MEASUREMENT_STOPPED_CODE:
            raise reader.error(
                DecodeErrorKind.RESERVED_VALUE,
                f"a stop notice starts with 0x{MEASUREMENT_STOPPED_CODE:02X}, not 0x{code:02X}",
                0,
            )
        stopped = []
        while reader.remaining:
            stopped.append(read_measurement_code(reader, "measurements")[0])
        return {"measurements": tuple(stopped)}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, MEASUREMENT_STOPPED_CODE)
        for measurement in self.measurements:
            writer.uint(1, MEASUREMENT_CODES[measurement])
