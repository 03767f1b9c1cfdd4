"""Addresses of the local services, from the variables `scripts/services` exports.

A developer who runs `pytest` without the services gets skips with the reason; under
`./run test` (BLUEWATCH_REQUIRE_SERVICES=1) a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _variables() -> dict[str, str]:
    """The environment, falling back to .run/services.env so a bare `pytest` finds the services."""
    found: dict[str, str] = {}
    env_file = ROOT / ".run" / "services.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0] if value else ""
    found.update({k: v for k, v in os.environ.items() if k.startswith("BLUEWATCH_")})
    return found


def _unavailable(reason: str) -> None:
    if os.environ.get("BLUEWATCH_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (./run test starts the services; see .run/*/ logs)")
    pytest.skip(f"{reason}: start them with `scripts/services start`")


def _require(name: str) -> str:
    value = _variables().get(name)
    if not value:
        _unavailable(f"{name} is not set")
    assert value is not None
    return value


def _reachable(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        _unavailable(f"nothing answers on {host}:{port} ({exc.strerror})")


def _http_endpoint(name: str) -> str:
    url = _require(name)
    parts = urlsplit(url)
    _reachable(parts.hostname or "127.0.0.1", parts.port or 80)
    return url


@dataclass(frozen=True)
class InfluxV1:
    url: str
    database: str


@dataclass(frozen=True)
class Mqtt:
    host: str
    plain_port: int
    auth_port: int
    tls_port: int
    username: str
    password: str
    ca_file: str


@pytest.fixture(scope="session")
def influxdb() -> InfluxV1:
    return InfluxV1(
        _http_endpoint("BLUEWATCH_INFLUXDB_URL"), _require("BLUEWATCH_INFLUXDB_DATABASE")
    )


@pytest.fixture(scope="session")
def victoria_metrics_url() -> str:
    return _http_endpoint("BLUEWATCH_VM_URL")


@pytest.fixture(scope="session")
def mqtt() -> Mqtt:
    host = _require("BLUEWATCH_MQTT_HOST")
    ports = [int(_require(f"BLUEWATCH_MQTT_{kind}PORT")) for kind in ("", "AUTH_", "TLS_")]
    for port in ports:
        _reachable(host, port)
    password = Path(_require("BLUEWATCH_MQTT_PASSWORD_FILE")).read_text().strip()
    return Mqtt(
        host,
        *ports,
        _require("BLUEWATCH_MQTT_USERNAME"),
        password,
        _require("BLUEWATCH_MQTT_CA_FILE"),
    )
