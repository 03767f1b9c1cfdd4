"""InfluxDB line protocol by plain string building: the gateway's hot path to InfluxDB.

Rules are those of the line-protocol reference (InfluxDB v1 "Special characters", v2 "Special
Characters" and "Naming restrictions"):

- measurement: comma and space escaped; tag keys, tag values, field keys: comma, equals sign
  and space escaped; string field values: double quote and backslash escaped, in double quotes;
  integers end in `i`; floats are written with `repr` (the shortest text that reads back as the
  same double); booleans are `true`/`false`; tags are sorted by key ("sort by tag key to match
  the results from the Go bytes.Compare function"; UTF-8 byte order is code-point order).
- Refused, with a `LineProtocolError` naming the part: NaN and infinities (not IEEE values the
  spec's Float admits), integers outside int64, timestamps outside the valid range, a point
  without fields, empty names, strings over 64 KB, a measurement starting with `#` (a comment
  line), a measurement, tag key or field key starting with `_` (reserved, v2), `time` as a tag
  or field key (v1 rejects it), values of other types than float, int, bool and str.
- Line breaks (`\\n`, `\\r`) are refused everywhere: "Line protocol does not support the newline
  character \\n in tag or field values", and it has no escape for them.
- A backslash in a name is written as it is ("You do not need to escape other special
  characters"), except where a reader would take it for an escape: before another backslash,
  a comma, an equals sign or a space, or at the end of the name. Servers read those
  differently (InfluxDB 1.x keeps `\\\\` as two backslashes, VictoriaMetrics as one), so such
  names are refused rather than stored differently by each server.
- A double quote in a field key is refused, though the spec allows it: VictoriaMetrics reads
  an unpaired one as the start of a string value and stores the point with value 0 and the
  arrival time. Quotes in measurements, tag keys and tag values are written as they are.
- A measurement or field key starting with a tab or a NUL is refused: InfluxDB 1.x skips those
  as whitespace where a line and its field set begin, and would store a shorter name.
- A tag whose value is empty is left out ("Tag values cannot be empty; instead, omit the tag").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from gateway.domain import FieldValue

# Signed 64-bit integers (spec, "Integer").
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
# Valid timestamps (spec, "Unix timestamp"): the int64 range less values InfluxDB reserves.
MIN_TIME_NS = -9_223_372_036_854_775_806
MAX_TIME_NS = 9_223_372_036_854_775_806
# "String: Length limit 64KB" (spec, data types), for names and string field values alike.
MAX_STRING_BYTES = 64 * 1024
# UTF-8 spends at most 4 bytes per code point: shorter strings need no byte count.
_ALWAYS_SHORT_CHARS = MAX_STRING_BYTES // 4
# A series has a handful of fields; the cap only bounds memory if a caller invents keys.
MAX_CACHED_FIELD_KEYS = 256

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_AMBIGUOUS_BACKSLASH = re.compile(r"\\(?:[\\,= ]|\Z)")
_LINE_BREAK = re.compile(r"[\n\r]")
# v1: "InfluxDB rejects writes with time as a field key or tag key".
_RESERVED_KEYS = frozenset({"time"})
# What InfluxDB 1.x skips as whitespace before a measurement and before the field set (its
# parser's skipWhitespace); an escaped space is not skipped, so spaces are safe.
_SKIPPED_AT_START = ("\t", "\x00")


class LineProtocolError(ValueError):
    """A point that cannot be written as line protocol; the message names the part and why."""


def _is_plain(text: object) -> bool:
    """Printable ASCII without a backslash, not empty, within the length limit: nothing to check.

    The fast path: gateway names (officer ids, device ids, field names) are all like this.
    """
    return (
        type(text) is str
        and 0 < len(text) <= MAX_STRING_BYTES
        and text.isascii()
        and text.isprintable()
        and "\\" not in text
    )


def _shown(text: str) -> str:
    """A name or value as quoted in an error message, shortened: strings may be 64 KB."""
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def _check_text(text: object, what: str, where: str) -> str:
    """The text of a name or value, or a LineProtocolError saying why it cannot be written."""
    if not isinstance(text, str):
        raise LineProtocolError(f"{what}{where} must be a str, got {type(text).__name__}")
    if _LINE_BREAK.search(text):
        raise LineProtocolError(
            f"{what} {_shown(text)}{where} contains a line break, which line protocol cannot carry"
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise LineProtocolError(
            f"{what} {_shown(text)}{where} is not valid Unicode (a lone surrogate)"
        ) from None
    if size > MAX_STRING_BYTES:
        raise LineProtocolError(
            f"{what}{where} is {size} bytes long; line protocol allows {MAX_STRING_BYTES}"
        )
    return str.__str__(text)


def _check_name(text: object, what: str, where: str = "", *, starts_a_section: bool = False) -> str:
    """A name that every reader reads back unchanged, or a LineProtocolError saying why not.

    `starts_a_section`: the name may come first in a line or a field set, where InfluxDB
    skips tabs and NULs.
    """
    name = _check_text(text, what, where)
    if not name:
        raise LineProtocolError(f"{what}{where} is empty")
    if _AMBIGUOUS_BACKSLASH.search(name):
        raise LineProtocolError(
            f"{what} {_shown(name)}{where} has a backslash before '\\', ',', '=', ' ' or at its "
            "end, which readers of line protocol take for an escape"
        )
    if starts_a_section and name.startswith(_SKIPPED_AT_START):
        raise LineProtocolError(
            f"{what} {_shown(name)}{where} starts with a tab or NUL, "
            "which InfluxDB skips as whitespace"
        )
    return name


def _check_key(key: str, what: str, where: str) -> None:
    """Tag and field keys: not in the `_` namespace, and not `time`."""
    if key[0] == "_":  # v2 "Naming restrictions": "reserved for InfluxDB system use"
        raise LineProtocolError(
            f"{what} {_shown(key)}{where} starts with '_', which InfluxDB reserves"
        )
    if key in _RESERVED_KEYS:
        raise LineProtocolError(f"{what}{where} cannot be 'time': InfluxDB rejects it")


def _escape_key(text: str) -> str:
    if "," in text or " " in text or "=" in text:
        return text.translate(_KEY_ESCAPES)
    return text


class SeriesKey:
    """A measurement and its tag set, checked, escaped and sorted once.

    A gateway writes the same officer and device tags thousands of times; building this once
    per series leaves only the fields and the timestamp to format per point.
    """

    __slots__ = ("_field_keys", "measurement", "prefix", "tags")

    measurement: str
    tags: Mapping[str, str]
    prefix: str

    def __init__(self, measurement: str, tags: Mapping[str, str] | None = None) -> None:
        if not _is_plain(measurement):
            measurement = _check_name(measurement, "measurement", starts_a_section=True)
        if measurement[0] == "_":
            raise LineProtocolError(
                f"measurement {_shown(measurement)} starts with '_', which InfluxDB reserves"
            )
        if measurement[0] == "#":
            raise LineProtocolError(
                f"measurement {_shown(measurement)} starts with '#', which makes a comment line"
            )
        where = f" of measurement {_shown(measurement)}"
        checked: dict[str, str] = {}
        for raw_key, raw_value in (tags or {}).items():
            key = raw_key if _is_plain(raw_key) else _check_name(raw_key, "tag key", where)
            _check_key(key, "tag key", where)
            if raw_value == "":  # spec: "Tag values cannot be empty; instead, omit the tag"
                continue
            value = raw_value
            if not _is_plain(value):
                value = _check_name(value, "value", f" of tag {_shown(key)}{where}")
            checked[key] = value
        parts = [measurement.translate(_MEASUREMENT_ESCAPES)]
        parts += [f"{_escape_key(key)}={_escape_key(checked[key])}" for key in sorted(checked)]
        self.measurement = measurement
        self.tags = MappingProxyType(checked)
        self.prefix = ",".join(parts)
        self._field_keys: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"SeriesKey({self.prefix!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeriesKey) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)

    def line(self, fields: Mapping[str, FieldValue], time_ns: int) -> str:
        """One line of line protocol for this series (no trailing newline)."""
        if type(time_ns) is not int or not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
            raise LineProtocolError(
                f"timestamp {time_ns!r} of measurement {_shown(self.measurement)} is not an int "
                f"between {MIN_TIME_NS} and {MAX_TIME_NS} ns"
            )
        if not fields:
            raise LineProtocolError(f"point{self._of()} has no fields; it needs at least one")
        known = self._field_keys
        parts = []
        for key, value in fields.items():
            head = known.get(key)
            if head is None:
                head = self._field_key(key)
            # Exact types first: this loop is the encoder's hot path.
            if type(value) is float:
                if value - value != 0.0:  # NaN and infinities only: x - x is 0.0 for all others
                    raise self._not_finite(key, value)
                parts.append(head + repr(value))
            elif type(value) is int:
                if not MIN_INTEGER <= value <= MAX_INTEGER:
                    raise self._out_of_range(key, value)
                parts.append(f"{head}{value}i")
            elif type(value) is bool:
                parts.append(head + ("true" if value else "false"))
            elif type(value) is str:
                parts.append(head + self._string(key, value))
            else:
                parts.append(head + self._other(key, value))
        return f"{self.prefix} {','.join(parts)} {time_ns}"

    def _field_key(self, key: object) -> str:
        where = f" of measurement {_shown(self.measurement)}"
        if _is_plain(key):
            checked = str(key)
        else:
            checked = _check_name(key, "field key", where, starts_a_section=True)
        _check_key(checked, "field key", where)
        if '"' in checked:
            raise LineProtocolError(
                f"field key {_shown(checked)}{where} has a double quote, "
                "which some readers (VictoriaMetrics) take for the start of a string value"
            )
        head = _escape_key(checked) + "="
        if len(self._field_keys) < MAX_CACHED_FIELD_KEYS:
            self._field_keys[checked] = head
        return head

    def _of(self) -> str:
        return f" of measurement {_shown(self.measurement)}"

    def _where(self, key: str) -> str:
        return f"field {_shown(key)}{self._of()}"

    def _not_finite(self, key: str, value: float) -> LineProtocolError:
        return LineProtocolError(
            f"{self._where(key)} is {value!r}; line protocol has no NaN or infinity"
        )

    def _out_of_range(self, key: str, value: int) -> LineProtocolError:
        return LineProtocolError(
            f"{self._where(key)} is {value}, outside the signed 64-bit integer range"
        )

    def _string(self, key: str, value: str) -> str:
        if (
            "\n" in value
            or "\r" in value
            or len(value) > _ALWAYS_SHORT_CHARS
            or not value.isascii()
        ):
            value = _check_text(value, "string value", f" of {self._where(key)}")
        if "\\" in value or '"' in value:
            value = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{value}"'

    def _other(self, key: str, value: object) -> str:
        """Subclasses of the four types (IntEnum, StrEnum, numpy.float64), or a clear refusal."""
        if isinstance(value, float):
            number = float(value)
            if number - number != 0.0:
                raise self._not_finite(key, number)
            return float.__repr__(number)
        if isinstance(value, int):
            integer = int(value)
            if not MIN_INTEGER <= integer <= MAX_INTEGER:
                raise self._out_of_range(key, integer)
            return f"{integer}i"
        if isinstance(value, str):
            return self._string(key, str.__str__(value))
        raise LineProtocolError(
            f"{self._where(key)} has type {type(value).__name__}; "
            "line protocol field values are float, int, bool or str"
        )


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    time_ns: int,
) -> str:
    """One line of line protocol; for many points of one series, build a SeriesKey once."""
    return SeriesKey(measurement, tags).line(fields, time_ns)
