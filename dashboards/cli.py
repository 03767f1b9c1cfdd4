"""`bluewatch dashboards build` and `bluewatch dashboards push`: Grafana provisioning and upload.

Registered in the `bluewatch` CLI through the `bluewatch.commands` entry point, so the gateway's
command line offers these commands without importing this package (an import contract).

- `build` writes the provisioning folder: the datasource file, the dashboards provider file and
  one JSON file per dashboard of the catalogue, ready to copy into /etc/grafana/provisioning/.
- `push` uploads the same datasource and dashboards to a running Grafana over its HTTP API.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol, TextIO

from dashboards import provisioning
from dashboards.datasource import DEFAULT_DATABASE
from dashboards.push import GrafanaSession, GrafanaTarget, MissingExtraError, PushError, push

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FAILURE = 3

DEFAULT_CATALOGUE: Final = "dashboards.catalog:build_all"
DEFAULT_OUT: Final = "dashboards/provisioning"
DEFAULT_TOKEN_ENV: Final = "GRAFANA_TOKEN"  # noqa: S105 - a variable's name

Catalogue = Mapping[str, Mapping[str, Any]]


class Streams(Protocol):
    stdout: TextIO
    stderr: TextIO


class UsageError(Exception):
    """The command line or the environment is wrong; the caller must change something."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dashboards` with its `build` and `push` subcommands to the `bluewatch` parser."""
    parser = commands.add_parser(
        "dashboards",
        help="Grafana provisioning files and upload",
        description="Build Grafana provisioning files for the supervisors' dashboards, or "
        "upload the datasource and dashboards to a running Grafana.",
    )
    actions = parser.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")

    build = actions.add_parser(
        "build",
        help="write the provisioning folder (datasource, provider, dashboard JSON)",
        description="Write DIR/datasources/bluewatch.yaml, DIR/dashboards/bluewatch.yaml and "
        "DIR/dashboards/bluewatch/<name>.json; copy DIR's contents into "
        "/etc/grafana/provisioning/. Secrets are never written: Grafana reads them from its "
        "environment. One JSON line per file written.",
    )
    _influx_arguments(build)
    build.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})"
    )
    build.add_argument(
        "--url",
        default=provisioning.DEFAULT_URL,
        help="InfluxDB URL as Grafana reaches it, or a $VARIABLE Grafana expands from its "
        f"environment (default {provisioning.DEFAULT_URL}, e.g. {provisioning.EXAMPLE_URL})",
    )
    build.add_argument(
        "--dashboards-path",
        default=provisioning.DEFAULT_DASHBOARDS_PATH,
        metavar="PATH",
        help="where Grafana finds the dashboard JSON (default "
        f"{provisioning.DEFAULT_DASHBOARDS_PATH})",
    )
    build.set_defaults(handler=run_build)

    push = actions.add_parser(
        "push",
        help="upload the datasource and dashboards to Grafana's HTTP API",
        description="Create or update the InfluxDB datasource, then upload every dashboard into "
        "a folder, with a Grafana service-account token read from the environment. Needs the "
        "`grafana` extra. One JSON line per object uploaded.",
    )
    _influx_arguments(push)
    push.add_argument(
        "--url", required=True, help="Grafana's URL, e.g. https://grafana.example.org"
    )
    push.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="NAME",
        help=f"variable holding the service-account token (default {DEFAULT_TOKEN_ENV})",
    )
    push.add_argument("--folder", default=provisioning.FOLDER_TITLE, help="Grafana folder title")
    push.add_argument(
        "--influxdb-url",
        default=os.environ.get(provisioning.URL_VARIABLE),
        metavar="URL",
        help="InfluxDB URL as Grafana reaches it (default: $BLUEWATCH_INFLUXDB_URL)",
    )
    push.add_argument(
        "--influxdb-user",
        default=os.environ.get(provisioning.USER_VARIABLE),
        metavar="USER",
        help="InfluxDB 1.x user (default: $BLUEWATCH_INFLUXDB_USER; none: no authentication)",
    )
    push.add_argument(
        "--influxdb-password-env",
        default=provisioning.PASSWORD_VARIABLE,
        metavar="NAME",
        help="variable holding the InfluxDB 1.x password "
        f"(default {provisioning.PASSWORD_VARIABLE})",
    )
    push.add_argument(
        "--influxdb-token-env",
        default=provisioning.TOKEN_VARIABLE,
        metavar="NAME",
        help=f"variable holding the InfluxDB 2.x API token (default {provisioning.TOKEN_VARIABLE})",
    )
    push.add_argument("--ca-file", type=Path, help="CA bundle to trust for Grafana's certificate")
    push.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    push.set_defaults(handler=run_push)


def _influx_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--influxdb",
        type=int,
        choices=(1, 2),
        default=1,
        help="InfluxDB 1.x (user and password) or 2.x (token, through a DBRP mapping)",
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"InfluxDB database, or on 2.x the DBRP-mapped name (default {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain http to a host other than this machine (TLS is the default)",
    )
    parser.add_argument(
        "--catalogue",
        default=DEFAULT_CATALOGUE,
        metavar="MODULE:FUNCTION",
        help="function returning {file stem: dashboard JSON} (default "
        f"{DEFAULT_CATALOGUE}; another one serves tests or a site's own dashboards)",
    )


def load_catalogue(spec: str) -> dict[str, dict[str, Any]]:
    """Call the `MODULE:FUNCTION` catalogue and check it returns {file stem: dashboard dict}."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise UsageError(f"--catalogue must be MODULE:FUNCTION, not {spec!r}")
    try:
        function: Callable[[], object] = getattr(
            importlib.import_module(module_name), function_name
        )
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot load the catalogue {spec}: {exc}") from None
    dashboards = function()
    if not isinstance(dashboards, dict) or not all(
        isinstance(stem, str) and isinstance(model, dict) for stem, model in dashboards.items()
    ):
        raise UsageError(f"the catalogue {spec} must return a dict of file stem to dashboard dict")
    return dashboards


def write_tree(out: Path, tree: Mapping[str, str]) -> list[str]:
    """Write `tree` under `out`; remove dashboard JSON files the catalogue no longer has."""
    dashboard_dir = out / provisioning.DASHBOARD_DIR
    if dashboard_dir.is_dir():
        # Only *.json in the folder this command owns: a removed dashboard must not linger
        # in the provisioned copy, and nothing else of the user's is touched.
        for stale in sorted(dashboard_dir.glob("*.json")):
            if stale.relative_to(out).as_posix() not in tree:
                stale.unlink()
    written = []
    for relative, text in sorted(tree.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relative)
    return written


def run_build(args: argparse.Namespace, io: Streams) -> int:
    """`dashboards build`: write the provisioning folder and print one JSON line per file."""
    try:
        if not args.url.startswith("$"):
            provisioning.check_url(
                args.url, allow_insecure_http=args.insecure_http, what="the InfluxDB URL"
            )
        tree = provisioning.build_tree(
            load_catalogue(args.catalogue),
            version=args.influxdb,
            url=args.url,
            database=args.database,
            dashboards_path=args.dashboards_path,
        )
        out = Path(args.out)
        for relative in write_tree(out, tree):
            io.stdout.write(json.dumps({"wrote": str(out / relative)}) + "\n")
    except (UsageError, ValueError) as exc:
        io.stderr.write(f"bluewatch dashboards build: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        io.stderr.write(f"bluewatch dashboards build: cannot write {args.out}: {exc}\n")
        return EXIT_FAILURE
    return EXIT_OK


def run_push(args: argparse.Namespace, io: Streams) -> int:
    """`dashboards push`: upload to Grafana; one JSON line per object, one line per error."""

    def emit(record: dict[str, Any]) -> None:
        io.stdout.write(json.dumps(record) + "\n")
        io.stdout.flush()

    try:
        target, datasource = _push_settings(args)
        dashboards = load_catalogue(args.catalogue)
        session = GrafanaSession(target)
        push(
            session,
            datasource=datasource,
            dashboards=dashboards,
            folder_title=args.folder,
            emit=emit,
        )
    except (UsageError, ValueError, MissingExtraError) as exc:
        io.stderr.write(f"bluewatch dashboards push: {exc}\n")
        return EXIT_USAGE
    except PushError as exc:
        io.stderr.write(f"bluewatch dashboards push: {exc}\n")
        return EXIT_FAILURE
    return EXIT_OK


def _push_settings(args: argparse.Namespace) -> tuple[GrafanaTarget, dict[str, Any]]:
    """The Grafana target and the datasource body, from the arguments and the environment."""
    provisioning.check_url(args.url, allow_insecure_http=args.insecure_http, what="the Grafana URL")
    token = os.environ.get(args.token_env, "").strip()
    if not token:
        raise UsageError(
            f"the environment variable {args.token_env} is not set; export a Grafana "
            "service-account token in it (Administration > Service accounts)"
        )
    if not args.influxdb_url:
        raise UsageError(
            f"give the InfluxDB URL Grafana should query: --influxdb-url or "
            f"${provisioning.URL_VARIABLE}"
        )
    provisioning.check_url(
        args.influxdb_url, allow_insecure_http=args.insecure_http, what="the InfluxDB URL"
    )
    influx_token = None
    if args.influxdb == 2:
        influx_token = os.environ.get(args.influxdb_token_env, "").strip()
        if not influx_token:
            raise UsageError(
                f"the environment variable {args.influxdb_token_env} is not set; InfluxDB 2.x "
                "needs an API token with read access to the DBRP-mapped bucket"
            )
    datasource = provisioning.datasource(
        args.influxdb,
        url=args.influxdb_url,
        database=args.database,
        user=args.influxdb_user,
        password=os.environ.get(args.influxdb_password_env) or None,
        token=influx_token,
    )
    target = GrafanaTarget(
        url=args.url,
        token=token,
        token_env=args.token_env,
        verify=str(args.ca_file) if args.ca_file else True,
        timeout_s=args.timeout,
    )
    return target, datasource
