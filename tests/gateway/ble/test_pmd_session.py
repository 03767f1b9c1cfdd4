"""The PMD session state machine, without sockets: every status, every ordering.

Byte vectors are the real exchanges of the 2021 PMD specification's diagrams (pp. 9-10) and a
real H10 (phdiethelm/h10_ecg exploration/gatttool.md), as quoted in the reference notes 1.4.
"""

from __future__ import annotations

import pytest

from gateway.ble.pmd_session import (
    MAX_RESTARTS_PER_STREAM,
    MIN_PMD_MTU,
    PmdSession,
    ReadFeatures,
    SessionState,
    WantedStream,
    WriteCommand,
)
from sensors.pmd import (
    ControlPointOp,
    MeasurementType,
    PmdCommand,
    PmdFeatures,
    PmdMeasurementStopped,
    PmdResponse,
    ResponseStatus,
    SettingType,
)

ACC = MeasurementType.ACC
ECG = MeasurementType.ECG
PPI = MeasurementType.PPI
# A real H10's feature read: ECG and ACC.
H10_FEATURES = bytes.fromhex("0f05000000000000000000000000000000")
# The spec's Verity: PPG, ACC, PPI, GYRO, MAG.
VERITY_FEATURES = bytes.fromhex("0f6e00")
H10_ACC_SETTINGS = bytes.fromhex(
    "f001020000000419003200640 0c800".replace(" ", "") + "010110000203020004000800"
)
H10_ACC_START_OK = bytes.fromhex("f00202000001")
H10_ECG_SETTINGS = bytes.fromhex("f00100000000018200010 10e00".replace(" ", ""))
H10_ECG_START_OK = bytes.fromhex("f00200000000")
VERITY_ACC_SETTINGS = bytes.fromhex("f0010200000001340001011000020108000401 03".replace(" ", ""))
VERITY_ACC_START_OK = bytes.fromhex("f0020200000501 40da7f39".replace(" ", ""))
H10_INVALID_MTU = bytes.fromhex("f001000a")

H10_ACC = WantedStream(
    ACC, {SettingType.SAMPLE_RATE: 200, SettingType.RANGE: 8, SettingType.RESOLUTION: 16}
)
H10_ECG = WantedStream(ECG, {SettingType.SAMPLE_RATE: 130, SettingType.RESOLUTION: 14})
VERITY_ACC = WantedStream(
    ACC,
    {
        SettingType.SAMPLE_RATE: 52,
        SettingType.RESOLUTION: 16,
        SettingType.RANGE: 8,
        SettingType.CHANNELS: 3,
    },
)
VERITY_PPI = WantedStream(PPI, {})


def written(actions: list[ReadFeatures | WriteCommand]) -> bytes:
    (action,) = actions
    assert isinstance(action, WriteCommand)
    return action.command.encode()


def started_h10(*wanted: WantedStream) -> PmdSession:
    session = PmdSession(wanted or (H10_ACC,))
    assert session.begin(MIN_PMD_MTU) == [ReadFeatures()]
    actions = session.on_features(H10_FEATURES)
    for stream in wanted or (H10_ACC,):
        assert written(actions) == bytes([0x01, 2 if stream.measurement is ACC else 0])
        settings, ok = (
            (H10_ACC_SETTINGS, H10_ACC_START_OK)
            if stream.measurement is ACC
            else (H10_ECG_SETTINGS, H10_ECG_START_OK)
        )
        written(session.on_indication(settings))
        actions = session.on_indication(ok)
    assert actions == []
    assert session.state is SessionState.STREAMING
    return session


def test_the_h10_handshake_sends_the_documented_bytes() -> None:
    session = PmdSession((H10_ACC,))
    assert session.begin(247) == [ReadFeatures()]
    assert written(session.on_features(H10_FEATURES)) == bytes.fromhex("0102")
    # 2021 spec p.9: start ACC at 200 Hz, 8 g, 16 bit (our settings in our order).
    start = written(session.on_indication(H10_ACC_SETTINGS))
    assert PmdCommand.decode(start) == PmdCommand.decode(
        bytes.fromhex("02020201080000 01c80001011000".replace(" ", ""))
    )
    assert session.on_indication(H10_ACC_START_OK) == []
    assert session.state is SessionState.STREAMING
    assert session.started[ACC].sample_rate_hz == 200
    assert session.started[ACC].factor is None
    assert not session.problems


def test_the_h10_ecg_start_is_the_real_capture() -> None:
    session = PmdSession((H10_ECG,))
    session.begin(232)
    session.on_features(H10_FEATURES)
    assert written(session.on_indication(H10_ECG_SETTINGS)) == bytes.fromhex(
        "0200000182000101 0e00".replace(" ", "")
    )
    session.on_indication(H10_ECG_START_OK)
    assert ECG in session.started


def test_the_verity_keeps_its_factor_and_starts_ppi_without_a_query() -> None:
    session = PmdSession((VERITY_ACC, VERITY_PPI))
    session.begin(247)
    session.on_features(VERITY_FEATURES)
    assert written(session.on_indication(VERITY_ACC_SETTINGS)) == bytes.fromhex(
        "0202 00013400 01011000 02010800 040103".replace(" ", "")
    )
    assert written(session.on_indication(VERITY_ACC_START_OK)) == bytes.fromhex("0203")
    assert session.on_indication(bytes.fromhex("f00203000000")) == []
    assert session.started[ACC].factor == pytest.approx(0.000244, rel=1e-3)
    assert set(session.started) == {ACC, PPI}


def test_below_the_minimum_mtu_nothing_is_sent() -> None:
    session = PmdSession((H10_ACC,))
    assert session.begin(MIN_PMD_MTU - 1) == []
    assert session.state is SessionState.FAILED
    assert session.counts["mtu_too_small"] == 1


def test_an_invalid_mtu_answer_fails_the_session_by_name() -> None:
    session = PmdSession((H10_ACC,))
    session.begin(247)
    session.on_features(H10_FEATURES)
    assert session.on_indication(H10_INVALID_MTU) == []
    assert session.state is SessionState.FAILED
    assert session.counts["error_invalid_mtu"] == 1
    assert not session.waiting


ERRORS = [s for s in ResponseStatus if s is not ResponseStatus.SUCCESS]


@pytest.mark.parametrize("status", ERRORS)
@pytest.mark.parametrize(
    "op", [ControlPointOp.GET_MEASUREMENT_SETTINGS, ControlPointOp.REQUEST_MEASUREMENT_START]
)
def test_every_error_status_is_reported_by_name_and_never_raises(
    status: ResponseStatus, op: ControlPointOp
) -> None:
    session = PmdSession((H10_ACC, H10_ECG))
    session.begin(247)
    session.on_features(H10_FEATURES)
    if op is ControlPointOp.REQUEST_MEASUREMENT_START:
        session.on_indication(H10_ACC_SETTINGS)
    error = PmdResponse(op=op, measurement=ACC, status=status).encode()
    actions = session.on_indication(error)
    assert session.counts[status.value] == 1
    assert session.problems[-1].reason == status.value
    if status is ResponseStatus.ERROR_INVALID_MTU:
        assert session.state is SessionState.FAILED
        assert actions == []
    elif status is ResponseStatus.ERROR_ALREADY_IN_STATE and op is not (
        ControlPointOp.GET_MEASUREMENT_SETTINGS
    ):
        # Left running by an earlier session: stopped, then started with our settings.
        assert written(actions) == bytes.fromhex("0302")
        assert written(session.on_indication(bytes.fromhex("f00302000000")))[0] == 0x02
    else:
        # ACC failed by name; ECG goes on.
        assert session.failed[ACC] == status.value
        assert written(actions) == bytes.fromhex("0100")


def test_a_selection_the_sensor_does_not_offer_is_not_sent() -> None:
    wanted = WantedStream(ACC, {SettingType.SAMPLE_RATE: 52, SettingType.RANGE: 8})
    session = PmdSession((wanted,))
    session.begin(247)
    session.on_features(H10_FEATURES)
    assert session.on_indication(H10_ACC_SETTINGS) == []
    assert session.failed[ACC] == "settings_not_offered"
    assert "sample_rate 52 (offered: 25, 50, 100, 200)" in session.problems[-1].detail
    assert session.state is SessionState.STREAMING  # with nothing started


def test_a_stream_the_sensor_does_not_offer_is_skipped() -> None:
    session = PmdSession((VERITY_PPI, H10_ACC))
    session.begin(247)
    assert written(session.on_features(H10_FEATURES)) == bytes.fromhex("0102")
    assert session.failed[PPI] == "not_offered"


def test_stop_stops_every_started_stream_in_turn() -> None:
    session = started_h10(H10_ACC, H10_ECG)
    assert written(session.stop()) == bytes.fromhex("0302")
    assert written(session.on_indication(bytes.fromhex("f00302000000"))) == bytes.fromhex("0300")
    # ALREADY_IN_STATE on a stop: stopped already, which is what was asked.
    assert session.on_indication(bytes.fromhex("f0030006")) == []
    assert session.state is SessionState.STOPPED
    assert not session.started


def test_stop_before_anything_started_sends_nothing() -> None:
    session = PmdSession((H10_ACC,))
    assert session.stop() == []
    assert session.state is SessionState.STOPPED


def test_a_sensor_stop_notice_restarts_the_stream_a_bounded_number_of_times() -> None:
    session = started_h10()
    notice = PmdMeasurementStopped(measurements=(ACC,)).encode()
    for _ in range(MAX_RESTARTS_PER_STREAM):
        assert written(session.on_indication(notice)) == bytes.fromhex("0102")
        written(session.on_indication(H10_ACC_SETTINGS))
        session.on_indication(H10_ACC_START_OK)
        assert ACC in session.started
    assert session.on_indication(notice) == []
    assert session.failed[ACC] == "stopped_by_sensor"
    assert session.counts["stopped_by_sensor"] == MAX_RESTARTS_PER_STREAM + 1


def test_a_response_continued_over_indications_is_joined() -> None:
    session = PmdSession((H10_ACC,))
    session.begin(247)
    session.on_features(H10_FEATURES)
    params = H10_ACC_SETTINGS[5:]
    first = bytes.fromhex("f001020001") + params[:6]
    last = bytes.fromhex("f001020000") + params[6:]
    assert session.on_indication(first) == []
    assert written(session.on_indication(last))[0] == 0x02


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("f0"),
        bytes.fromhex("aa0102"),
        bytes.fromhex("f00102ff"),  # a reserved status
    ],
)
def test_malformed_indications_are_counted_not_raised(data: bytes) -> None:
    session = PmdSession((H10_ACC,))
    session.begin(247)
    session.on_features(H10_FEATURES)
    assert session.on_indication(data) == []
    assert session.counts["malformed_indication"] == 1
    assert session.waiting  # still waiting for the real answer


def test_responses_nobody_asked_for_are_ignored() -> None:
    session = started_h10()
    assert session.on_indication(H10_ECG_START_OK) == []
    assert session.counts["unexpected_response"] == 1
    assert session.state is SessionState.STREAMING


def test_an_indication_before_the_feature_read_is_unexpected() -> None:
    session = PmdSession((H10_ACC,))
    session.begin(247)
    assert session.on_indication(H10_ACC_SETTINGS) == []
    assert session.counts["unexpected_response"] == 1
    # The feature read still starts the session.
    assert written(session.on_features(H10_FEATURES)) == bytes.fromhex("0102")


def test_a_feature_read_twice_or_malformed() -> None:
    session = PmdSession((H10_ACC,))
    assert session.on_features(H10_FEATURES) == []  # before begin: ignored
    session.begin(247)
    assert session.on_features(b"\x0e") == []
    assert session.state is SessionState.FAILED
    assert session.counts["malformed_features"] == 1


def test_no_answer_fails_the_session() -> None:
    session = PmdSession((H10_ACC,))
    session.begin(247)
    session.on_features(H10_FEATURES)
    assert session.on_no_answer() == []
    assert session.state is SessionState.FAILED
    assert session.counts["no_answer"] == 1


def test_link_loss_forgets_the_streams() -> None:
    session = started_h10()
    session.on_link_lost()
    assert not session.started
    assert session.stop() == []


def test_stop_while_starting_abandons_the_pending_start() -> None:
    session = PmdSession((H10_ACC, H10_ECG))
    session.begin(247)
    session.on_features(H10_FEATURES)
    written(session.on_indication(H10_ACC_SETTINGS))
    session.on_indication(H10_ACC_START_OK)  # ACC started; ECG query pending
    assert written(session.stop()) == bytes.fromhex("0302")
    # The late ECG settings answer is not the stop's answer.
    assert session.on_indication(H10_ECG_SETTINGS) == []
    assert session.on_indication(bytes.fromhex("f00302000000")) == []
    assert session.state is SessionState.STOPPED


def test_the_features_decode_as_documented() -> None:
    assert PmdFeatures.decode(H10_FEATURES).measurements == (ECG, ACC)


def test_stop_while_a_start_is_unanswered_stops_that_stream_too() -> None:
    """A removal that cancelled the wait for a start's answer: the sensor may be streaming it,
    so the stop names it as well, and a late answer to the start changes nothing."""
    session = PmdSession((H10_ACC, H10_ECG))
    session.begin(247)
    session.on_features(H10_FEATURES)
    written(session.on_indication(H10_ACC_SETTINGS))
    session.on_indication(H10_ACC_START_OK)  # ACC started; the ECG query next
    written(session.on_indication(H10_ECG_SETTINGS))  # the ECG start sent, its answer pending
    assert written(session.stop()) == bytes.fromhex("0302")  # ACC first (started)
    assert session.on_indication(H10_ECG_START_OK) == []  # late: not the stop's answer
    assert written(session.on_indication(bytes.fromhex("f00302000000"))) == bytes.fromhex("0300")
    assert session.on_indication(bytes.fromhex("f00300000000")) == []
    assert session.state is SessionState.STOPPED
    assert not session.started
