"""The PMD control point: feature read, commands, responses, settings and the sensor's stops.

Byte exchanges from real devices and Polar's documents, each cited beside it:
- phdiethelm/h10_ecg `exploration/gatttool.md`: a real H10 driven with gatttool.
- the 2021 *Polar Measurement Data Specification for 3rd Party*, sequence diagrams pp. 7-11
  (H10 and Verity Sense), as transcribed in the reference notes (README 1.4).
- polar-ble-sdk tests under `.../src/test/java/com/polar/androidcommunications/api/ble/model/
  gatt/client/pmd/`: PmdSettingTest.kt, BlePmdClientControlPointResponseTest.kt,
  BlePmdClientTest.kt.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sensors import DecodeError, DecodeErrorKind
from sensors.pmd import (
    ControlPointOp,
    MeasurementType,
    PmdCommand,
    PmdFeatures,
    PmdMeasurementStopped,
    PmdResponse,
    PmdSettings,
    RecordingType,
    ResponseStatus,
    SettingType,
    assemble_response,
    decode_control_point,
    decode_indication,
)

ECG, PPG, ACC, PPI, GYRO, MAG, SDK_MODE = (
    MeasurementType.ECG,
    MeasurementType.PPG,
    MeasurementType.ACC,
    MeasurementType.PPI,
    MeasurementType.GYRO,
    MeasurementType.MAGNETOMETER,
    MeasurementType.SDK_MODE,
)
Op = ControlPointOp
S = SettingType


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# --- feature read -------------------------------------------------------------------------------


def test_real_h10_feature_read() -> None:
    """gatttool.md "Read features from device": 17 bytes, ECG and ACC."""
    wire = _hex("0f 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")
    features = PmdFeatures.decode(wire)
    assert features.measurements == (ECG, ACC)
    assert features.encode() == wire


def test_verity_feature_read() -> None:
    """The specification's Verity diagram: 0F 6E 00 ... is PPG, ACC, PPI, GYRO and MAG."""
    assert PmdFeatures.decode(_hex("0F 6E 00")).measurements == (PPG, ACC, PPI, GYRO, MAG)


def test_feature_bits_of_the_second_byte() -> None:
    """PmdMeasurementType.fromByteArray: byte 2 bit 1 is SDK mode; bits 0 and 7 name nothing."""
    assert PmdFeatures.decode(_hex("0F 00 83")).measurements == (SDK_MODE,)


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [("0F 05", DecodeErrorKind.TOO_SHORT, 1), ("F0 05 00", DecodeErrorKind.RESERVED_VALUE, 0)],
)
def test_malformed_feature_reads(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        PmdFeatures.decode(_hex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


# --- commands -----------------------------------------------------------------------------------

COMMANDS = [
    # Spec p.9-10 (H10): get ACC settings; start ACC at 8 g, 200 Hz, 16 bit (RANGE first, as
    # sent); stop ACC.
    ("01 02", PmdCommand(op=Op.GET_MEASUREMENT_SETTINGS, measurement=ACC)),
    (
        "02 02 | 02 01 08 00 | 00 01 C8 00 | 01 01 10 00",
        PmdCommand(
            op=Op.REQUEST_MEASUREMENT_START,
            measurement=ACC,
            settings=PmdSettings({S.RANGE: (8,), S.SAMPLE_RATE: (200,), S.RESOLUTION: (16,)}),
        ),
    ),
    ("03 02", PmdCommand(op=Op.STOP_MEASUREMENT, measurement=ACC)),
    # Spec (Verity, normal mode): start ACC at 52 Hz, 16 bit, 8 g, 3 channels (one byte).
    (
        "02 02 | 00 01 34 00 | 01 01 10 00 | 02 01 08 00 | 04 01 03",
        PmdCommand(
            op=Op.REQUEST_MEASUREMENT_START,
            measurement=ACC,
            settings=PmdSettings.choose(
                {S.SAMPLE_RATE: 52, S.RESOLUTION: 16, S.RANGE: 8, S.CHANNELS: 3}
            ),
        ),
    ),
    # gatttool.md: the real H10 ECG start, 130 Hz and 14 bits; and its stop.
    (
        "02 00 | 00 01 82 00 | 01 01 0e 00",
        PmdCommand(
            op=Op.REQUEST_MEASUREMENT_START,
            measurement=ECG,
            settings=PmdSettings.choose({S.SAMPLE_RATE: 130, S.RESOLUTION: 14}),
        ),
    ),
    ("03 00", PmdCommand(op=Op.STOP_MEASUREMENT, measurement=ECG)),
    # online_measurement.pdf p.16: SDK mode on and off; a PPI start carries no settings.
    ("02 09", PmdCommand(op=Op.REQUEST_MEASUREMENT_START, measurement=SDK_MODE)),
    ("03 09", PmdCommand(op=Op.STOP_MEASUREMENT, measurement=SDK_MODE)),
    ("02 03", PmdCommand(op=Op.REQUEST_MEASUREMENT_START, measurement=PPI)),
    # offline_measurement.pdf: the offline ACC request byte (1 shl 7) | 2.
    (
        "01 82",
        PmdCommand(
            op=Op.GET_MEASUREMENT_SETTINGS, measurement=ACC, recording=RecordingType.OFFLINE
        ),
    ),
    ("05", PmdCommand(op=Op.GET_MEASUREMENT_STATUS)),
]


@pytest.mark.parametrize(("wire", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_commands(wire: str, command: PmdCommand) -> None:
    data = _hex(wire.replace("|", ""))
    assert PmdCommand.decode(data) == command
    assert command.encode() == data
    assert decode_control_point(data) == command


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("0A 02", DecodeErrorKind.RESERVED_VALUE, 0),  # op 10 is not defined
        ("01", DecodeErrorKind.TOO_SHORT, 1),
        ("01 04", DecodeErrorKind.UNKNOWN_MEASUREMENT_TYPE, 1),
        ("01 02 00", DecodeErrorKind.TRAILING_BYTES, 2),
        ("02 02 07 01 00", DecodeErrorKind.RESERVED_VALUE, 2),  # setting type 7
        ("02 02 00 01 34 00 00 01 34 00", DecodeErrorKind.REPEATED_SETTING, 6),
        ("02 02 00 01 34", DecodeErrorKind.TOO_SHORT, 4),
        ("02 02 00 02 34 00 68 00", DecodeErrorKind.OUT_OF_RANGE, 2),  # two values to start with
        ("02 02 05 01 40 DA 7F 39", DecodeErrorKind.OUT_OF_RANGE, 2),  # the client sends no FACTOR
    ],
)
def test_malformed_commands(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        PmdCommand.decode(_hex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


def test_commands_that_cannot_be_sent_are_refused() -> None:
    with pytest.raises(ValidationError):
        PmdCommand(op=Op.GET_MEASUREMENT_SETTINGS)  # which measurement?
    with pytest.raises(ValidationError):
        PmdCommand(op=Op.GET_MEASUREMENT_STATUS, measurement=ACC)
    with pytest.raises(ValidationError):
        PmdCommand(
            op=Op.STOP_MEASUREMENT, measurement=ACC, settings=PmdSettings.choose({S.RANGE: 8})
        )
    with pytest.raises(ValidationError):
        PmdCommand(op=Op.REQUEST_MEASUREMENT_START, measurement=ACC, settings=PmdSettings())


# --- responses ----------------------------------------------------------------------------------

H10_ACC_SETTINGS = (
    "F0 01 02 00 00 | 00 04 19 00 32 00 64 00 C8 00 | 01 01 10 00 | 02 03 02 00 04 00 08 00"
)

RESPONSES = [
    # Spec p.9-10, H10: ACC settings offered, start and stop answered.
    (
        H10_ACC_SETTINGS,
        PmdResponse(
            op=Op.GET_MEASUREMENT_SETTINGS,
            measurement=ACC,
            status=ResponseStatus.SUCCESS,
            settings=PmdSettings(
                {S.SAMPLE_RATE: (25, 50, 100, 200), S.RESOLUTION: (16,), S.RANGE: (2, 4, 8)}
            ),
        ),
    ),
    # The start response's one trailing byte is no settings list (the SDK skips <= 1 byte).
    (
        "F0 02 02 00 00 01",
        PmdResponse(
            op=Op.REQUEST_MEASUREMENT_START,
            measurement=ACC,
            status=ResponseStatus.SUCCESS,
            parameters=b"\x01",
        ),
    ),
    (
        "F0 03 02 00 00",
        PmdResponse(op=Op.STOP_MEASUREMENT, measurement=ACC, status=ResponseStatus.SUCCESS),
    ),
    # Spec, Verity Sense: ACC settings, and the start response's FACTOR 0x397FDA40.
    (
        "F0 01 02 00 00 | 00 01 34 00 | 01 01 10 00 | 02 01 08 00 | 04 01 03",
        PmdResponse(
            op=Op.GET_MEASUREMENT_SETTINGS,
            measurement=ACC,
            status=ResponseStatus.SUCCESS,
            settings=PmdSettings.choose(
                {S.SAMPLE_RATE: 52, S.RESOLUTION: 16, S.RANGE: 8, S.CHANNELS: 3}
            ),
        ),
    ),
    # gatttool.md, real H10: ECG settings (130 Hz, 14 bits), the ECG start's answer, and the
    # INVALID_MTU answer at the default MTU of 23, four bytes naming op 0.
    (
        "f0 01 00 00 00 | 00 01 82 00 | 01 01 0e 00",
        PmdResponse(
            op=Op.GET_MEASUREMENT_SETTINGS,
            measurement=ECG,
            status=ResponseStatus.SUCCESS,
            settings=PmdSettings.choose({S.SAMPLE_RATE: 130, S.RESOLUTION: 14}),
        ),
    ),
    (
        "f0 02 00 00 00 00",
        PmdResponse(
            op=Op.REQUEST_MEASUREMENT_START,
            measurement=ECG,
            status=ResponseStatus.SUCCESS,
            parameters=b"\x00",
        ),
    ),
    (
        "f0 00 01 0a",
        PmdResponse(op=Op.NULL_ITEM, measurement=PPG, status=ResponseStatus.ERROR_INVALID_MTU),
    ),
]


@pytest.mark.parametrize(("wire", "response"), RESPONSES, ids=[w for w, _ in RESPONSES])
def test_responses(wire: str, response: PmdResponse) -> None:
    data = _hex(wire.replace("|", ""))
    assert PmdResponse.decode(data) == response
    assert response.encode() == data
    assert decode_indication(data) == response
    assert decode_control_point(data) == response


def test_verity_start_response_reports_its_factor() -> None:
    response = PmdResponse.decode(_hex("F0 02 02 00 00 05 01 40 DA 7F 39"))
    assert response.status is ResponseStatus.SUCCESS
    assert response.factor == pytest.approx(0.000244, abs=5e-9)
    assert response.settings is not None
    assert response.settings.factor == response.factor


@pytest.mark.parametrize(
    ("wire", "status", "more"),
    [
        # gatttool.md: starting ECG without settings, five bytes with the `more` byte.
        ("f0 02 00 05 00", ResponseStatus.ERROR_INVALID_PARAMETER, False),
        # BlePmdClientControlPointResponseTest `failing control point response for mag stream
        # settings`: MAG, INVALID_RESOLUTION.
        ("F0 01 06 07 00", ResponseStatus.ERROR_INVALID_RESOLUTION, False),
    ],
)
def test_error_responses_read_no_parameters(wire: str, status: ResponseStatus, more: bool) -> None:
    response = PmdResponse.decode(_hex(wire))
    assert (response.status, response.more, response.settings, response.parameters) == (
        status,
        more,
        None,
        b"",
    )
    assert response.encode() == _hex(wire)[:4]  # written as the H10 writes errors


@pytest.mark.parametrize("code", range(15))
def test_every_status_by_name(code: int) -> None:
    names = [
        "success", "error_invalid_op_code", "error_invalid_measurement_type",
        "error_not_supported", "error_invalid_length", "error_invalid_parameter",
        "error_already_in_state", "error_invalid_resolution", "error_invalid_sample_rate",
        "error_invalid_range", "error_invalid_mtu", "error_invalid_number_of_channels",
        "error_invalid_state", "error_device_in_charger", "error_disk_full",
    ]  # fmt: skip
    response = PmdResponse.decode(bytes([0xF0, 0x01, 0x02, code]))
    assert response.status == names[code]


@pytest.mark.parametrize(
    ("wire", "kind", "offset"),
    [
        ("F0 01 02 0F", DecodeErrorKind.RESERVED_VALUE, 3),  # status 15 is reserved
        ("F0 0A 02 00 00", DecodeErrorKind.RESERVED_VALUE, 1),
        ("F0 01 02", DecodeErrorKind.TOO_SHORT, 3),
        # BlePmdClientControlPointResponseTest `success control point response for acc stream
        # settings` passes FF FF FF as opaque "some data"; as settings (what querySettings does
        # with them), 0xFF names no setting type.
        ("F0 01 02 00 00 FF FF FF", DecodeErrorKind.RESERVED_VALUE, 5),
        ("F0 01 02 00 00 00 02 19 00", DecodeErrorKind.TOO_SHORT, 9),
    ],
)
def test_malformed_responses(wire: str, kind: DecodeErrorKind, offset: int) -> None:
    with pytest.raises(DecodeError) as caught:
        PmdResponse.decode(_hex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, offset)


def test_a_response_continued_with_more_is_assembled_from_its_indications() -> None:
    """BlePMDClient.sendPmdCommand appends bytes 5.. of each continuation. No capture of a
    continued response is public; this splits the H10 ACC settings response in two."""
    first = _hex("F0 01 02 00 01 | 00 04 19 00 32 00".replace("|", ""))
    last = _hex("F0 01 02 00 00 | 64 00 C8 00 01 01 10 00 02 03 02 00 04 00 08 00".replace("|", ""))
    head = decode_indication(first)
    assert isinstance(head, PmdResponse)
    assert head.more
    assert head.settings is None  # a part-list is not read as settings
    assert assemble_response([first, last]) == PmdResponse.decode(
        _hex(H10_ACC_SETTINGS.replace("|", ""))
    )
    with pytest.raises(ValueError, match="more"):
        assemble_response([last, first])
    with pytest.raises(ValueError, match="differ"):
        assemble_response([first, _hex("F0 01 01 00 00 00 01 82 00")])


# --- settings -----------------------------------------------------------------------------------


def test_sdk_settings_with_range() -> None:
    """PmdSettingTest.testPmdSettingsWithRange: 52 Hz, 16 bit, ranges 245-2000, 3 channels."""
    wire = _hex("00 01 3400 01 01 1000 02 04 F500 F401 E803 D007 04 01 03")
    settings = PmdResponse.with_parameters(
        Op.GET_MEASUREMENT_SETTINGS, GYRO, ResponseStatus.SUCCESS, wire
    ).settings
    assert settings == PmdSettings(
        {
            S.SAMPLE_RATE: (52,),
            S.RESOLUTION: (16,),
            S.RANGE: (245, 500, 1000, 2000),
            S.CHANNELS: (3,),
        }
    )
    assert settings.encode() == wire


def test_sdk_settings_with_range_milliunit() -> None:
    """PmdSettingTest.testPmdSettingWithRangeMilliUnit: RANGE_MILLIUNIT -1 and 255, 14 bits."""
    wire = _hex("03 02 FFFFFFFF FF000000 01 01 0E00")
    settings = PmdResponse.with_parameters(
        Op.GET_MEASUREMENT_SETTINGS, ECG, ResponseStatus.SUCCESS, wire
    ).settings
    assert settings is not None
    assert settings.get(S.RANGE_MILLIUNIT) == (-1, 0xFF)
    assert settings.get(S.RESOLUTION) == (14,)
    assert settings.get(S.FACTOR) == ()
    assert settings.encode() == wire


def test_sdk_selected_serialization() -> None:
    """PmdSettingTest.testPmdSelectedSerialization: extreme selected values survive a start
    request (the SDK also leaves FACTOR out of what it sends)."""
    chosen = PmdSettings.choose(
        {
            S.SAMPLE_RATE: 0x7FFF,
            S.RESOLUTION: 0,
            S.RANGE: 15,
            S.RANGE_MILLIUNIT: 2**31 - 1,
            S.CHANNELS: 4,
        }
    )
    command = PmdCommand(op=Op.REQUEST_MEASUREMENT_START, measurement=ACC, settings=chosen)
    assert PmdCommand.decode(command.encode()).settings == chosen


def test_setting_values_are_checked_against_their_fields() -> None:
    with pytest.raises(ValidationError):
        PmdSettings({S.CHANNELS: (256,)})
    with pytest.raises(ValidationError):
        PmdSettings({S.SAMPLE_RATE: (52.5,)})
    with pytest.raises(ValidationError):
        PmdSettings({S.FACTOR: (1e39,)})
    # FACTOR is held at single precision, as the wire carries it.
    assert PmdSettings({S.FACTOR: (0.1,)}).factor == pytest.approx(0.1, rel=1e-7)
    assert PmdSettings({S.FACTOR: (0.1,)}).factor != 0.1


# --- the sensor's own stops and the direction of a value ----------------------------------------


def test_sdk_measurement_stopped() -> None:
    """BlePmdClientTest `process measurement stop control point command`: 01 01 02 stops PPG and
    ACC; `... from service no content`: 01 alone is accepted."""
    assert decode_indication(_hex("01 01 02")) == PmdMeasurementStopped(measurements=(PPG, ACC))
    assert decode_indication(_hex("01")) == PmdMeasurementStopped()


def test_the_same_bytes_by_direction() -> None:
    """`01 02` is "get ACC settings" written by the client and "ACC stopped" indicated by the
    sensor; a capture without its direction reads the command."""
    assert decode_indication(_hex("01 02")) == PmdMeasurementStopped(measurements=(ACC,))
    assert decode_control_point(_hex("01 02")) == PmdCommand(
        op=Op.GET_MEASUREMENT_SETTINGS, measurement=ACC
    )


@pytest.mark.parametrize(
    ("wire", "kind"),
    [("", DecodeErrorKind.TOO_SHORT), ("0F 05 00", DecodeErrorKind.RESERVED_VALUE)],
)
def test_indications_are_responses_or_stops(wire: str, kind: DecodeErrorKind) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_indication(_hex(wire))
    assert (caught.value.kind, caught.value.offset) == (kind, 0)
