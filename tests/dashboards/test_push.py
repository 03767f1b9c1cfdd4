"""`bluewatch dashboards push` against a local receiver that checks Grafana's HTTP API contract.

A Grafana server cannot be installed on our machines, so these tests check the HTTP API
contract with a local receiver (tests/dashboards/grafana_fakes.py): the bearer token, the
datasource created with POST and updated with PUT on a 409, the folder looked up or created, and
every dashboard saved with POST /api/dashboards/db, `folderUid` and `overwrite: true`. The
command runs both as the installed console script in a subprocess and in-process, and its
failures (no token, 401, 403, 412, 5xx, no server, plain http to another host, no `grafana`
extra) must be one clear line naming the step, never a traceback nor the token.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from dashboards.catalog import build_all
from dashboards.datasource import DATASOURCE_NAME, DATASOURCE_TYPE, DATASOURCE_UID
from gateway.cli import run
from tests.dashboards.grafana_fakes import TOKEN, FakeGrafana, fake_catalogue

ROOT = Path(__file__).resolve().parents[2]
FAKE_CATALOGUE = "tests.dashboards.grafana_fakes:fake_catalogue"
INFLUX_PASSWORD = "influx-password-for-tests"
INFLUX_TOKEN = "influx-api-token-for-tests"
# Variables the command reads; ./run test exports BLUEWATCH_INFLUXDB_URL for the local services.
COMMAND_VARIABLES = (
    "GRAFANA_TOKEN",
    "BLUEWATCH_INFLUXDB_URL",
    "BLUEWATCH_INFLUXDB_USER",
    "BLUEWATCH_INFLUXDB_PASSWORD",
    "BLUEWATCH_INFLUXDB_TOKEN",
)


def _grafana_client_installed() -> bool:
    try:
        import grafana_client  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


if not _grafana_client_installed():
    # ./run test installs the `grafana` extra, and there a missing extra is a failure.
    if os.environ.get("BLUEWATCH_REQUIRE_SERVICES") == "1":
        pytest.fail("grafana-client is not installed: ./run installs .[test,dev,grafana]")
    pytest.skip("needs the grafana extra (pip install -e '.[grafana]')", allow_module_level=True)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as server:
        yield server


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in COMMAND_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    monkeypatch.setenv("BLUEWATCH_INFLUXDB_PASSWORD", INFLUX_PASSWORD)


def push_in_process(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(["dashboards", "push", *args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def base_args(grafana: FakeGrafana, *extra: str) -> list[str]:
    return [
        "--url",
        grafana.url,
        "--influxdb-url",
        "http://127.0.0.1:8086",
        "--influxdb-user",
        "grafana-reader",
        "--catalogue",
        FAKE_CATALOGUE,
        *extra,
    ]


def records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_console_script_uploads_datasource_folder_and_every_dashboard(
    grafana: FakeGrafana,
) -> None:
    script = Path(sys.executable).with_name("bluewatch")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in COMMAND_VARIABLES or key in {"GRAFANA_TOKEN", "BLUEWATCH_INFLUXDB_PASSWORD"}
    }
    env["PYTHONPATH"] = str(ROOT)  # so --catalogue can import the test catalogue
    done = subprocess.run(
        [str(script), "dashboards", "push", *base_args(grafana)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert grafana.violations == []
    assert done.stderr == ""
    lines = records(done.stdout)
    assert [(line["object"], line.get("uid")) for line in lines] == [
        ("datasource", DATASOURCE_UID),
        ("folder", "bluewatch"),
        ("dashboard", "test-alpha"),
        ("dashboard", "test-beta"),
    ]
    assert lines[0]["action"] == "created"
    assert lines[1]["action"] == "created"
    assert lines[2]["url"] == "/d/test-alpha/test-alpha"
    assert lines[2]["version"] == 1

    datasource = grafana.datasources[DATASOURCE_UID]
    assert datasource["name"] == DATASOURCE_NAME
    assert datasource["type"] == DATASOURCE_TYPE
    assert datasource["access"] == "proxy"
    assert datasource["url"] == "http://127.0.0.1:8086"
    assert datasource["user"] == "grafana-reader"
    assert datasource["jsonData"]["dbName"] == "bluewatch"
    assert datasource["jsonData"]["version"] == "InfluxQL"
    assert datasource["secureJsonData"] == {"password": INFLUX_PASSWORD}

    assert grafana.folders == [
        {"id": grafana.folders[0]["id"], "uid": "bluewatch", "title": "Bluewatch"}
    ]
    assert set(grafana.dashboards) == {"test-alpha", "test-beta"}
    for stem, model in fake_catalogue().items():
        body = grafana.dashboards[model["uid"]]["body"]
        assert body["folderUid"] == "bluewatch", stem
        assert body["overwrite"] is True
        assert body["message"].startswith("bluewatch dashboards push")
        assert body["dashboard"] == {**model, "id": None}
    # The secrets went to Grafana only.
    assert TOKEN not in done.stdout + done.stderr
    assert INFLUX_PASSWORD not in done.stdout + done.stderr


def test_in_process_push_of_the_real_catalogue(grafana: FakeGrafana) -> None:
    args = base_args(grafana)
    args[args.index(FAKE_CATALOGUE)] = "dashboards.catalog:build_all"
    status, out, err = push_in_process(*args)
    assert status == 0, err
    assert grafana.violations == []
    catalogue = build_all()
    assert catalogue, "the catalogue ships dashboards"
    assert {model["uid"] for model in catalogue.values()} == set(grafana.dashboards)
    for model in catalogue.values():
        sent = grafana.dashboards[model["uid"]]["body"]["dashboard"]
        assert sent == {**model, "id": None}
    uploaded = [line for line in records(out) if line["object"] == "dashboard"]
    assert sorted(line["file"] for line in uploaded) == sorted(catalogue)
    # Every request carried the service-account token as a bearer token.
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in grafana.requests)


def test_second_push_updates_the_datasource_and_finds_the_folder(grafana: FakeGrafana) -> None:
    assert push_in_process(*base_args(grafana))[0] == 0
    status, out, err = push_in_process(*base_args(grafana))
    assert status == 0, err
    assert grafana.violations == []
    calls = [(r.method, r.path) for r in grafana.requests]
    second = calls[len(calls) // 2 :]
    assert second == [
        ("POST", "/api/datasources"),  # 409: it exists
        ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}"),
        ("GET", "/api/folders"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
    ]
    lines = records(out)
    assert lines[0]["action"] == "updated"
    assert lines[1] == {
        "object": "folder",
        "uid": "bluewatch",
        "title": "Bluewatch",
        "action": "exists",
    }
    assert [line["version"] for line in lines[2:]] == [2, 2]
    assert grafana.datasources[DATASOURCE_UID]["version"] == 2


def test_grafana_under_a_sub_path() -> None:
    with FakeGrafana(prefix="/grafana") as grafana:
        args = base_args(grafana)
        args[1] = f"{grafana.url}/grafana/"
        status, _, err = push_in_process(*args)
    assert status == 0, err
    assert grafana.violations == []
    assert {r.path for r in grafana.requests} >= {
        "/grafana/api/datasources",
        "/grafana/api/folders",
    }


def test_an_existing_folder_of_that_title_is_reused(grafana: FakeGrafana) -> None:
    grafana.folders.append({"id": 99, "uid": "supervisors-uid", "title": "Supervisors"})
    status, _, err = push_in_process(*base_args(grafana, "--folder", "Supervisors"))
    assert status == 0, err
    assert len(grafana.folders) == 1
    assert {d["folderUid"] for d in grafana.dashboards.values()} == {"supervisors-uid"}


def test_influxdb_2_datasource_sends_the_token_header(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUEWATCH_INFLUXDB_TOKEN", INFLUX_TOKEN)
    status, out, err = push_in_process(*base_args(grafana, "--influxdb", "2"))
    assert status == 0, err
    datasource = grafana.datasources[DATASOURCE_UID]
    assert datasource["jsonData"]["httpHeaderName1"] == "Authorization"
    assert datasource["secureJsonData"] == {"httpHeaderValue1": f"Token {INFLUX_TOKEN}"}
    assert "user" not in datasource
    assert INFLUX_TOKEN not in out + err


def test_influxdb_2_without_its_token_is_a_clear_error(grafana: FakeGrafana) -> None:
    status, _, err = push_in_process(*base_args(grafana, "--influxdb", "2"))
    assert status == 2
    assert "BLUEWATCH_INFLUXDB_TOKEN is not set" in err
    assert grafana.requests == []


def test_missing_grafana_token_is_a_clear_error(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN")
    status, out, err = push_in_process(*base_args(grafana))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "GRAFANA_TOKEN is not set" in err
    assert "service-account token" in err
    assert grafana.requests == []


def test_token_variable_can_be_named(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN")
    monkeypatch.setenv("SITE_GRAFANA_TOKEN", TOKEN)
    status, _, err = push_in_process(*base_args(grafana, "--token-env", "SITE_GRAFANA_TOKEN"))
    assert status == 0, err
    assert grafana.violations == []


@dataclass(frozen=True)
class Failure:
    """A status Grafana answers on one endpoint, and what the error line must then say."""

    method: str
    path: str
    status: int
    answer: dict[str, Any]
    step: str
    hint: str


FAILURES = [
    Failure(
        "POST",
        "/api/datasources",
        401,
        {"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401},
        "creating datasource 'bluewatch-influxdb' (POST /api/datasources)",
        "check that GRAFANA_TOKEN holds a valid service-account token",
    ),
    Failure(
        "POST",
        "/api/datasources",
        403,
        {"message": "You'll need additional permissions to perform this action."},
        "creating datasource",
        "Admin role",
    ),
    Failure(
        "POST",
        "/api/folders",
        500,
        {"message": "Internal Server Error"},
        "creating folder 'Bluewatch' (POST /api/folders)",
        "Grafana itself failed",
    ),
    Failure(
        "POST",
        "/api/dashboards/db",
        412,
        {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"},
        "uploading dashboard 'alpha' (POST /api/dashboards/db)",
        "changed in Grafana meanwhile",
    ),
]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f"{f.status}-{f.path}")
def test_grafana_errors_become_one_line_naming_the_step(
    grafana: FakeGrafana, failure: Failure
) -> None:
    grafana.failures[(failure.method, re.escape(failure.path))] = (failure.status, failure.answer)
    code, out, err = push_in_process(*base_args(grafana))
    assert code == 3
    assert err.startswith("bluewatch dashboards push: ")
    assert err.count("\n") == 1, err
    assert failure.step in err
    assert f"Grafana answered {failure.status}" in err
    assert failure.answer["message"] in err
    assert failure.hint in err
    assert "Traceback" not in err
    assert TOKEN not in out + err
    # What Grafana accepted before the failure is on stdout, one JSON line each.
    for line in records(out):
        assert line["object"] in {"datasource", "folder", "dashboard"}


def test_401_from_the_console_script_has_no_traceback(grafana: FakeGrafana) -> None:
    grafana.token = "another-token"
    env = {**os.environ, "GRAFANA_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("bluewatch")),
            "dashboards",
            "push",
            *base_args(grafana),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "bluewatch dashboards push: creating datasource 'bluewatch-influxdb' "
        "(POST /api/datasources) failed: Grafana answered 401 (Unauthorized); the token was "
        "refused: check that GRAFANA_TOKEN holds a valid service-account token"
    ]


def test_a_page_that_is_not_grafanas_json_is_not_taken_for_success(grafana: FakeGrafana) -> None:
    login_page = b"<html><body>Sign in to continue</body></html>"
    grafana.failures[("GET", "/api/folders")] = (200, login_page)
    status, out, err = push_in_process(*base_args(grafana))
    assert status == 3
    assert "listing folders (GET /api/folders) failed: the answer from" in err
    assert "is not Grafana's JSON" in err
    assert [line["object"] for line in records(out)] == ["datasource"]


def test_no_server_is_a_clear_error() -> None:
    with FakeGrafana() as stopped:
        url = stopped.url
    status, _, err = push_in_process(
        "--url", url, "--influxdb-url", "http://127.0.0.1:8086", "--catalogue", FAKE_CATALOGUE
    )
    assert status == 3
    assert f"cannot reach Grafana at {url}" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("flag", "url", "what"),
    [
        ("--url", "http://grafana.example.org:3000", "the Grafana URL"),
        ("--influxdb-url", "http://influxdb.example.org:8086", "the InfluxDB URL"),
    ],
)
def test_plain_http_to_another_host_is_refused(
    grafana: FakeGrafana, flag: str, url: str, what: str
) -> None:
    args = base_args(grafana)
    args[args.index(flag) + 1] = url
    status, _, err = push_in_process(*args)
    assert status == 2
    assert f"{what} {url} is plain http to another host" in err
    assert "--insecure-http" in err
    assert grafana.requests == []


def test_credentials_in_the_url_are_refused(grafana: FakeGrafana) -> None:
    args = base_args(grafana)
    args[1] = grafana.url.replace("http://", "http://admin:admin@")
    status, _, err = push_in_process(*args)
    assert status == 2
    assert "must not carry credentials" in err
    assert "admin:admin" not in err


def test_missing_extra_is_a_clear_error(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "grafana_client", None)  # import now fails
    status, _, err = push_in_process(*base_args(grafana))
    assert status == 2
    assert "needs grafana-client, from the `grafana` extra" in err
    assert grafana.requests == []


def test_the_grafana_extra_leaves_upstream_urllib3_in_place() -> None:
    """influxdb-client imports `urllib3`; urllib3-future must live beside it, not replace it.

    ./run installs the extra with URLLIB3_NO_OVERRIDE=1 and --no-binary=urllib3-future; an
    install without them puts urllib3-future's code under the `urllib3` name.
    """
    import urllib3  # noqa: PLC0415

    files = [str(path) for path in metadata.files("urllib3-future") or []]
    replaced = [name for name in files if name.startswith("urllib3/") or name.endswith(".pth")]
    assert replaced == [], (
        "urllib3-future was installed in drop-in mode and replaces urllib3; recreate the "
        "environment (rm -rf .venv && ./run test) so ./run installs it beside urllib3 "
        "(docs/dashboards.md, Installing)"
    )
    assert urllib3.__version__ == metadata.version("urllib3")
    assert int(urllib3.__version__.split(".")[2]) < 900  # urllib3-future's patch numbers are 9xx
