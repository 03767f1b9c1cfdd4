"""The dashboards as built: committed JSON up to date, one datasource, consistent variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboards.catalog import build_all
from dashboards.datasource import DATASOURCE_TYPE, DATASOURCE_UID
from dashboards.generate import JSON_FOLDER, REGENERATE, render, write_dashboards
from dashboards.influxql import variables_in
from tests.dashboards.dashboard_json import all_queries, panels

# What grafana-foundation-sdk 11.6 emits: Grafana 11.6 migrates anything older on load.
SCHEMA_VERSION = 41
DASHBOARDS = build_all()
STEMS = sorted(DASHBOARDS)


def test_the_three_dashboards() -> None:
    assert STEMS == [
        "bluewatch-fleet-overview",
        "bluewatch-gateway-health",
        "bluewatch-officer-detail",
    ]


@pytest.mark.parametrize("stem", STEMS)
def test_committed_json_is_what_the_builders_produce(stem: str) -> None:
    path = JSON_FOLDER / f"{stem}.json"
    assert path.exists(), f"{path} is missing: run `{REGENERATE}`"
    assert path.read_text(encoding="utf-8") == render(DASHBOARDS[stem]), (
        f"{path} differs from what dashboards/ builds: run `{REGENERATE}` and commit the result"
    )


def test_no_stray_committed_json() -> None:
    committed = {p.stem for p in JSON_FOLDER.glob("*.json")}
    assert committed == set(STEMS), f"remove or regenerate: run `{REGENERATE}`"


def test_write_dashboards(tmp_path: Path) -> None:
    written = write_dashboards(tmp_path)
    assert sorted(p.name for p in written) == [f"{stem}.json" for stem in STEMS]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert text == (JSON_FOLDER / path.name).read_text(encoding="utf-8")


@pytest.mark.parametrize("stem", STEMS)
def test_schema_version(stem: str) -> None:
    assert DASHBOARDS[stem]["schemaVersion"] == SCHEMA_VERSION


@pytest.mark.parametrize("stem", STEMS)
def test_uid_is_the_file_stem(stem: str) -> None:
    assert DASHBOARDS[stem]["uid"] == stem
    assert len(stem) <= 40  # Grafana's limit on dashboard uids


def test_uids_and_titles_unique() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    titles = [d["title"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)
    assert len(set(titles)) == len(titles)


def _datasource_refs(stem: str) -> list[tuple[str, Any]]:
    dashboard = DASHBOARDS[stem]
    refs: list[tuple[str, Any]] = []
    for panel in panels(dashboard):
        refs.append((f"panel {panel['title']}", panel.get("datasource")))
        if not panel.get("targets"):
            refs.append((f"panel {panel['title']} has no targets", None))
        refs += [
            (f"panel {panel['title']} target {t['refId']}", t.get("datasource"))
            for t in panel.get("targets", [])
        ]
    for variable in dashboard["templating"]["list"]:
        refs.append((f"variable {variable['name']}", variable.get("datasource")))
    for annotation in dashboard["annotations"]["list"]:
        refs.append((f"annotation {annotation['name']}", annotation.get("datasource")))
        refs.append((f"annotation {annotation['name']} target", annotation["target"]["datasource"]))
    return refs


@pytest.mark.parametrize("stem", STEMS)
def test_everything_queries_the_bluewatch_datasource(stem: str) -> None:
    expected = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
    wrong = [where for where, ref in _datasource_refs(stem) if ref != expected]
    assert not wrong, f"not on {DATASOURCE_UID}: {wrong}"


@pytest.mark.parametrize("stem", STEMS)
def test_panel_ids_unique_and_panels_titled(stem: str) -> None:
    found = list(panels(DASHBOARDS[stem]))
    ids = [p["id"] for p in found]
    assert len(set(ids)) == len(ids)
    assert all(p.get("title") and p.get("description") for p in found)


@pytest.mark.parametrize("stem", STEMS)
def test_target_ref_ids_unique_per_panel(stem: str) -> None:
    for panel in panels(DASHBOARDS[stem]):
        ref_ids = [t["refId"] for t in panel.get("targets", [])]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]


@pytest.mark.parametrize("stem", STEMS)
def test_every_variable_used_is_defined(stem: str) -> None:
    dashboard = DASHBOARDS[stem]
    defined = [v["name"] for v in dashboard["templating"]["list"]]
    for query in all_queries(stem, dashboard):
        if query.where.startswith("variable "):
            # A chained variable may only use the variables before it.
            own = query.where.removeprefix("variable ")
            allowed = set(defined[: defined.index(own)])
        else:
            allowed = set(defined)
        missing = variables_in(query.text) - allowed
        assert not missing, f"{query.id} uses undefined {missing}"


@pytest.mark.parametrize("stem", STEMS)
def test_scope_variables_chain_and_allow_all(stem: str) -> None:
    variables = {v["name"]: v for v in DASHBOARDS[stem]["templating"]["list"]}
    assert list(variables) == ["agency", "unit", "officer"]
    for variable in variables.values():
        assert variable["type"] == "query"
        assert variable["multi"] is True
        assert variable["includeAll"] is True
        assert variable["allValue"] == ".*"
        assert variable["query"].startswith("SHOW TAG VALUES WITH KEY = ")
    assert 'WHERE "agency" =~ /^$agency$/ AND "unit" =~ /^$unit$/' in variables["officer"]["query"]


@pytest.mark.parametrize("stem", STEMS)
def test_panel_queries_are_bounded_by_the_time_range(stem: str) -> None:
    for query in all_queries(stem, DASHBOARDS[stem]):
        if not query.where.startswith("variable "):
            assert "$timeFilter" in query.text, query.id


def test_fleet_officer_table_joins_by_officer() -> None:
    fleet = DASHBOARDS["bluewatch-fleet-overview"]
    table = next(p for p in panels(fleet) if p["title"] == "Officers")
    steps = [t["id"] for t in table["transformations"]]
    assert steps == ["organize", "joinByField", "organize"]
    assert all(t["resultFormat"] == "table" for t in table["targets"])
    assert all('GROUP BY "officer"' in t["query"] for t in table["targets"])


def test_officer_status_and_time_to_ack_are_shown() -> None:
    """The new officer_status rows and time_to_ack_s drive the fleet view's colours."""
    text = render(DASHBOARDS["bluewatch-fleet-overview"])
    assert '\\"officer_status\\"' in text
    assert "time_to_ack_s" in text
