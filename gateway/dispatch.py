"""The dispatch webhook contract: signing, verification and de-duplication (pure, no I/O).

Both ends live here so the scheme is written once: the gateway's webhook sink signs with
`sign_headers`, and a receiver (`bluewatch dispatch-sink`, or a dispatch centre's own code)
checks a request with `verify` and drops redeliveries with a `Deduplicator`.

The scheme follows Stripe's webhook signatures. The sender puts the current Unix time in
`X-Bluewatch-Timestamp` and `v1=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>` in
`X-Bluewatch-Signature`. Signing the timestamp with the body lets a receiver refuse a captured
request replayed later (outside a tolerance, 300 s by default); the `Idempotency-Key` (also in
the signed body) lets it drop the redeliveries that at-least-once delivery brings.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from gateway.secret_file import read_secret, require_length

TIMESTAMP_HEADER: Final = "X-Bluewatch-Timestamp"
SIGNATURE_HEADER: Final = "X-Bluewatch-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
SIGNATURE_SCHEME: Final = "v1"
# Stripe's default: wide enough for a vehicle clock a little off and a slow retry, narrow
# enough that a captured request is useless minutes later.
DEFAULT_TOLERANCE_S: Final = 300.0
# RFC 2104 section 3: keys shorter than the hash output (32 bytes for SHA-256) weaken the
# MAC and are "strongly discouraged".
MIN_SECRET_BYTES: Final = 32
# Unix seconds have 10 digits until the year 2286; a longer timestamp is refused before int()
# reads it (Python refuses over 4,300 digits with a ValueError, and a long one overflows the
# float arithmetic of the tolerance check).
MAX_TIMESTAMP_DIGITS: Final = 12


class VerificationError(Exception):
    """A request that must not be trusted; the subclass says why (the text never shows secrets)."""


class MissingHeaderError(VerificationError):
    """A signing header is absent."""


class MalformedHeaderError(VerificationError):
    """A signing header is present but cannot be read (or is given twice)."""


class BadSignatureError(VerificationError):
    """No signature matches the body and timestamp: wrong secret, or the request was altered."""


class StaleTimestampError(VerificationError):
    """Authentic, but signed too long ago (a replay) or too far in the future (a skewed clock)."""

    def __init__(self, message: str, skew_s: float) -> None:
        super().__init__(message)
        self.skew_s = skew_s


def check_secret(secret: bytes, where: str) -> bytes:
    """Return `secret` if it is long enough to key HMAC-SHA256 safely; else SecretError."""
    return require_length(secret, where, MIN_SECRET_BYTES)


def read_secret_file(path: Path) -> bytes:
    """The signing secret in `path` (gateway/secret_file.py's rule), checked like `check_secret`."""
    return read_secret(path, MIN_SECRET_BYTES)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 (RFC 2104) of `f"{timestamp}."` followed by the body."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_headers(secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers that authenticate `body` as sent at `timestamp` (Unix seconds)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_SCHEME}={signature(secret, timestamp, body)}",
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    """One header by case-insensitive name; absent or repeated ones are errors."""
    values = [value for key, value in headers.items() if key.lower() == name.lower()]
    if not values:
        raise MissingHeaderError(f"missing header {name}")
    if len(values) > 1:
        raise MalformedHeaderError(f"header {name} appears {len(values)} times")
    return values[0].strip()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: bytes,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Return if `body` was signed with `secret` within `tolerance_s` of `now_s`; else raise.

    `headers` may be any mapping (names are matched case-insensitively). The signature header
    may carry several comma-separated `v1=` entries (a sender rotating its secret); one match
    is enough. The signature is checked before the timestamp, so a StaleTimestampError is
    only ever raised for an authentic request: a replay, or a clock that is far off.
    """
    stamp_text = _header(headers, TIMESTAMP_HEADER)
    signature_text = _header(headers, SIGNATURE_HEADER)
    if not (
        len(stamp_text) <= MAX_TIMESTAMP_DIGITS and stamp_text.isascii() and stamp_text.isdigit()
    ):
        raise MalformedHeaderError(
            f"{TIMESTAMP_HEADER} must be whole Unix seconds (at most {MAX_TIMESTAMP_DIGITS} "
            f"digits), got {stamp_text[:40]!r}"
        )
    timestamp = int(stamp_text)
    offered = [
        value.strip()
        for scheme, _, value in (
            entry.strip().partition("=") for entry in signature_text.split(",")
        )
        if scheme == SIGNATURE_SCHEME
    ]
    if not offered:
        raise MalformedHeaderError(
            f"{SIGNATURE_HEADER} has no {SIGNATURE_SCHEME}= entry "
            f"(expected {SIGNATURE_SCHEME}=<hex HMAC-SHA256>)"
        )
    expected = signature(secret, timestamp, body)
    # compare_digest: the time taken must not tell an attacker how many characters matched.
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise BadSignatureError(
            f"{SIGNATURE_HEADER} does not match the body and timestamp "
            "(wrong secret, or the request was altered)"
        )
    skew = now_s - timestamp
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        raise StaleTimestampError(
            f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {direction}; the tolerance is "
            f"{tolerance_s:g} s (a replayed request, or a clock that is off)",
            skew_s=skew,
        )


class Deduplicator:
    """The idempotency keys handled lately, bounded: the oldest are forgotten first.

    At-least-once delivery resends a request whose answer was lost; the gateway resends soon
    (seconds to minutes), so a memory of the last `capacity` keys catches every redelivery
    while a receiver that runs for months stays within a fixed size. Check with `in` before
    handling a request and `remember` the key only once it is handled: a key remembered
    before a failure would turn the sender's retry into a silently dropped alert.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def remember(self, key: str) -> None:
        """Record `key` as handled, forgetting the oldest key beyond `capacity`."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
