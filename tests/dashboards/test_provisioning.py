"""The Grafana provisioning files: they parse, carry what Grafana requires, hold no secrets,
and the copy committed under dashboards/provisioning/ is what `bluewatch dashboards build` writes.

The files are parsed with PyYAML, independently of the writer in dashboards/provisioning.py,
and the `$VARIABLE` references are expanded the way Grafana expands them, to check that the
values Grafana ends up with are the intended ones.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import provisioning
from dashboards.catalog import build_all
from dashboards.datasource import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID
from gateway.cli import run
from tests.dashboards.grafana_fakes import fake_catalogue

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "dashboards" / "provisioning"
REGENERATE = "run .venv/bin/bluewatch dashboards build from the repository root"
FAKE_CATALOGUE = "tests.dashboards.grafana_fakes:fake_catalogue"
# What a secret-bearing value may be in a file: a reference to Grafana's environment.
VARIABLE_REFERENCE = re.compile(r"(Token )?\$[A-Z][A-Z0-9_]*")


def grafana_expand(value: str, environment: dict[str, str]) -> str:
    """Grafana's expansion of provisioning values: `${NAME}` first, then `$NAME`."""
    braced = re.sub(r"\$\{(\w+)\}", lambda m: environment.get(m[1], ""), value)
    return re.sub(r"\$(\w+)", lambda m: environment.get(m[1], ""), braced)


def parse(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def files_on_disk(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("version", [1, 2])
def test_datasource_file_has_what_grafana_requires(version: provisioning.InfluxVersion) -> None:
    tree = provisioning.build_tree({}, version=version)
    document = parse(tree[provisioning.DATASOURCE_FILE])
    assert document["apiVersion"] == 1
    [source] = document["datasources"]
    assert source["name"] == DATASOURCE_NAME
    assert source["type"] == DATASOURCE_TYPE == "influxdb"
    assert source["uid"] == DATASOURCE_UID
    assert source["access"] == "proxy"
    assert source["orgId"] == 1
    assert source["editable"] is False
    assert source["isDefault"] is False
    assert source["url"] == "$BLUEWATCH_INFLUXDB_URL"
    json_data = source["jsonData"]
    assert json_data["version"] == "InfluxQL"
    assert json_data["dbName"] == "bluewatch"
    assert json_data["httpMode"] in {"GET", "POST"}
    if version == 1:
        assert source["user"] == "$BLUEWATCH_INFLUXDB_USER"
        assert source["secureJsonData"] == {"password": "$BLUEWATCH_INFLUXDB_PASSWORD"}
        assert "httpHeaderName1" not in json_data
    else:
        assert "user" not in source
        assert json_data["httpHeaderName1"] == "Authorization"
        assert source["secureJsonData"] == {"httpHeaderValue1": "Token $BLUEWATCH_INFLUXDB_TOKEN"}
        assert "influx v1 dbrp create --db bluewatch" in tree[provisioning.DATASOURCE_FILE]


@pytest.mark.parametrize("version", [1, 2])
def test_grafana_expands_the_references_to_the_intended_values(
    version: provisioning.InfluxVersion,
) -> None:
    environment = {
        "BLUEWATCH_INFLUXDB_URL": "https://influxdb.example.org:8086",
        "BLUEWATCH_INFLUXDB_USER": "grafana",
        # `$` inside a value: the unbraced form keeps Grafana from expanding it a second time.
        "BLUEWATCH_INFLUXDB_PASSWORD": "pa$sw0rd",
        "BLUEWATCH_INFLUXDB_TOKEN": "abc==",
    }
    [source] = parse(provisioning.build_tree({}, version=version)[provisioning.DATASOURCE_FILE])[
        "datasources"
    ]
    assert grafana_expand(source["url"], environment) == "https://influxdb.example.org:8086"
    secure = {k: grafana_expand(v, environment) for k, v in source["secureJsonData"].items()}
    if version == 1:
        assert grafana_expand(source["user"], environment) == "grafana"
        assert secure == {"password": "pa$sw0rd"}
        # Through a `${...}` reference the inserted `$sw0rd` would be expanded a second time.
        assert grafana_expand("${BLUEWATCH_INFLUXDB_PASSWORD}", environment) == "pa"
        assert "${" not in provisioning.build_tree({})[provisioning.DATASOURCE_FILE]
    else:
        assert secure == {"httpHeaderValue1": "Token abc=="}


def test_provider_file_has_what_grafana_requires() -> None:
    document = parse(provisioning.build_tree({})[provisioning.PROVIDER_FILE])
    assert document["apiVersion"] == 1
    [provider] = document["providers"]
    assert provider["name"] == "Bluewatch"
    assert provider["type"] == "file"
    assert provider["folder"] == "Bluewatch"
    assert provider["folderUid"] == "bluewatch"
    assert provider["disableDeletion"] is True
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards/bluewatch"


@pytest.mark.parametrize("version", [1, 2])
def test_no_secret_is_written_into_a_file(version: provisioning.InfluxVersion) -> None:
    tree = provisioning.build_tree(build_all(), version=version)
    [source] = parse(tree[provisioning.DATASOURCE_FILE])["datasources"]
    for key, value in [*source.get("secureJsonData", {}).items(), ("user", source.get("user"))]:
        if value is not None:
            assert VARIABLE_REFERENCE.fullmatch(value), f"{key} holds a literal value"
    assert "password" not in source  # the deprecated clear-text field
    for name, text in tree.items():
        assert not re.search(r"(?i)(password|token)\s*[:=]\s*[\"']?[A-Za-z0-9]", text), name


def test_committed_build_is_up_to_date() -> None:
    expected = provisioning.build_tree(build_all())
    committed = files_on_disk(COMMITTED)
    assert sorted(committed) == sorted(expected), (
        f"dashboards/provisioning/ has other files than the build; regenerate: {REGENERATE}"
    )
    stale = [name for name in expected if committed[name] != expected[name]]
    assert stale == [], (
        f"dashboards/provisioning/ is out of date ({stale}); regenerate: {REGENERATE}"
    )


def build(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(["dashboards", "build", *args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_build_writes_the_layout_and_removes_stale_dashboards(tmp_path: Path) -> None:
    stale = tmp_path / "dashboards" / "bluewatch" / "removed.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    keep = tmp_path / "dashboards" / "bluewatch" / "README.txt"
    keep.write_text("not ours")

    status, out, err = build("--out", str(tmp_path), "--catalogue", FAKE_CATALOGUE)
    assert status == 0, err
    assert not stale.exists()
    assert keep.exists()
    written = [json.loads(line)["wrote"] for line in out.splitlines()]
    assert sorted(Path(name).relative_to(tmp_path).as_posix() for name in written) == [
        "dashboards/bluewatch.yaml",
        "dashboards/bluewatch/alpha.json",
        "dashboards/bluewatch/beta.json",
        "datasources/bluewatch.yaml",
    ]
    alpha = (tmp_path / "dashboards" / "bluewatch" / "alpha.json").read_text()
    assert alpha == json.dumps(fake_catalogue()["alpha"], indent=2, sort_keys=True) + "\n"


def test_build_for_influxdb_2_with_a_literal_url(tmp_path: Path) -> None:
    status, _, err = build(
        "--out",
        str(tmp_path),
        "--influxdb",
        "2",
        "--url",
        "https://influxdb.example.org:8086",
        "--database",
        "fleet",
        "--catalogue",
        FAKE_CATALOGUE,
    )
    assert status == 0, err
    [source] = parse((tmp_path / provisioning.DATASOURCE_FILE).read_text())["datasources"]
    assert source["url"] == "https://influxdb.example.org:8086"
    assert source["jsonData"]["dbName"] == "fleet"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"


def test_build_refuses_plain_http_to_another_host(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--url", "http://influxdb.example.org:8086"]
    status, _, err = build(*args, "--catalogue", FAKE_CATALOGUE)
    assert status == 2
    assert "plain http to another host" in err
    assert not (tmp_path / "datasources").exists()
    assert build(*args, "--insecure-http", "--catalogue", FAKE_CATALOGUE)[0] == 0
    # The local demo's InfluxDB on loopback needs no opt-in.
    local = ["--out", str(tmp_path), "--url", "http://127.0.0.1:18086"]
    assert build(*local, "--catalogue", FAKE_CATALOGUE)[0] == 0


def test_build_reports_a_bad_catalogue(tmp_path: Path) -> None:
    status, _, err = build("--out", str(tmp_path), "--catalogue", "no_such_module:build_all")
    assert status == 2
    assert "cannot load the catalogue" in err


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://influxdb.example.org:8086", True),
        ("http://127.0.0.1:18086", True),
        ("http://localhost:3000", True),
        ("http://[::1]:3000", True),
        ("http://10.0.0.5:3000", False),
        ("http://grafana.example.org", False),
        ("ftp://grafana.example.org", False),
        ("grafana.example.org", False),
    ],
)
def test_check_url(url: str, allowed: bool) -> None:
    if allowed:
        provisioning.check_url(url, allow_insecure_http=False, what="the URL")
    else:
        with pytest.raises(ValueError, match="the URL"):
            provisioning.check_url(url, allow_insecure_http=False, what="the URL")


def test_yaml_writer_round_trips_through_a_real_parser() -> None:
    document = {
        "apiVersion": 1,
        "items": [
            {"name": 'quote " and \\ backslash', "flag": True, "none": None, "empty": {}},
            "a plain string: with a colon",
            "# not a comment",
            "yes",
            "0123",
        ],
        "nested": {"list": [], "deeper": {"value": "$VARIABLE"}},
    }
    assert yaml.safe_load(provisioning.to_yaml(document, ["# header"])) == document


@pytest.mark.parametrize(
    "document",
    [
        {"key": "line\nbreak"},
        {"key": "non-ascii é"},
        {"bad key": "value"},
        {"key": 1.5},
        {"key": [[1]]},
    ],
)
def test_yaml_writer_refuses_what_it_cannot_write_safely(document: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        provisioning.to_yaml(document)
