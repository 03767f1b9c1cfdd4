"""Retry-After, and the writers' settings (no I/O); status codes: test_http_outcome.py."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.sinks.http_outcome import parse_retry_after
from gateway.sinks.influx import (
    InfluxSettings,
    InfluxV1Settings,
    InfluxV1Writer,
    InfluxV2Settings,
    InfluxV2Writer,
    make_writer,
)

SECRET = "s3cr3t-P4ss"


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        (format_datetime(datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC), usegmt=True), 60.0),
        ("Fri, 02 Jan 2026 03:04:04 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # RFC 9110: delay-seconds is a non-negative integer
        ("²", None),
        ("Fri, 02 Jan 2026 03:04:04", None),  # no zone: not an HTTP-date
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now_epoch_s=NOW) == seconds


# --- settings ----------------------------------------------------------------------------------


def test_v1_defaults() -> None:
    settings = InfluxV1Settings(url="http://127.0.0.1:8086/", database="bluewatch")
    assert settings.url == "http://127.0.0.1:8086"
    assert settings.gzip is True
    assert settings.verify_tls is True
    assert settings.ca_file is None
    assert settings.timeout_s == 10.0
    assert settings.retention_policy is None


def test_configuration_selects_the_writer() -> None:
    adapter: TypeAdapter[InfluxV1Settings | InfluxV2Settings] = TypeAdapter(InfluxSettings)
    v1 = adapter.validate_python({"api": "v1", "url": "http://h:8086", "database": "d"})
    v2 = adapter.validate_python(
        {"api": "v2", "url": "https://h", "org": "o", "bucket": "b", "token": SECRET}
    )
    assert isinstance(make_writer(v1), InfluxV1Writer)
    assert isinstance(make_writer(v2), InfluxV2Writer)
    with pytest.raises(ValidationError, match="api"):
        adapter.validate_python({"api": "v3", "url": "http://h"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://h", "must be http:// or https://"),
        ("h:8086", "must be http:// or https://"),
        ("http://", "must be http:// or https://"),
        (f"http://admin:{SECRET}@h:8086", "must not carry credentials"),
        ("http://h:8086?db=x", "must not have a query"),
        ("http://h:80x", "port that is not a number"),
        ("http://h:99999", "port that is not a number"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        InfluxV1Settings(url=url, database="d")
    assert SECRET not in str(caught.value)


def test_username_and_password_go_together() -> None:
    with pytest.raises(ValidationError, match="username and password must be given together"):
        InfluxV1Settings(url="http://h", database="d", username="u")
    with pytest.raises(ValidationError, match="username and password must be given together"):
        InfluxV1Settings(url="https://h", database="d", password=SECRET)


def test_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="ca_file"):
        InfluxV2Settings(url="https://h", org="o", bucket="b", token="t", ca_file=tmp_path / "x")


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="tokn"):
        InfluxV2Settings(url="https://h", org="o", bucket="b", token="t", tokn="x")  # type: ignore[call-arg]


def test_secrets_stay_out_of_reprs_and_dumps() -> None:
    v1 = InfluxV1Settings(url="https://h", database="d", username="u", password=SECRET)
    v2 = InfluxV2Settings(url="https://h", org="o", bucket="b", token=SECRET)
    for text in (
        repr(v1), str(v1), repr(v2), str(v2), v1.model_dump_json(), v2.model_dump_json(),
        repr(InfluxV1Writer(v1)), repr(InfluxV2Writer(v2)), str(v1.model_dump()),
    ):  # fmt: skip
        assert SECRET not in text


def test_settings_are_frozen() -> None:
    settings = InfluxV1Settings(url="http://h", database="d")
    with pytest.raises(ValidationError):
        settings.database = "other"  # type: ignore[misc]


def test_tls_verification_is_on_unless_turned_off() -> None:
    assert (
        InfluxV2Settings(url="https://h", org="o", bucket="b", token="t")
        .ssl_context()
        .check_hostname
    )
    off = InfluxV2Settings(
        url="https://h", org="o", bucket="b", token="t", verify_tls=False, allow_insecure=True
    )
    assert not off.ssl_context().check_hostname
