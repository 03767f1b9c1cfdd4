"""A vehicle's /etc/bluewatch in a temporary folder: the example configuration, its secret
files, a private CA, and the variables the unit gives the daemon.

The example names files under /etc/bluewatch; here they live in the folder instead, with
the same names, so the configuration is checked exactly as written apart from that prefix.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLE_TOML = DEPLOY / "gateway.example.toml"
EXAMPLE_ENV = DEPLOY / "gateway.example.env"
UNIT = DEPLOY / "bluewatch.service"
CONFIG_DIR = "/etc/bluewatch/"


def assignments(lines: list[str]) -> dict[str, str]:
    """`NAME=value` lines, as systemd reads an EnvironmentFile or Environment= settings."""
    found: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            found[name] = value
    return found


def unit_environment(unit_text: str) -> dict[str, str]:
    """The variables the unit's Environment= lines set."""
    return assignments(
        [
            line.removeprefix("Environment=")
            for line in unit_text.splitlines()
            if line.startswith("Environment=")
        ]
    )


@dataclass(frozen=True)
class VehicleSite:
    """Paths of one materialised site and the secrets written into it."""

    config: Path
    folder: Path
    secrets: dict[str, str]
    environment: dict[str, str]


def make_site(folder: Path) -> VehicleSite:
    """Write the example configuration with every file it names present in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "dispatch.token": secrets.token_hex(32),
        "cad.secret": secrets.token_hex(32),
        "mqtt.password": secrets.token_urlsafe(24),
    }
    for name, value in written.items():
        path = folder / name
        path.write_text(value + "\n")  # as `openssl rand -hex 32 > file` writes it
        path.chmod(0o600)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Example agency CA",
            "-keyout",
            str(folder / "agency-ca.key"),
            "-out",
            str(folder / "agency-ca.pem"),
        ],
        check=True,
        capture_output=True,
    )
    config = folder / "gateway.toml"
    config.write_text(EXAMPLE_TOML.read_text().replace(CONFIG_DIR, f"{folder}/"))
    environment = unit_environment(UNIT.read_text())
    environment.update(assignments(EXAMPLE_ENV.read_text().splitlines()))
    return VehicleSite(config, folder, written, environment)
