"""What the configuration refuses for safety: reserved ids, short tokens, secrets in output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway.cli import run
from gateway.config import MIN_TOKEN_BYTES, ConfigError, DispatchApiSettings, load_config
from gateway.secret_file import SecretError

BASE = """
agency = "metro-pd"
unit = "car-12"
"""
SECRET = "w" * 40


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return str(caught.value)


def test_the_officer_id_gateway_is_reserved(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[[officers]]\nid = "gateway"\n')
    assert "officers.0.id" in message
    assert "reserved" in message
    assert 'id = "gateway-1"' in message  # what to write instead
    load_config(write(tmp_path, '[[officers]]\nid = "gateway-1"\n'))


def test_a_dispatch_token_shorter_than_32_bytes_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    short = "x" * (MIN_TOKEN_BYTES - 1)
    message = refusal(tmp_path, f'[dispatch_api]\ntoken = "{short}"\n')
    assert "dispatch_api.token" in message
    assert f"at least {MIN_TOKEN_BYTES}" in message
    assert "openssl rand -hex" in message
    assert short not in message
    config = load_config(write(tmp_path, f'[dispatch_api]\ntoken = "{"x" * MIN_TOKEN_BYTES}"\n'))
    assert config.dispatch_api.secret() == "x" * MIN_TOKEN_BYTES


def test_a_short_dispatch_token_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dispatch.token"
    path.write_text("short-token\n")
    with pytest.raises(SecretError, match=f"{path}.*at least {MIN_TOKEN_BYTES}") as caught:
        DispatchApiSettings(token_file=path).secret()
    assert "short-token" not in str(caught.value)


def test_an_error_about_a_whole_section_does_not_print_its_secrets(tmp_path: Path) -> None:
    message = refusal(
        tmp_path,
        '[mqtt]\nhost = "127.0.0.1"\npassword = "hunter2-mqtt"\npassword_file = "/run/p"\n'
        '[influx]\napi = "v1"\nurl = "http://127.0.0.1:8086"\ndatabase = "d"\n'
        'password = "hunter2-influx"\n',
    )
    assert "give password or password_file, not both" in message
    assert "username and password must be given together" in message
    assert "hunter2" not in message


def test_a_single_refused_value_is_still_shown(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('agency = "metro-pd"\nunit = "car 12"\n')
    with pytest.raises(ConfigError, match=r"unit: .*\(got 'car 12'\)"):
        load_config(path)


def test_check_config_prints_webhook_urls_without_their_query(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[[webhooks]]\n"
        'name = "cad"\n'
        'url = "https://cad.example/hooks/bluewatch?api_key=k3y-in-the-query"\n'
        f'secret = "{SECRET}"\n',
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(["check-config", str(path)], io.StringIO(), out, err) == 0
    assert json.loads(out.getvalue())["webhooks"][0]["url"] == "https://cad.example/hooks/bluewatch"
    assert "k3y-in-the-query" not in out.getvalue() + err.getvalue()


def test_the_dispatch_api_cannot_take_the_metrics_port(tmp_path: Path) -> None:
    message = refusal(tmp_path, "[http]\nport = 9464\n[dispatch_api]\nport = 9464\n")
    assert "dispatch_api.port 9464 is [http]'s own" in message
    config = load_config(write(tmp_path, "[dispatch_api]\nport = 9465\n"))
    assert (config.dispatch_api.host, config.dispatch_api.port) == ("127.0.0.1", 9465)
