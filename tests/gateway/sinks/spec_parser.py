"""A small line-protocol reader written from the reference, independent of the encoder.

It reads what the spec says a reader sees: in a measurement `\\,` and `\\ ` are a comma and a
space; in tag keys, tag values and field keys also `\\=`; any other backslash is literal. In a
string field value `\\\\` is a backslash and `\\"` a double quote ("`\\` or `\\\\` interpreted as
`\\`"). Integers end in `i`; booleans are t, T, true, True, TRUE, f, F, false, False, FALSE.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MEASUREMENT_ESCAPES = ", "
KEY_ESCAPES = ",= "
TRUE = {"t", "T", "true", "True", "TRUE"}
FALSE = {"f", "F", "false", "False", "FALSE"}


@dataclass(frozen=True)
class ParsedPoint:
    measurement: str
    tags: list[tuple[str, str]]  # in line order, to check the sorting
    fields: dict[str, float | int | bool | str]
    time_ns: int | None


class ParseError(ValueError):
    pass


def _name(line: str, i: int, stops: str, escapable: str) -> tuple[str, int]:
    out: list[str] = []
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in escapable:
            out.append(line[i + 1])
            i += 2
            continue
        if char in stops:
            break
        out.append(char)
        i += 1
    return "".join(out), i


def _expect(line: str, i: int, char: str) -> int:
    if i >= len(line) or line[i] != char:
        raise ParseError(f"expected {char!r} at {i} in {line!r}")
    return i + 1


def _string(line: str, i: int) -> tuple[str, int]:
    i = _expect(line, i, '"')
    out: list[str] = []
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in '\\"':
            out.append(line[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise ParseError(f"unterminated string in {line!r}")


def _scalar(token: str) -> float | int | bool:
    if token in TRUE:
        return True
    if token in FALSE:
        return False
    if token.endswith("i"):
        return int(token[:-1])
    value = float(token)
    if not math.isfinite(value):
        raise ParseError(f"{token!r} is not a finite float")
    return value


def parse_line(line: str) -> ParsedPoint:
    """One point from one line; raises ParseError on anything the spec does not allow."""
    if "\n" in line:
        raise ParseError("a line cannot contain a newline")
    measurement, i = _name(line, 0, ", ", MEASUREMENT_ESCAPES)
    if not measurement:
        raise ParseError(f"no measurement in {line!r}")
    tags: list[tuple[str, str]] = []
    while i < len(line) and line[i] == ",":
        key, i = _name(line, i + 1, "=", KEY_ESCAPES)
        i = _expect(line, i, "=")
        tag_value, i = _name(line, i, ", ", KEY_ESCAPES)
        if not key or not tag_value:
            raise ParseError(f"empty tag key or value in {line!r}")
        tags.append((key, tag_value))
    i = _expect(line, i, " ")
    fields: dict[str, float | int | bool | str] = {}
    while True:
        key, i = _name(line, i, "=", KEY_ESCAPES)
        i = _expect(line, i, "=")
        if not key:
            raise ParseError(f"empty field key in {line!r}")
        value: float | int | bool | str
        if i < len(line) and line[i] == '"':
            value, i = _string(line, i)
        else:
            end = i
            while end < len(line) and line[end] not in ", ":
                end += 1
            value, i = _scalar(line[i:end]), end
        fields[key] = value
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    if i == len(line):
        return ParsedPoint(measurement, tags, fields, None)
    i = _expect(line, i, " ")
    if not re.fullmatch(r"-?[0-9]+", line[i:]):
        raise ParseError(f"bad timestamp {line[i:]!r}")
    return ParsedPoint(measurement, tags, fields, int(line[i:]))
