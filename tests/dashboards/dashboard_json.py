"""Walks the generated dashboard JSON: panels, their queries, and the columns they rely on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Query:
    """One InfluxQL text a dashboard makes Grafana run, with where it comes from."""

    dashboard: str
    where: str  # panel title, "variable officer" or "annotation Alerts"
    ref_id: str
    text: str
    result_format: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.where}/{self.ref_id}"


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries(stem: str, dashboard: dict[str, Any]) -> Iterator[Query]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield Query(
                stem, panel["title"], target["refId"], target["query"], target["resultFormat"]
            )


def variable_queries(stem: str, dashboard: dict[str, Any]) -> Iterator[Query]:
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield Query(stem, f"variable {variable['name']}", "var", variable["query"], "table")


def annotation_queries(stem: str, dashboard: dict[str, Any]) -> Iterator[Query]:
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "query" in annotation:
            yield Query(
                stem, f"annotation {annotation['name']}", "anno", annotation["query"], "table"
            )


def all_queries(stem: str, dashboard: dict[str, Any]) -> Iterator[Query]:
    yield from panel_queries(stem, dashboard)
    yield from variable_queries(stem, dashboard)
    yield from annotation_queries(stem, dashboard)


def mapped_columns(panel: dict[str, Any]) -> set[str]:
    """Columns a panel refers to by name: overrides, join and organize fields, map coordinates.

    Each must come back from one of the panel's queries, or the panel silently shows nothing
    (an override on a missing field is ignored; a join on it yields no rows).
    """
    names: set[str] = set()
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        if override["matcher"]["id"] == "byName":
            names.add(override["matcher"]["options"])
    for step in panel.get("transformations", []):
        options = step.get("options") or {}
        if step["id"] == "joinByField":
            names.add(options["byField"])
        if step["id"] == "organize":
            names |= set(options.get("indexByName", {}))
    for layer in panel.get("options", {}).get("layers", []):
        location = layer.get("location") or {}
        names |= {location[k] for k in ("latitude", "longitude") if k in location}
        style = (layer.get("config") or {}).get("style", {})
        names |= {v["field"] for v in style.values() if isinstance(v, dict) and "field" in v}
    return names - {"Time"}


def join_fields(panel: dict[str, Any], ref_id: str) -> set[str]:
    """Fields a panel joins the query `ref_id` on: the query must return them. A join limited to
    some queries (a `byRefId` filter, a name or a /regex/, as Grafana matches it) counts for
    those only."""
    fields = set()
    for step in panel.get("transformations", []):
        if step["id"] != "joinByField":
            continue
        only = step.get("filter")
        if only is not None and only["id"] == "byRefId":
            pattern = only["options"]
            matches = (
                re.search(pattern[1:-1], ref_id) is not None
                if pattern.startswith("/") and pattern.endswith("/")
                else pattern == ref_id
            )
            if not matches:
                continue
        fields.add(step["options"]["byField"])
    return fields


def annotation_columns(annotation: dict[str, Any]) -> set[str]:
    tags = annotation.get("tagsColumn", "")
    return {annotation["textColumn"], *(t.strip() for t in tags.split(",") if t.strip())}
