"""Text-level decoding for the CLI: `UUID HEX` lines to JSON-ready dictionaries.

Kept apart from the CLI so that parsing rules (separators, comments, error wording) are tested
without spawning processes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from sensors import DecodeError, decode

_HEX_SEPARATORS = re.compile(r"[\s:\-]")


class InputError(ValueError):
    """A line or argument that is not `UUID HEX`; the message says which part is wrong."""


def parse_hex(text: str) -> bytes:
    """Bytes from hex digits, allowing spaces, colons or dashes between them (as captures show)."""
    digits = _HEX_SEPARATORS.sub("", text)
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise InputError(f"payload is not hex: {text!r}") from None


def decode_to_dict(uuid: str, payload_hex: str) -> dict[str, Any]:
    """Decode one payload to the reading's JSON fields; raises DecodeError or InputError."""
    return decode(uuid, parse_hex(payload_hex)).model_dump(mode="json")


def decode_lines(lines: Iterable[str]) -> Iterator[str]:
    """One JSON line per input line `UUID HEX`; a bad line yields `{"error": ...}`, never raises.

    Blank lines and lines starting with `#` are skipped so capture files can carry comments.
    """
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        uuid, *rest = stripped.split(maxsplit=1)
        payload = rest[0] if rest else ""
        try:
            if not payload:
                raise InputError("expected `UUID HEX`, found no payload")
            result: dict[str, Any] = decode_to_dict(uuid, payload)
        except (DecodeError, InputError) as exc:
            result = {"error": f"line {number}: {exc}"}
        yield json.dumps(result, separators=(",", ":"))
