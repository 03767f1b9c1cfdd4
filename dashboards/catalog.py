"""Every dashboard Bluewatch ships, keyed by the file stem its JSON is committed under."""

from __future__ import annotations

from typing import Any


def build_all() -> dict[str, dict[str, Any]]:
    """Build each dashboard's JSON model (a dict Grafana's HTTP API and provisioning accept)."""
    return {}
