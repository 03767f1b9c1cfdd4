"""What an HTTP answer means for delivery, for every HTTP sink: one policy, per-sink tables."""

from __future__ import annotations

import pytest

from gateway.sinks.errors import DeliveryError, RejectedDeliveryError, RetryableDeliveryError
from gateway.sinks.http_outcome import OutcomePolicy, outcome
from gateway.sinks.influx import INFLUX_OUTCOMES
from gateway.sinks.webhook import WEBHOOK_OUTCOMES

POLICIES = [INFLUX_OUTCOMES, WEBHOOK_OUTCOMES]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_delivered(policy: OutcomePolicy, status: int) -> None:
    assert outcome(status, "", target="t", policy=policy, retry_after_s=None) is None


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("status", [400, 405, 409, 410, 413, 415, 422])
def test_statuses_that_mean_never_carry_the_servers_message(
    policy: OutcomePolicy, status: int
) -> None:
    error = outcome(
        status, "unable to parse 'x': bad timestamp\n", target="sink x", policy=policy,
        retry_after_s=None,
    )  # fmt: skip
    assert isinstance(error, RejectedDeliveryError)
    assert error.status == status
    assert error.server_message == "unable to parse 'x': bad timestamp"
    assert str(error) == (
        f"sink x refused the data with HTTP {status}: unable to parse 'x': bad timestamp"
    )


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(
    "status", [408, 425, 429, 500, 502, 503, 504, 401, 403, 404, 301, 307, 100]
)
def test_statuses_that_mean_later(policy: OutcomePolicy, status: int) -> None:
    error = outcome(status, "busy", target="sink x", policy=policy, retry_after_s=7.0)
    assert isinstance(error, RetryableDeliveryError)
    assert error.status == status
    assert error.retry_after_s == 7.0
    assert "sink x" in str(error)


@pytest.mark.parametrize("policy", POLICIES)
def test_the_decision_ignores_the_message_text(policy: OutcomePolicy) -> None:
    # A 500 whose text looks like a data error is still the server's fault, and vice versa.
    later = outcome(500, "unable to parse", target="t", policy=policy, retry_after_s=None)
    never = outcome(400, "timeout, try again", target="t", policy=policy, retry_after_s=None)
    assert isinstance(later, RetryableDeliveryError)
    assert isinstance(never, RejectedDeliveryError)


def test_configuration_faults_say_what_to_check_per_sink() -> None:
    for status in (401, 403, 404):
        influx = outcome(status, "x", target="t", policy=INFLUX_OUTCOMES, retry_after_s=None)
        webhook = outcome(status, "x", target="t", policy=WEBHOOK_OUTCOMES, retry_after_s=None)
        assert "check the [influx] settings" in str(influx)
        assert "shared secret" in str(webhook)
        assert "clock" in str(webhook)


def test_redirects_are_retried_and_explained() -> None:
    error = outcome(301, "", target="t", policy=WEBHOOK_OUTCOMES, retry_after_s=None)
    assert isinstance(error, RetryableDeliveryError)
    assert "redirects are not followed" in str(error)


@pytest.mark.parametrize(("policy", "cap_s"), [(INFLUX_OUTCOMES, 300.0), (WEBHOOK_OUTCOMES, 60.0)])
def test_retry_after_is_capped_per_sink(policy: OutcomePolicy, cap_s: float) -> None:
    error = outcome(503, "", target="t", policy=policy, retry_after_s=86_400)
    assert isinstance(error, RetryableDeliveryError)
    assert error.retry_after_s == cap_s


def test_long_server_messages_are_bounded() -> None:
    error = outcome(400, "x" * 10_000, target="t", policy=INFLUX_OUTCOMES, retry_after_s=None)
    assert isinstance(error, RejectedDeliveryError)
    assert len(error.server_message) == 2_000


def test_one_error_family() -> None:
    assert issubclass(RetryableDeliveryError, DeliveryError)
    assert issubclass(RejectedDeliveryError, DeliveryError)
    assert not issubclass(RejectedDeliveryError, RetryableDeliveryError)
