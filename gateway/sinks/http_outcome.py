"""What an HTTP answer means for delivery: retry later, or never. One policy, per-sink tables.

Every HTTP sink (InfluxDB v1 and v2, dispatch webhooks) asks `outcome()` what to do with a
status code; the decision rests on the status code and the exception type alone, never on the
text of a message. Where sinks really differ (how long a Retry-After is honoured, what to tell
the operator about a configuration fault) they differ in their `OutcomePolicy`, not in code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

from gateway.sinks.errors import DeliveryError, RejectedDeliveryError, RetryableDeliveryError

# 408 Request Timeout (RFC 9110 15.5.9), 425 Too Early (RFC 8470 5.2) and 429 Too Many
# Requests (RFC 6585 4) are the 4xx codes that mean "later", not "never".
RETRYABLE_CLIENT_STATUSES: Final = frozenset({408, 425, 429})
# 401 and 403 (credentials, signature or clock refused) and 404 (a wrong url, database or
# bucket) are faults of the configuration, not of the data: every batch would be refused alike,
# so quarantining them one by one would lose a whole shift. They are retried (loudly) and the
# data waits in the outbox, in order, until the fault is fixed.
CONFIGURATION_STATUSES: Final = frozenset({401, 403, 404})
# Enough of an answer to hold a server's explanation (InfluxDB echoes a refused line),
# bounded against a misbehaving server and for logs.
MAX_MESSAGE_CHARS: Final = 2_000


@dataclass(frozen=True)
class OutcomePolicy:
    """What differs between sinks: the Retry-After cap and the hint for configuration faults."""

    # A wrong header from a proxy must not stall the uplink for hours (the outbox holds the data
    # meanwhile); an alert must not wait more than a minute on a receiver's say-so.
    retry_after_cap_s: float
    configuration_hint: str


def outcome(
    status: int, message: str, *, target: str, policy: OutcomePolicy, retry_after_s: float | None
) -> DeliveryError | None:
    """None for a 2xx; otherwise the delivery error this status means, by its code alone."""
    if 200 <= status < 300:
        return None
    text = message.strip()[:MAX_MESSAGE_CHARS] or "(no message)"
    wait = None if retry_after_s is None else min(retry_after_s, policy.retry_after_cap_s)
    if status in CONFIGURATION_STATUSES:
        return RetryableDeliveryError(
            f"{target} answered HTTP {status}; {policy.configuration_hint}: {text}",
            retry_after_s=wait,
            status=status,
        )
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES:
        return RejectedDeliveryError(
            f"{target} refused the data with HTTP {status}: {text}",
            status=status,
            server_message=text,
        )
    if 300 <= status < 400:
        # Redirects are never followed: data, and a signed alert above all, goes only where it
        # was configured to go.
        return RetryableDeliveryError(
            f"{target} answered HTTP {status}; redirects are not followed, so set the url to "
            "the new address",
            retry_after_s=wait,
            status=status,
        )
    return RetryableDeliveryError(
        f"{target} failed with HTTP {status}: {text}", retry_after_s=wait, status=status
    )


def transport_error(target: str, exc: BaseException, timeout_s: float) -> RetryableDeliveryError:
    """The error for a failure below HTTP: timeouts, refused, reset or failed connections."""
    if isinstance(exc, TimeoutError):
        return RetryableDeliveryError(f"{target}: no answer within {timeout_s:g} s")
    return RetryableDeliveryError(f"{target}: {type(exc).__name__}: {exc}")


def parse_retry_after(value: str | None, *, now_epoch_s: float) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 10.2.3: delay-seconds or HTTP-date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 5.6.7: HTTP-dates are in GMT
        return None
    return max(0.0, when.timestamp() - now_epoch_s)


async def read_bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """At most `limit` bytes of a body: enough to explain an error, never a flood in memory."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])
