"""UUID spellings: Bluetooth SIG 16-bit short forms, the vendor base, and one canonical form.

The canonical form is bleak's: lower-case 128-bit text. Every table in `sensors` is keyed by it,
so a lookup never depends on how a caller (CLI user, bleak, Bumble) happened to spell a UUID.
"""

from __future__ import annotations

import re
import uuid as _uuid

SIG_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"

# Vendor UUIDs of the Officer Safety service: one random 128-bit base with the 16-bit slot in
# bytes 2-3, as SIG UUIDs have, so short ids (0001, 0002, ...) stay readable in docs and logs.
VENDOR_BASE_PREFIX = "b1e5"
VENDOR_BASE_SUFFIX = "-5afe-4c0d-a11e-0ff1ce5afe00"

_SHORT = re.compile(r"^(?:0x)?([0-9a-fA-F]{4}|[0-9a-fA-F]{8})$")


def sig_uuid(short: int) -> str:
    """The 128-bit form of a Bluetooth SIG 16-bit UUID, such as 0x2A37."""
    return f"{short:08x}{SIG_BASE_SUFFIX}"


def vendor_uuid(short: int) -> str:
    """The 128-bit form of an Officer Safety vendor UUID from its 16-bit slot."""
    return f"{VENDOR_BASE_PREFIX}{short:04x}{VENDOR_BASE_SUFFIX}"


def normalize_uuid(text: str) -> str:
    """Canonical lower-case 128-bit text for `2A37`, `0x2a37`, `00002a37` or a full UUID.

    Raises ValueError naming the text when it is none of those.
    """
    stripped = text.strip()
    short = _SHORT.match(stripped)
    if short:
        return sig_uuid(int(short.group(1), 16))
    try:
        return str(_uuid.UUID(stripped))
    except ValueError:
        raise ValueError(
            f"not a UUID: {text!r} (expected 4 hex digits such as 2A37, or a 128-bit UUID)"
        ) from None
