"""Secret files: one rule for every password, token and key, errors that never show the secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config import DispatchApiSettings
from gateway.secret_file import SecretError, read_secret, read_secret_text, require_length
from gateway.sinks.mqtt import MqttSettings

SECRET = "s3cret with inner spaces \u00e9, long enough for a token"


def test_only_the_trailing_line_ending_is_dropped(tmp_path: Path) -> None:
    for ending in ("", "\n", "\r\n", "\n\n"):
        path = tmp_path / "secret"
        path.write_bytes(SECRET.encode() + ending.encode())
        assert read_secret_text(path) == SECRET
    padded = tmp_path / "padded"
    padded.write_bytes(b" key \t\n")
    assert read_secret(padded) == b" key \t"


def test_an_unreadable_file_is_named_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(SecretError, match=re.escape(f"secret file {missing}: cannot read: No")):
        read_secret(missing)
    with pytest.raises(SecretError, match=re.escape(f"secret file {tmp_path}: cannot read")):
        read_secret(tmp_path)


def test_a_short_secret_is_refused_by_length_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_text("hunter2\n")
    assert read_secret(path) == b"hunter2"
    with pytest.raises(SecretError, match="has 7 bytes; at least 32") as caught:
        read_secret(path, min_bytes=32)
    assert str(path) in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert require_length(b"x" * 32, "inline", 32) == b"x" * 32


def test_text_that_is_not_utf8_is_refused_without_quoting_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "binary"
    path.write_bytes(b"ab\xfe\xffcd")
    with pytest.raises(SecretError, match=re.escape(f"secret file {path}: not UTF-8 text")) as e:
        read_secret_text(path)
    # Neither the message nor the chained decoder error (which quotes the byte) is shown.
    assert "0xfe" not in str(e.value)
    assert e.value.__cause__ is None
    assert e.value.__suppress_context__


def test_the_mqtt_password_and_the_dispatch_token_use_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    assert MqttSettings(host="broker", password_file=path).secret() == SECRET
    assert DispatchApiSettings(token_file=path).secret() == SECRET
    with pytest.raises(SecretError, match=re.escape(str(tmp_path / "gone"))):
        MqttSettings(host="broker", password_file=tmp_path / "gone").secret()
    with pytest.raises(SecretError, match=re.escape(str(tmp_path / "gone"))):
        DispatchApiSettings(token_file=tmp_path / "gone").secret()
