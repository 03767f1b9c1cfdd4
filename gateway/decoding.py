"""Text-level decoding for the CLI: `UUID HEX` lines to JSON-ready dictionaries.

Kept apart from the CLI so that parsing rules (separators, comments, error wording) are tested
without spawning processes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from sensors import Characteristic, DecodeError, PmdDataFrame, decode, normalize_uuid
from sensors.pmd import PMD_CONTROL_POINT_UUID, MeasurementType, decode_control_point

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


def _decode(uuid: str, data: bytes) -> Characteristic:
    # The PMD control point has no single codec (its values differ by direction); a capture
    # without its direction is read by its first byte (sensors/pmd/control_point.py).
    try:
        is_control_point = normalize_uuid(uuid) == PMD_CONTROL_POINT_UUID
    except ValueError:
        is_control_point = False  # `decode` reports the bad UUID
    return decode_control_point(data) if is_control_point else decode(uuid, data)


def decode_to_dict(uuid: str, payload_hex: str, pmd_factor: float | None = None) -> dict[str, Any]:
    """Decode one payload to the reading's JSON fields; raises DecodeError or InputError.

    With `pmd_factor`, a PMD data frame of channel samples also gets `samples_scaled`: each
    sample times the factor (the start response's FACTOR). PPI frames have no factor.
    """
    reading = _decode(uuid, parse_hex(payload_hex))
    fields = reading.model_dump(mode="json")
    if (
        pmd_factor is not None
        and isinstance(reading, PmdDataFrame)
        and reading.measurement is not MeasurementType.PPI
    ):
        fields["samples_scaled"] = [list(sample) for sample in reading.scaled(pmd_factor)]
    return fields


def decode_lines(lines: Iterable[str], pmd_factor: float | None = None) -> Iterator[str]:
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
            result: dict[str, Any] = decode_to_dict(uuid, payload, pmd_factor)
        except (DecodeError, InputError) as exc:
            result = {"error": f"line {number}: {exc}"}
        yield json.dumps(result, separators=(",", ":"))
