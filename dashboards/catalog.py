"""Every dashboard Bluewatch ships, keyed by the file stem its JSON is committed under."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import fleet, gateway_health, officer

# File stem → builder. The stem is also the dashboard uid, so a provisioned file, a pushed
# dashboard and a link between dashboards all name the same thing.
BUILDERS: Final[dict[str, Callable[[], dashboard_builders.Dashboard]]] = {
    fleet.UID: fleet.build,
    officer.UID: officer.build,
    gateway_health.UID: gateway_health.build,
}


def to_json(builder: dashboard_builders.Dashboard) -> dict[str, Any]:
    """The dashboard JSON model through the SDK's encoder, with stable panel ids.

    The SDK leaves panel ids to Grafana, which numbers them on load; numbering them here keeps
    links to a panel (`viewPanel=`) and the committed JSON the same from build to build.
    """
    model = builder.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    encoded: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return encoded


def build_all() -> dict[str, dict[str, Any]]:
    """Build each dashboard's JSON model (a dict Grafana's HTTP API and provisioning accept)."""
    return {stem: to_json(build()) for stem, build in BUILDERS.items()}
