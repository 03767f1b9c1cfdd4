"""A local stand-in for Grafana's HTTP API, and a small dashboard catalogue, for the push tests.

A Grafana server cannot be installed on our machines, so `FakeGrafana` plays the part of the
HTTP API that `bluewatch dashboards push` uses, as Grafana documents it: bearer-token auth,
`POST /api/datasources` (409 when the uid or name exists), `PUT /api/datasources/uid/{uid}`,
`GET`/`POST /api/folders`, `POST /api/dashboards/db`, with Grafana's response bodies and status
codes. Whatever departs from that contract is recorded in `violations` and answered the way
Grafana would (401, 400, 404), so a test sees both the symptom and the cause.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "glsa_test-token-0123456789abcdef"


def fake_catalogue() -> dict[str, dict[str, Any]]:
    """Two small dashboards in the shape the real catalogue returns (used by --catalogue)."""
    return {
        "alpha": {
            "uid": "test-alpha",
            "title": "Test alpha",
            "schemaVersion": 41,
            "panels": [{"id": 1, "type": "stat", "title": "Heart rate"}],
        },
        "beta": {
            "uid": "test-beta",
            "title": "Test beta",
            "schemaVersion": 41,
            "panels": [],
        },
    }


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana:
    """Grafana's datasource, folder and dashboard endpoints, in memory, on 127.0.0.1."""

    token: str = TOKEN
    prefix: str = ""  # the sub-path Grafana is served under, e.g. "/grafana"
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # (method, path regex) -> (status, body): answers to force, e.g. a 401 or a 412
    failures: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    _next_id: int = 1
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGrafana:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_PUT(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads `requests`, not the server's log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # --- request handling ---------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        request = Request(handler.command, handler.path, dict(handler.headers.items()), body)
        with self._lock:
            self.requests.append(request)
            status, answer = self._answer(request)
        # bytes: a page from something other than Grafana (a proxy's login page, say)
        html = isinstance(answer, bytes)
        data = answer if html else json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html" if html else "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _violation(self, text: str, status: int, message: str) -> tuple[int, Any]:
        self.violations.append(text)
        return status, {"message": message}

    def _answer(self, request: Request) -> tuple[int, Any]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            # What Grafana answers a missing or wrong service-account token.
            return self._violation(
                f"{request.method} {request.path} without the bearer token",
                401,
                "Unauthorized",
            )
        for (method, pattern), (status, answer) in self.failures.items():
            if request.method == method and re.fullmatch(pattern, request.path):
                return status, answer
        if request.method in {"POST", "PUT"}:
            content_type = request.headers.get("Content-Type", "")
            if not content_type.startswith("application/json") or not isinstance(
                request.body, dict
            ):
                return self._violation(
                    f"{request.method} {request.path} without a JSON object body",
                    400,
                    "bad request data",
                )
        path = request.path.split("?")[0]
        if not path.startswith(f"{self.prefix}/api/"):
            return self._violation(
                f"{request.method} {path}: outside {self.prefix}/api/", 404, "Not found"
            )
        return self._route(request.method, path.removeprefix(self.prefix), request.body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if (method, path) == ("POST", "/api/datasources"):
            return self._create_datasource(body)
        if method == "PUT" and path.startswith("/api/datasources/uid/"):
            return self._update_datasource(path.rsplit("/", 1)[1], body)
        if (method, path) == ("GET", "/api/folders"):
            return 200, [
                {"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders
            ]
        if (method, path) == ("POST", "/api/folders"):
            return self._create_folder(body)
        if (method, path) == ("POST", "/api/dashboards/db"):
            return self._save_dashboard(body)
        return self._violation(f"{method} {path}: no such endpoint", 404, "Not found")

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _create_datasource(self, body: dict[str, Any]) -> tuple[int, Any]:
        missing = [key for key in ("name", "type", "access", "url") if not body.get(key)]
        if missing:
            return self._violation(f"datasource without {missing}", 400, "bad request data")
        for existing in self.datasources.values():
            if existing["uid"] == body.get("uid"):
                return 409, {"message": "data source with the same uid already exists"}
            if existing["name"] == body["name"]:
                return 409, {"message": "data source with the same name already exists"}
        stored = {**body, "id": self._new_id(), "version": 1}
        self.datasources[body["uid"]] = stored
        return 200, {
            "datasource": _public(stored),
            "id": stored["id"],
            "message": "Datasource added",
            "name": stored["name"],
        }

    def _update_datasource(self, uid: str, body: dict[str, Any]) -> tuple[int, Any]:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        old = self.datasources[uid]
        stored = {**body, "id": old["id"], "uid": uid, "version": old["version"] + 1}
        self.datasources[uid] = stored
        return 200, {
            "datasource": _public(stored),
            "id": stored["id"],
            "message": "Datasource updated",
            "name": stored["name"],
        }

    def _create_folder(self, body: dict[str, Any]) -> tuple[int, Any]:
        if not body.get("title"):
            return self._violation("folder without a title", 400, "folder title cannot be empty")
        if any(folder["uid"] == body.get("uid") for folder in self.folders):
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {
            "id": self._new_id(),
            "uid": body.get("uid") or f"f{self._next_id}",
            "title": body["title"],
        }
        self.folders.append(folder)
        return 200, {
            **folder,
            "url": f"/dashboards/f/{folder['uid']}/",
            "hasAcl": False,
            "canSave": True,
            "canEdit": True,
            "canAdmin": True,
            "version": 1,
        }

    def _save_dashboard(self, body: dict[str, Any]) -> tuple[int, Any]:
        dashboard = body.get("dashboard")
        if (
            not isinstance(dashboard, dict)
            or not dashboard.get("uid")
            or not dashboard.get("title")
        ):
            return self._violation("dashboard without uid or title", 400, "bad request data")
        if body.get("overwrite") is not True:
            self.violations.append("dashboard saved without overwrite: true")
        if not isinstance(body.get("message"), str):
            self.violations.append("dashboard saved without a version message")
        if dashboard.get("id") is not None:
            self.violations.append("dashboard id should be null so Grafana matches on uid")
        folder_uid = body.get("folderUid")
        if not any(folder["uid"] == folder_uid for folder in self.folders):
            return self._violation(f"folderUid {folder_uid!r} unknown", 400, "folder not found")
        uid = dashboard["uid"]
        old = self.dashboards.get(uid)
        version = old["version"] + 1 if old else 1
        record_id = old["id"] if old else self._new_id()
        self.dashboards[uid] = {
            "id": record_id,
            "version": version,
            "folderUid": folder_uid,
            "body": body,
        }
        slug = re.sub(r"[^a-z0-9]+", "-", dashboard["title"].lower()).strip("-")
        return 200, {
            "id": record_id,
            "uid": uid,
            "url": f"/d/{uid}/{slug}",
            "status": "success",
            "version": version,
            "slug": slug,
        }


def _public(datasource: dict[str, Any]) -> dict[str, Any]:
    """What Grafana returns for a datasource: never the secure fields, only which are set."""
    shown = {key: value for key, value in datasource.items() if key != "secureJsonData"}
    shown["secureJsonFields"] = dict.fromkeys(datasource.get("secureJsonData", {}), True)
    return shown
