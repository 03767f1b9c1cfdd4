"""The gateway's PMD session with one Polar sensor, as a pure state machine (no I/O, no clock).

It decides what to send to the control point and reads what comes back; `gateway/ble/pmd_link.py`
carries the bytes over bleak. The order follows the "Prerequisite" and "Start measurement"
sequence diagrams of the *Polar Measurement Data Specification for 3rd Party* (2021, pp. 7-10)
and the SDK's `BlePMDClient.kt`:

1. the ATT MTU is at least 232 (below it the sensor answers ERROR_INVALID_MTU to everything);
2. the feature read (a plain read of the control point, `PmdMeasurementType.fromByteArray`);
3. per stream: GET_MEASUREMENT_SETTINGS (`querySettings`), check the wanted selection against
   what is offered, REQUEST_MEASUREMENT_START with it (`startMeasurement`; PPI starts without
   settings and without a query), keeping the FACTOR of the start response;
4. on stop: STOP_MEASUREMENT for every started stream (`stopMeasurement`).

One command is outstanding at a time: the control point answers each write with one response,
possibly continued over several indications (`more`, joined by `assemble_response`). Every error
status is kept by name; none raises. The sensor's own stop notice (`01 types…`,
`PmdControlPointCommandServiceToClient.ONLINE_MEASUREMENT_STOPPED`) restarts those streams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from sensors import DecodeError
from sensors.pmd import (
    ControlPointOp,
    MeasurementType,
    PmdCommand,
    PmdFeatures,
    PmdMeasurementStopped,
    PmdResponse,
    PmdSettings,
    ResponseStatus,
    SettingType,
    assemble_response,
    decode_indication,
)
from sensors.pmd.opcodes import RESPONSE_CODE

# The smallest ATT MTU the sensors accept a command at (2021 spec p.7, "Exchange ATT MTU with
# minimum 232"; a real H10 answers `f0 00 01 0a` below it: phdiethelm/h10_ecg,
# exploration/gatttool.md).
MIN_PMD_MTU: Final = 232
# A stream the sensor stopped by itself is restarted at most this many times per session:
# a sensor that keeps stopping (in its charger, off the skin) is reported, not hammered.
MAX_RESTARTS_PER_STREAM: Final = 3
# Byte 4 of a response is `more` (PmdControlPointResponse.kt).
_MORE_AT: Final = 4


class SessionState(StrEnum):
    IDLE = "idle"
    READING_FEATURES = "reading_features"
    STARTING = "starting"  # querying settings and starting the streams, one command at a time
    STREAMING = "streaming"  # every stream that could start has; the others are in `failed`
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"  # the session cannot continue (MTU too small, no answer): reconnect


@dataclass(frozen=True, slots=True)
class WantedStream:
    """A stream to start and the settings to select (empty: a stream that takes none, PPI)."""

    measurement: MeasurementType
    selection: Mapping[SettingType, int]


@dataclass(frozen=True, slots=True)
class StartedStream:
    """A stream the sensor accepted: the settings selected and its FACTOR (None: none sent)."""

    measurement: MeasurementType
    selection: Mapping[SettingType, int]
    factor: float | None

    @property
    def sample_rate_hz(self) -> int | None:
        return self.selection.get(SettingType.SAMPLE_RATE)


@dataclass(frozen=True, slots=True)
class ReadFeatures:
    """Read the control point (the answer goes to `on_features`)."""


@dataclass(frozen=True, slots=True)
class WriteCommand:
    """Write this command to the control point; its response comes as indications."""

    command: PmdCommand


Action = ReadFeatures | WriteCommand


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the session refused or the sensor reported, to be logged once and counted."""

    measurement: MeasurementType | None
    # A response status by name (`error_invalid_mtu`), or the session's own word for the problem
    # (`not_offered`, `settings_not_offered`, `malformed_indication`, `unexpected_response`,
    # `no_answer`, `stopped_by_sensor`).
    reason: str
    detail: str


@dataclass
class PmdSession:
    """One connection's PMD conversation: feed it what the sensor says, send what it returns."""

    wanted: Sequence[WantedStream]
    state: SessionState = SessionState.IDLE
    started: dict[MeasurementType, StartedStream] = field(default_factory=dict)
    failed: dict[MeasurementType, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    offered: frozenset[MeasurementType] = frozenset()
    _queue: list[WantedStream] = field(default_factory=list)
    _pending: PmdCommand | None = None
    _parts: list[bytes] = field(default_factory=list)
    _restarts: Counter[MeasurementType] = field(default_factory=Counter)
    # While stopping: the streams still to stop, in order.
    _stopping: list[MeasurementType] = field(default_factory=list)

    # --- what the edge calls -------------------------------------------------------------------

    def begin(self, mtu: int) -> list[Action]:
        """Start on a fresh connection whose ATT MTU is `mtu`: the feature read, or nothing."""
        if mtu < MIN_PMD_MTU:
            self._problem(None, "mtu_too_small", f"ATT MTU {mtu} is below {MIN_PMD_MTU}")
            self.state = SessionState.FAILED
            return []
        self.state = SessionState.READING_FEATURES
        return [ReadFeatures()]

    def on_features(self, data: bytes) -> list[Action]:
        """The control point's read value: which streams the sensor offers."""
        if self.state is not SessionState.READING_FEATURES:
            return []
        try:
            features = PmdFeatures.decode(data)
        except DecodeError as exc:
            self._problem(None, "malformed_features", str(exc))
            self.state = SessionState.FAILED
            return []
        self.offered = frozenset(features.measurements)
        for stream in self.wanted:
            if stream.measurement in self.offered:
                self._queue.append(stream)
            else:
                self._fail(stream.measurement, "not_offered", "the sensor does not offer it")
        self.state = SessionState.STARTING
        return self._next()

    def on_indication(self, data: bytes) -> list[Action]:
        """One control-point indication: a (part of a) response, or the sensor's stop notice."""
        if self._parts and data[:1] == bytes([RESPONSE_CODE]):
            return self._continuation(bytes(data))
        try:
            message = decode_indication(data)
        except DecodeError as exc:
            self._problem(None, "malformed_indication", str(exc))
            return []
        if isinstance(message, PmdMeasurementStopped):
            return self._stopped_by_sensor(message)
        if message.more:
            self._parts.append(bytes(data))
            return []
        return self._answered(message)

    def _continuation(self, data: bytes) -> list[Action]:
        """A later part of a response sent with `more`: its parameters are a piece of a list
        and need not decode alone, so the parts are joined first (`assemble_response`)."""
        self._parts.append(data)
        if len(data) > _MORE_AT and data[_MORE_AT]:
            return []
        parts, self._parts = self._parts, []
        try:
            response = assemble_response(parts)
        except (DecodeError, ValueError) as exc:
            self._problem(None, "malformed_indication", str(exc))
            return self._answered(None)
        return self._answered(response)

    def on_no_answer(self) -> list[Action]:
        """The pending command got no response in time: the session is over (reconnect)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._problem(pending.measurement, "no_answer", f"no response to {pending.op}")
        self.state = SessionState.FAILED
        return []

    def stop(self) -> list[Action]:
        """Stop every started stream (on shutdown, roster removal, before a disconnect).

        A start still unanswered is stopped too: the wait for its answer was given up (a
        removal or a shutdown cancelled it), but the sensor may have started the stream, and
        an H10 streaming to nobody drains its battery."""
        pending, self._pending = self._pending, None
        self._queue.clear()
        self._stopping = list(self.started)
        if (
            pending is not None
            and pending.op is ControlPointOp.REQUEST_MEASUREMENT_START
            and pending.measurement is not None
            and pending.measurement not in self._stopping
        ):
            self._stopping.append(pending.measurement)
        if not self._stopping:
            self.state = SessionState.STOPPED
            return []
        self.state = SessionState.STOPPING
        return self._send(_stop(self._stopping[0]))

    def on_link_lost(self) -> None:
        """The link dropped: the sensor stops its online streams with it; nothing to send."""
        self._queue.clear()
        self._pending = None
        self._parts.clear()
        self.started.clear()
        self.state = SessionState.STOPPED

    @property
    def waiting(self) -> bool:
        """Whether a command is waiting for its response."""
        return self._pending is not None

    # --- inside ----------------------------------------------------------------------------

    def _answered(self, response: PmdResponse | None) -> list[Action]:
        pending = self._pending
        if response is not None and not _answers(response, pending):
            self._problem(response.measurement, "unexpected_response", f"{response.op}")
            return []
        self._pending = None
        if pending is None:
            return []
        if response is None:
            return self._after_error(pending, "malformed_indication")
        if response.status is not ResponseStatus.SUCCESS:
            return self._after_error(pending, response.status.value)
        return self._after_success(pending, response)

    def _after_success(self, command: PmdCommand, response: PmdResponse) -> list[Action]:
        measurement = command.measurement
        assert measurement is not None  # every command this session sends names one
        if command.op is ControlPointOp.GET_MEASUREMENT_SETTINGS:
            stream = self._current(measurement)
            missing = _not_offered(stream.selection, response.settings or PmdSettings())
            if missing:
                self._fail(measurement, "settings_not_offered", missing)
                return self._next()
            return self._send(_start(stream))
        if command.op is ControlPointOp.REQUEST_MEASUREMENT_START:
            stream = self._current(measurement)
            self._queue.remove(stream)
            self.started[measurement] = StartedStream(
                measurement, dict(stream.selection), response.factor
            )
            return self._next()
        # STOP_MEASUREMENT
        self.started.pop(measurement, None)
        return self._next_stop(measurement)

    def _after_error(self, command: PmdCommand, reason: str) -> list[Action]:
        measurement = command.measurement
        assert measurement is not None
        self._problem(measurement, reason, f"answer to {command.op}")
        if reason == ResponseStatus.ERROR_INVALID_MTU.value:
            # Nothing will work on this link: reconnect and exchange a larger MTU.
            self._queue.clear()
            self.state = SessionState.FAILED
            return []
        if command.op is ControlPointOp.STOP_MEASUREMENT:
            # ALREADY_IN_STATE: it was stopped already; any other error: it is no longer ours.
            self.started.pop(measurement, None)
            return self._next_stop(measurement)
        if (
            command.op is ControlPointOp.REQUEST_MEASUREMENT_START
            and reason == ResponseStatus.ERROR_ALREADY_IN_STATE.value
            and self._restarts[measurement] < MAX_RESTARTS_PER_STREAM
        ):
            # Left running by an earlier session: stop it, then start it with our settings
            # (the FACTOR comes only with a start response).
            self._restarts[measurement] += 1
            return self._send(_stop(measurement))
        self._queue[:] = [s for s in self._queue if s.measurement is not measurement]
        self.failed[measurement] = reason
        return self._next()

    def _stopped_by_sensor(self, notice: PmdMeasurementStopped) -> list[Action]:
        for measurement in notice.measurements:
            self._problem(measurement, "stopped_by_sensor", "the sensor stopped the stream")
            stream = self.started.pop(measurement, None)
            if stream is None or self.state in (SessionState.STOPPING, SessionState.STOPPED):
                continue
            if self._restarts[measurement] >= MAX_RESTARTS_PER_STREAM:
                self.failed[measurement] = "stopped_by_sensor"
                continue
            self._restarts[measurement] += 1
            self._queue.append(WantedStream(measurement, stream.selection))
        if self.state is SessionState.STREAMING and self._queue:
            self.state = SessionState.STARTING
        return [] if self._pending is not None else self._next()

    def _next(self) -> list[Action]:
        if self.state not in (SessionState.STARTING, SessionState.STREAMING):
            return []
        if self._pending is not None:
            return []
        if not self._queue:
            self.state = SessionState.STREAMING
            return []
        stream = self._queue[0]
        if not stream.selection:
            return self._send(_start(stream))
        return self._send(
            PmdCommand(op=ControlPointOp.GET_MEASUREMENT_SETTINGS, measurement=stream.measurement)
        )

    def _next_stop(self, stopped: MeasurementType) -> list[Action]:
        if self.state is not SessionState.STOPPING:
            # A stop sent to clear a stream left running: now start it.
            return self._restart_current()
        if stopped in self._stopping:
            self._stopping.remove(stopped)
        if not self._stopping:
            self.state = SessionState.STOPPED
            return []
        return self._send(_stop(self._stopping[0]))

    def _restart_current(self) -> list[Action]:
        if not self._queue:
            return self._next()
        return self._send(_start(self._queue[0]))

    def _send(self, command: PmdCommand) -> list[Action]:
        self._pending = command
        return [WriteCommand(command)]

    def _current(self, measurement: MeasurementType) -> WantedStream:
        # A response matched the pending command, which was sent for this queued stream.
        return next(s for s in self._queue if s.measurement is measurement)

    def _fail(self, measurement: MeasurementType, reason: str, detail: str) -> None:
        self._queue[:] = [s for s in self._queue if s.measurement is not measurement]
        self.failed[measurement] = reason
        self._problem(measurement, reason, detail)

    def _problem(self, measurement: MeasurementType | None, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        self.problems.append(Problem(measurement, reason, detail))


def _answers(response: PmdResponse, pending: PmdCommand | None) -> bool:
    """Whether `response` answers the pending command. An INVALID_MTU answer need not name
    its op (a real H10 sends `f0 00 01 0a`): it answers whatever was sent."""
    if pending is None:
        return False
    if response.status is ResponseStatus.ERROR_INVALID_MTU:
        return True
    return response.op is pending.op and response.measurement is pending.measurement


def _start(stream: WantedStream) -> PmdCommand:
    return PmdCommand(
        op=ControlPointOp.REQUEST_MEASUREMENT_START,
        measurement=stream.measurement,
        settings=PmdSettings.choose(stream.selection) if stream.selection else None,
    )


def _stop(measurement: MeasurementType) -> PmdCommand:
    return PmdCommand(op=ControlPointOp.STOP_MEASUREMENT, measurement=measurement)


def _not_offered(selection: Mapping[SettingType, int], offered: PmdSettings) -> str:
    """What of `selection` the settings response does not offer ("" when all of it is)."""
    missing = [
        f"{kind} {value} (offered: {', '.join(str(v) for v in offered.get(kind)) or 'none'})"
        for kind, value in selection.items()
        if value not in offered.get(kind)
    ]
    return "; ".join(missing)
