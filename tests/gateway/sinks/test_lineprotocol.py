"""The line-protocol encoder: the spec's own examples as literals, every refusal, and Hypothesis
round trips through the independent reader in spec_parser.py."""

from __future__ import annotations

import enum
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain import FieldValue
from gateway.sinks.lineprotocol import (
    MAX_CACHED_FIELD_KEYS,
    MAX_INTEGER,
    MAX_STRING_BYTES,
    MAX_TIME_NS,
    MIN_INTEGER,
    MIN_TIME_NS,
    LineProtocolError,
    SeriesKey,
    encode_point,
)
from tests.gateway.sinks.spec_parser import ParseError, parse_line

T = 1465839830100400200  # the spec examples' timestamp


# --- the spec's examples, as literals --------------------------------------------------------
# v1 reference "Special characters"; v1 tutorial "Special characters and keywords"; v2 reference
# "Special Characters" and data types. The spec writes the float 82 as `82`; the encoder always
# writes floats with repr, so `82.0` (both read back as the same float).


def test_v1_reference_point_with_special_characters() -> None:
    line = encode_point(
        '"measurement with quo⚡️es and emoji"',
        {"tag key with sp🚀ces": 'tag,value,with"commas"'},
        {"field_k\\ey": 'string field value, only " need be esc🍭ped'},
        T,
    )
    assert line == (
        '"measurement\\ with\\ quo⚡️es\\ and\\ emoji",tag\\ key\\ with\\ sp🚀ces='
        'tag\\,value\\,with"commas" field_k\\ey="string field value, only \\" need be esc🍭ped"'
        f" {T}"
    )


@pytest.mark.parametrize(
    ("measurement", "tags", "fields", "spec_line"),
    [
        # commas, equals signs and spaces in tag keys, tag values and field keys
        ("weather", {"location": "us,midwest"}, {"temperature": 82.0},
         r"weather,location=us\,midwest temperature=82 1465839830100400200"),
        ("weather", {"location": "us-midwest"}, {"temp=rature": 82.0},
         r"weather,location=us-midwest temp\=rature=82 1465839830100400200"),
        ("weather", {"location place": "us-midwest"}, {"temperature": 82.0},
         r"weather,location\ place=us-midwest temperature=82 1465839830100400200"),
        # commas and spaces in measurements
        ("wea,ther", {"location": "us-midwest"}, {"temperature": 82.0},
         r"wea\,ther,location=us-midwest temperature=82 1465839830100400200"),
        ("wea ther", {"location": "us-midwest"}, {"temperature": 82.0},
         r"wea\ ther,location=us-midwest temperature=82 1465839830100400200"),
        # double quotes in string field values
        ("weather", {"location": "us-midwest"}, {"temperature": 'too"hot"'},
         r'weather,location=us-midwest temperature="too\"hot\"" 1465839830100400200'),
        # emojis need no escaping
        ("we⛅️ther", {"location": "us-midwest"}, {"temper🔥ture": 82.0},
         "we⛅️ther,location=us-midwest temper🔥ture=82 1465839830100400200"),
        ("myMeasurement", {"tagKey": "🍭"}, {"fieldKey": "Launch 🚀"},
         'myMeasurement,tagKey=🍭 fieldKey="Launch 🚀" 1556813561098000000'),
        ("my Measurement", {}, {"fieldKey": "string value"},
         r'my\ Measurement fieldKey="string value" 1556813561098000000'),
        ("myMeasurement", {}, {"fieldKey": '"string" within a string'},
         r'myMeasurement fieldKey="\"string\" within a string" 1556813561098000000'),
        ("myMeasurement", {"tag Key1": "tag Value1", "tag Key2": "tag Value2"},
         {"fieldKey": 100.0},
         r"myMeasurement,tag\ Key1=tag\ Value1,tag\ Key2=tag\ Value2 fieldKey=100"
         " 1556813561098000000"),
    ],
)  # fmt: skip
def test_spec_escaping_examples(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], spec_line: str
) -> None:
    time_ns = int(spec_line.rsplit(" ", 1)[1])
    expected = re.sub(r"=(82|100) ", r"=\1.0 ", spec_line)
    assert encode_point(measurement, tags, fields, time_ns) == expected
    assert parse_line(expected) == parse_line(spec_line)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-1.234456e78, "-1.234456e+78"),  # v1 data types: scientific notation
        (1.0, "1.0"),
        (1, "1i"),
        (12485903, "12485903i"),
        (-12485903, "-12485903i"),
        (MIN_INTEGER, "-9223372036854775808i"),  # v2 "Integer" minimum and maximum
        (MAX_INTEGER, "9223372036854775807i"),
        ("stringing along", '"stringing along"'),
        (True, "true"),
        (False, "false"),
        ("true", '"true"'),  # a quoted boolean is a string
        ("", '""'),
        (0.1, "0.1"),  # repr: the shortest text that reads back as the same double
        (-0.0, "-0.0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_field_values(value: FieldValue, text: str) -> None:
    assert encode_point("mymeas", {}, {"value": value}, T) == f"mymeas value={text} {T}"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("too hot/cold", '"too hot/cold"'),
        ("too hot\\cold", '"too hot\\\\cold"'),
        ("too hot\\\\cold", '"too hot\\\\\\\\cold"'),
    ],
)
def test_backslashes_in_string_values_are_escaped(text: str, written: str) -> None:
    line = encode_point("weather", {}, {"temperature_str": text}, T)
    assert line == f"weather temperature_str={written} {T}"
    assert parse_line(line).fields["temperature_str"] == text


@pytest.mark.parametrize(
    ("written", "read"),
    [  # the v1 tutorial's backslash table for string field values, read by the test parser
        ('"too hot\\cold"', "too hot\\cold"),
        ('"too hot\\\\cold"', "too hot\\cold"),
        ('"too hot\\\\\\cold"', "too hot\\\\cold"),
        ('"too hot\\\\\\\\cold"', "too hot\\\\cold"),
        ('"too hot\\\\\\\\\\cold"', "too hot\\\\\\cold"),
    ],
)
def test_the_test_parser_reads_the_spec_backslash_table(written: str, read: str) -> None:
    assert parse_line(f"weather temperature_str={written} {T}").fields["temperature_str"] == read


def test_tags_are_sorted_and_empty_values_left_out() -> None:
    line = encode_point(
        "m", {"officer": "o-1", "agency": "metro", "unit": "", "device": "v"}, {"f": 1}, 5
    )
    assert line == "m,agency=metro,device=v,officer=o-1 f=1i 5"


def test_series_key_reuse_matches_encode_point() -> None:
    tags = {"agency": "metro", "officer": "o 1"}
    key = SeriesKey("heart_rate", tags)
    assert key.prefix == "heart_rate,agency=metro,officer=o\\ 1"
    assert key.tags == tags
    for n in range(3):
        fields: dict[str, FieldValue] = {"bpm": 60 + n, "rr_ms": 833.5}
        assert key.line(fields, n) == encode_point("heart_rate", tags, fields, n)
    assert SeriesKey("heart_rate", dict(reversed(tags.items()))) == key
    assert "heart_rate" in repr(key)


def test_timestamp_bounds() -> None:
    assert encode_point("m", {}, {"f": 1}, MIN_TIME_NS).endswith(f" {MIN_TIME_NS}")
    assert encode_point("m", {}, {"f": 1}, MAX_TIME_NS).endswith(f" {MAX_TIME_NS}")
    assert encode_point("m", {}, {"f": 1}, 0).endswith(" 0")


def test_a_measurement_may_be_called_time() -> None:
    assert encode_point("time", {}, {"f": 1}, 1) == "time f=1i 1"  # v1: "time can be a measurement"


def test_subclasses_of_the_four_types() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    class Kind(enum.StrEnum):
        PANIC = 'pa"nic'

    class Reading(float):
        def __repr__(self) -> str:
            return "Reading(...)"

    line = encode_point(
        "m", {"kind": Kind.PANIC}, {"l": Level.HIGH, "k": Kind.PANIC, "r": Reading(2.5)}, 1
    )
    assert line == 'm,kind=pa"nic l=3i,k="pa\\"nic",r=2.5 1'


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_naming_the_field(value: float) -> None:
    with pytest.raises(
        LineProtocolError, match=r"field 'spo2' of measurement 'vitals' is (nan|inf|-inf)"
    ):
        encode_point("vitals", {}, {"ok": 1.0, "spo2": value}, 1)


@pytest.mark.parametrize("value", [MAX_INTEGER + 1, MIN_INTEGER - 1, 10**30])
def test_integers_outside_int64_are_refused(value: int) -> None:
    with pytest.raises(LineProtocolError, match=r"field 'steps' .* outside the signed 64-bit"):
        encode_point("activity", {}, {"steps": value}, 1)


def test_a_point_without_fields_is_refused() -> None:
    with pytest.raises(LineProtocolError, match="measurement 'm' has no fields"):
        encode_point("m", {"a": "b"}, {}, 1)


@pytest.mark.parametrize(
    ("measurement", "tags", "fields", "message"),
    [
        ("", {}, {"f": 1}, "measurement is empty"),
        ("m", {"": "v"}, {"f": 1}, "tag key of measurement 'm' is empty"),
        ("m", {}, {"": 1}, "field key of measurement 'm' is empty"),
        ("m\nx", {}, {"f": 1}, "measurement 'm\\\\nx' contains a line break"),
        ("m", {"k\n": "v"}, {"f": 1}, "tag key .* contains a line break"),
        (
            "m",
            {"k": "v\r"},
            {"f": 1},
            "value 'v\\\\r' of tag 'k' of measurement 'm' contains a line break",
        ),
        ("m", {}, {"f\n": 1}, "field key .* contains a line break"),
        (
            "m",
            {},
            {"f": "a\nb"},
            "string value 'a\\\\nb' of field 'f' of measurement 'm' contains a line break",
        ),
        ("m", {}, {"f": "a\rb"}, "line break"),
        ("m\\", {}, {"f": 1}, "measurement 'm\\\\\\\\' has a backslash"),
        ("m", {"k\\ x": "v"}, {"f": 1}, "tag key .* has a backslash"),
        (
            "m",
            {"k": "v\\,w"},
            {"f": 1},
            r"value 'v\\\\,w' of tag 'k' of measurement 'm' has a backslash",
        ),
        ("m", {"k": "v\\=w"}, {"f": 1}, "has a backslash"),
        ("m", {"k": "v\\\\w"}, {"f": 1}, "has a backslash"),
        ("m", {}, {"f\\": 1}, "field key .* has a backslash"),
        ("m", {}, {'f"k': 1}, "field key 'f\"k' of measurement 'm' has a double quote"),
        ("#m", {}, {"f": 1}, "measurement '#m' starts with '#', which makes a comment line"),
        ("\tm", {}, {"f": 1}, "measurement '\\\\tm' starts with a tab or NUL"),
        ("\x00m", {}, {"f": 1}, "starts with a tab or NUL"),
        ("m", {}, {"\tf": 1}, "field key '\\\\tf' of measurement 'm' starts with a tab or NUL"),
        ("_m", {}, {"f": 1}, "measurement '_m' starts with '_'"),
        ("m", {"_measurement": "x"}, {"f": 1}, "tag key .* starts with '_'"),
        ("m", {}, {"_field": 1}, "field key .* starts with '_'"),
        ("m", {"time": "x"}, {"f": 1}, "tag key of measurement 'm' cannot be 'time'"),
        ("m", {}, {"time": 1}, "field key of measurement 'm' cannot be 'time'"),
        ("m", {"k": 1}, {"f": 1}, "value of tag 'k' of measurement 'm' must be a str, got int"),
        ("m", {}, {"f": None}, "field 'f' of measurement 'm' has type NoneType"),
        ("m", {}, {"f": b"x"}, "has type bytes"),
        ("m", {}, {"f": "\ud800"}, "not valid Unicode"),
        ("m", {"k": "\udfff"}, {"f": 1}, "not valid Unicode"),
        ("m", {}, {"f": "x" * (MAX_STRING_BYTES + 1)}, "65537 bytes long"),
        ("m", {}, {"f": "é" * (MAX_STRING_BYTES // 2 + 1)}, "65538 bytes long"),
        ("m" * (MAX_STRING_BYTES + 1), {}, {"f": 1}, "measurement is 65537 bytes long"),
    ],
)
def test_refusals_name_what_and_where(
    measurement: str, tags: dict[str, object], fields: dict[str, object], message: str
) -> None:
    with pytest.raises(LineProtocolError, match=message):
        encode_point(measurement, tags, fields, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("time_ns", [MAX_TIME_NS + 1, MIN_TIME_NS - 1, 1.5, True, "1"])
def test_bad_timestamps_are_refused(time_ns: object) -> None:
    with pytest.raises(LineProtocolError, match=r"timestamp .* of measurement 'm' is not an int"):
        encode_point("m", {}, {"f": 1}, time_ns)  # type: ignore[arg-type]


def test_the_longest_string_is_accepted() -> None:
    line = encode_point("m", {}, {"f": "x" * MAX_STRING_BYTES}, 1)
    assert len(line) == len("m f=") + MAX_STRING_BYTES + 2 + len(" 1")


def test_refusals_are_value_errors() -> None:
    assert issubclass(LineProtocolError, ValueError)


def test_field_key_cache_is_bounded() -> None:
    key = SeriesKey("m")
    for n in range(MAX_CACHED_FIELD_KEYS + 10):
        assert key.line({f"f{n}": 1}, 1) == f"m f{n}=1i 1"
    assert len(key._field_keys) == MAX_CACHED_FIELD_KEYS


# --- round trips through the spec reader -----------------------------------------------------

# Characters that line protocol treats specially, plus a few that merely look dangerous.
NASTY = list(" ,=\"\\#_\t'{}[]()=é⛅🚀\u00a0\u200b\x00\x7f")
_AMBIGUOUS = re.compile(r"\\(?=[\\,= ]|\Z)")


def _sanitize(text: str) -> str:
    """Make text a valid name: no escape-like backslash, no reserved start, not `time`."""
    text = _AMBIGUOUS.sub("/", text)
    if text[0] in "_#":
        text = "k" + text
    return "key" if text == "time" else text


def _leading(text: str) -> str:
    """Measurements and field keys also may not start with a tab or NUL."""
    text = _sanitize(text)
    return "k" + text if text[0] in "\t\x00" else text


def _field_key(text: str) -> str:
    return _leading(text.replace('"', "'"))


chars = st.one_of(
    st.sampled_from(NASTY),
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"),
)
names = st.text(chars, min_size=1, max_size=16).map(_sanitize)
field_keys = st.text(chars, min_size=1, max_size=16).map(_field_key)
measurements = st.text(chars, min_size=1, max_size=16).map(_leading)
tag_values = st.one_of(st.just(""), names)
field_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(MIN_INTEGER, MAX_INTEGER),
    st.booleans(),
    st.text(st.one_of(st.sampled_from(NASTY), chars), max_size=40),
)


def _same(a: FieldValue, b: FieldValue) -> bool:
    return type(a) is type(b) and (repr(a) == repr(b) if isinstance(a, float) else a == b)


@given(
    measurements,
    st.dictionaries(names, tag_values, max_size=6),
    st.dictionaries(field_keys, field_values, min_size=1, max_size=6),
    st.integers(MIN_TIME_NS, MAX_TIME_NS),
)
def test_round_trip_through_the_spec_reader(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], time_ns: int
) -> None:
    line = encode_point(measurement, tags, fields, time_ns)
    assert "\n" not in line
    assert "\r" not in line
    point = parse_line(line)
    assert point.measurement == measurement
    assert dict(point.tags) == {k: v for k, v in tags.items() if v}
    assert [k for k, _ in point.tags] == sorted(k for k, v in tags.items() if v)
    assert point.fields.keys() == fields.keys()
    assert all(_same(point.fields[k], fields[k]) for k in fields)
    assert point.time_ns == time_ns


@given(
    st.text(st.one_of(st.sampled_from([*NASTY, "\n", "\r"]), st.characters()), max_size=12),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=6), field_values, max_size=3),
)
def test_any_input_either_round_trips_or_is_refused(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue]
) -> None:
    try:
        line = encode_point(measurement, tags, fields, 1)
    except LineProtocolError:
        return
    point = parse_line(line)
    assert point.measurement == measurement
    assert dict(point.tags) == {k: v for k, v in tags.items() if v}
    assert all(_same(point.fields[k], fields[k]) for k in fields)


def test_the_test_parser_refuses_what_the_spec_does_not_allow() -> None:
    for bad in ["m", "m f", "m f=", "m f=nan", "m f=1 1.5", 'm f="x', "m,t f=1", " f=1"]:
        with pytest.raises((ParseError, ValueError)):
            parse_line(bad)
