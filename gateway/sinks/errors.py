"""The one error family of delivery: every sink, writer and HTTP answer raises one of these.

Two questions decide what the delivery loop does with a batch that did not land, and the error
type answers both: send the same batch again later (`RetryableDeliveryError`), or never
(`RejectedDeliveryError`: the delivery loop sets the refused points aside in quarantine).
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A sink could not take a batch (the root of the family)."""


class RetryableDeliveryError(DeliveryError):
    """The sink is unavailable (down, overloaded, unreachable, misconfigured): try again later.

    `retry_after_s` is the server's own Retry-After, already capped by the sink's policy;
    `status` the HTTP status when there was an answer.
    """

    def __init__(
        self, message: str, *, retry_after_s: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status


class RejectedDeliveryError(DeliveryError):
    """The sink refused the data itself (HTTP 4xx, or a point it cannot encode): sending the
    same points again cannot succeed. `server_message` is the server's own words, if any."""

    def __init__(
        self, message: str, *, status: int | None = None, server_message: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
