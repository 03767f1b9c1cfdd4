"""Unprotected transport to a remote host is refused unless `allow_insecure = true`, which warns.

Loopback hosts (the demo and the end-to-end tests) are always allowed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.cli import run
from gateway.config import ConfigError, insecure_warnings, load_config

BASE = 'agency = "metro-pd"\nunit = "car-12"\n'
SECRET = "w" * 40

INFLUX_V1_HTTP = '[influx]\napi = "v1"\nurl = "http://{host}:8086"\ndatabase = "d"\n'
INFLUX_V1_CREDS = 'username = "gw"\npassword = "influx-password"\n'
INFLUX_V2 = '[influx]\napi = "v2"\nurl = "{scheme}://{host}:8086"\norg = "o"\nbucket = "b"\n'
INFLUX_V2_TOKEN = 'token = "influx-token"\n'
MQTT = '[mqtt]\nhost = "{host}"\nport = 1883\ntls = false\npassword = "mqtt-password"\n'
WEBHOOK = (
    '[[webhooks]]\nname = "cad"\nurl = "https://{host}/alerts"\n'
    f'secret = "{SECRET}"\nverify_tls = false\n'
)

# (configuration with {host}, the key the error names, the text saying what to write instead)
REFUSED = [
    (INFLUX_V1_HTTP + INFLUX_V1_CREDS, "influx.v1", 'url = "https://..."'),
    (INFLUX_V2.replace("{scheme}", "http") + INFLUX_V2_TOKEN, "influx.v2", 'url = "https://..."'),
    (
        INFLUX_V2.replace("{scheme}", "https") + INFLUX_V2_TOKEN + "verify_tls = false\n",
        "influx.v2",
        "verify_tls = true",
    ),
    (MQTT, "mqtt", "tls = true"),
    (MQTT.replace('password = "mqtt-password"', 'password_file = "/run/p"'), "mqtt", "tls = true"),
    (WEBHOOK, "webhooks.0", "verify_tls = true"),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + text)
    return path


@pytest.mark.parametrize(("section", "key", "instead"), REFUSED)
def test_refused_for_a_remote_host_naming_the_key_and_what_to_write(
    tmp_path: Path, section: str, key: str, instead: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, section.replace("{host}", "db.metro-pd.example")))
    message = str(caught.value)
    assert f"{key}: " in message
    assert "db.metro-pd.example, which is not a loopback host" in message
    assert f"write {instead}" in message
    assert "allow_insecure = true" in message
    assert "password" not in message.replace("a password is set", "")
    assert "influx-token" not in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
@pytest.mark.parametrize(("section", "key", "instead"), REFUSED)
def test_loopback_hosts_stay_allowed(
    tmp_path: Path, section: str, key: str, instead: str, host: str
) -> None:
    in_url = f"[{host}]" if ":" in host else host
    text = section.replace("://{host}", f"://{in_url}").replace("{host}", host)
    config = load_config(write(tmp_path, text))
    assert insecure_warnings(config) == []


@pytest.mark.parametrize(("section", "key", "instead"), REFUSED)
def test_allow_insecure_accepts_it_and_warns(
    tmp_path: Path, section: str, key: str, instead: str
) -> None:
    # allow_insecure goes in the section's own table, right after its header line.
    header, rest = section.split("\n", 1)
    text = f"{header}\nallow_insecure = true\n{rest}".replace("{host}", "db.metro-pd.example")
    path = write(tmp_path, text)
    config = load_config(path)
    (warning,) = insecure_warnings(config)
    assert "allow_insecure = true" in warning
    out, err = io.StringIO(), io.StringIO()
    assert run(["check-config", str(path)], io.StringIO(), out, err) == 0
    assert f"warning: {warning}\n" in err.getvalue()


def test_plain_http_without_credentials_and_https_with_them_are_fine(tmp_path: Path) -> None:
    remote = "db.metro-pd.example"
    load_config(write(tmp_path, INFLUX_V1_HTTP.replace("{host}", remote)))
    load_config(
        write(
            tmp_path,
            INFLUX_V1_HTTP.replace("http://", "https://").replace("{host}", remote)
            + INFLUX_V1_CREDS,
        )
    )
    load_config(
        write(tmp_path, MQTT.replace("tls = false", "tls = true").replace("{host}", remote))
    )


def test_bluewatch_run_logs_the_warning_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path,
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
        '[ble]\nbackend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9"\n'
        + MQTT.replace("tls = false", "tls = false\nallow_insecure = true").replace(
            "{host}", "broker.metro-pd.example"
        ),
    )
    # The BLE transport is unreachable, so the daemon stops at once: after the warning.
    run(["run", "--config", str(config)], io.StringIO(), io.StringIO(), io.StringIO())
    assert "[mqtt]: allow_insecure = true" in capsys.readouterr().err
