"""Upload the datasource and the dashboards to a running Grafana through its HTTP API.

For sites that cannot drop files into /etc/grafana/provisioning/ (a hosted Grafana, or no
shell on its machine). Uses grafana-client from the optional `grafana` extra, imported only
here, so the rest of Bluewatch never needs it. Every failure becomes a `PushError` whose message
names the step and Grafana's answer; the token never appears in a message or on the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from dashboards.datasource import DATASOURCE_UID

# Grafana answers 409 Conflict to POST /api/datasources when the uid or name already exists.
CONFLICT: Final = 409
# Grafana's own messages are short; a proxy's HTML error page is not.
MAX_SERVER_MESSAGE_CHARS: Final = 300
# Why a status usually happens, for the person reading the error.
HINTS: Final[Mapping[int, str]] = {
    401: "the token was refused: check that {token_env} holds a valid service-account token",
    403: "the service account lacks a permission: it needs the Admin role to write datasources "
    "(Editor is enough for folders and dashboards)",
    404: "not found: check the Grafana URL, including any sub-path it is served under",
    412: "the dashboard changed in Grafana meanwhile, or another dashboard in the folder has "
    "the same title",
}
_NOT_UID = re.compile(r"[^a-z0-9-]+")
MAX_UID_CHARS: Final = 40  # Grafana's limit for folder and dashboard uids
T = TypeVar("T")


class PushError(Exception):
    """A step of the upload failed; the message names the step and what Grafana answered."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # Grafana's HTTP status, when it answered


class MissingExtraError(PushError):
    """grafana-client is not installed (the `grafana` extra)."""


@dataclass(frozen=True)
class GrafanaTarget:
    """Where and how to reach Grafana: URL, service-account token, TLS trust, timeout."""

    url: str
    token: str
    token_env: str
    verify: bool | str = True  # True: the system CAs; a path: a CA bundle for a private CA
    timeout_s: float = 10.0

    def __repr__(self) -> str:  # the token must not reach a log or a traceback
        return f"GrafanaTarget(url={self.url!r}, token=<from {self.token_env}>)"


class GrafanaSession:
    """A grafana-client API object plus the exception type its calls raise."""

    def __init__(self, target: GrafanaTarget) -> None:
        try:
            from grafana_client import GrafanaApi  # noqa: PLC0415 - optional extra
            from grafana_client.client import GrafanaException  # noqa: PLC0415
        except ImportError as exc:
            raise MissingExtraError(
                "this command needs grafana-client, from the `grafana` extra; install it "
                "beside urllib3 with URLLIB3_NO_OVERRIDE=1 pip install "
                "--no-binary=urllib3-future -e '.[grafana]' (docs/dashboards.md, Installing)"
            ) from exc
        parts = urlsplit(target.url)
        host = parts.hostname or ""
        # grafana-client joins host and port without brackets.
        host = f"[{host}]" if ":" in host else host
        path = parts.path.strip("/")
        self.api: Any = GrafanaApi(
            auth=target.token,  # a str becomes `Authorization: Bearer <token>`
            host=host,
            port=parts.port,
            # grafana-client appends "api" to the prefix, so a sub-path needs its slash.
            url_path_prefix=f"{path}/" if path else "",
            protocol=parts.scheme,
            verify=target.verify,
            timeout=target.timeout_s,
            user_agent=f"bluewatch/{_version()}",
        )
        self.error_type: type[Exception] = GrafanaException
        self.target = target

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Turn whatever the call raises into a PushError naming `name` and Grafana's answer."""
        try:
            yield
        except self.error_type as exc:
            status = int(getattr(exc, "status_code", 0) or 0) or None
            # `from None`: the chained exception would show the request, and is not news.
            raise PushError(f"{name} failed: {self._describe(exc)}", status=status) from None
        except ValueError:  # a JSON decoding error: something other than Grafana answered
            raise PushError(
                f"{name} failed: the answer from {self.target.url} is not Grafana's JSON; "
                "check the URL, including any sub-path Grafana is served under"
            ) from None
        except OSError as exc:  # niquests' connection and TLS errors are OSErrors
            raise PushError(
                f"{name} failed: cannot reach Grafana at {self.target.url}: {exc}"
            ) from None

    def call(self, name: str, expect: type[T], function: Callable[..., Any], *args: Any) -> T:
        """`function(*args)` as step `name`, checking the answer has the shape Grafana gives.

        grafana-client returns the text of a text/* answer instead of failing, so a proxy's
        login page (200, text/html) would otherwise pass for success.
        """
        with self.step(name):
            answer = function(*args)
        if not isinstance(answer, expect):
            raise PushError(
                f"{name} failed: the answer from {self.target.url} is not Grafana's JSON; "
                "check the URL, including any sub-path Grafana is served under"
            )
        return answer

    def _describe(self, exc: Exception) -> str:
        status = int(getattr(exc, "status_code", 0) or 0)
        if status == 0:  # grafana-client's wrapper for timeouts and transport errors
            return f"no answer from Grafana at {self.target.url}: {exc}"
        response = getattr(exc, "response", None)
        message = response.get("message") if isinstance(response, dict) else response
        text = " ".join(str(message or "").split())[:MAX_SERVER_MESSAGE_CHARS]
        described = f"Grafana answered {status}" + (f" ({text})" if text else "")
        hint = HINTS.get(status)
        if hint is None and status >= 500:
            hint = "Grafana itself failed; its log says why"
        if hint:
            described += f"; {hint.format(token_env=self.target.token_env)}"
        return described


def folder_uid_for(title: str) -> str:
    """A stable folder uid from its title ("Bluewatch" -> "bluewatch")."""
    uid = _NOT_UID.sub("-", title.lower()).strip("-")[:MAX_UID_CHARS]
    return uid or "bluewatch"


def check_dashboards(dashboards: Mapping[str, Mapping[str, Any]]) -> None:
    """Each dashboard needs a uid (so uploads overwrite, not duplicate) and a title."""
    for stem, model in dashboards.items():
        for key in ("uid", "title"):
            if not isinstance(model.get(key), str) or not model[key]:
                raise PushError(f"dashboard {stem!r} has no {key}; Grafana needs one to upload it")


def push(
    session: GrafanaSession,
    *,
    datasource: Mapping[str, Any],
    dashboards: Mapping[str, Mapping[str, Any]],
    folder_title: str,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    """Create or update the datasource, find or create the folder, upload every dashboard.

    `emit` receives one record per object as soon as Grafana has accepted it, so a failure part
    way leaves a visible account of what was already uploaded.
    """
    check_dashboards(dashboards)
    api = session.api
    uid = str(datasource.get("uid", DATASOURCE_UID))

    action = "created"
    try:
        session.call(
            f"creating datasource {uid!r} (POST /api/datasources)",
            dict,
            api.datasource.create_datasource,
            dict(datasource),
        )
    except PushError as exc:
        # Only a conflict means "it exists: update it"; anything else is the error to report.
        if exc.status != CONFLICT:
            raise
        action = "updated"
        session.call(
            f"updating datasource {uid!r} (PUT /api/datasources/uid/{uid})",
            dict,
            api.datasource.update_datasource_by_uid,
            uid,
            dict(datasource),
        )
    emit({"object": "datasource", "uid": uid, "name": datasource.get("name"), "action": action})

    folder_uid = _ensure_folder(session, folder_title, emit)

    message = f"bluewatch dashboards push ({_version()})"
    for stem in sorted(dashboards):
        model = dict(dashboards[stem])
        # id null: Grafana matches on uid, so the same dashboard is updated on every push.
        model["id"] = None
        body = {"dashboard": model, "folderUid": folder_uid, "overwrite": True, "message": message}
        answer = session.call(
            f"uploading dashboard {stem!r} (POST /api/dashboards/db)",
            dict,
            api.dashboard.update_dashboard,
            body,
        )
        emit(
            {
                "object": "dashboard",
                "file": stem,
                "uid": answer.get("uid", model["uid"]),
                "title": model["title"],
                "folderUid": folder_uid,
                "version": answer.get("version"),
                "url": answer.get("url"),
            }
        )


def _ensure_folder(
    session: GrafanaSession, title: str, emit: Callable[[dict[str, Any]], None]
) -> str:
    """The uid of the folder titled `title` (or with the uid it would get), created if absent."""
    wanted_uid = folder_uid_for(title)
    folders = session.call(
        "listing folders (GET /api/folders)", list, session.api.folder.get_all_folders
    )
    for folder in folders:
        if isinstance(folder, dict) and (
            folder.get("title") == title or folder.get("uid") == wanted_uid
        ):
            found = str(folder["uid"])
            found_title = str(folder.get("title"))
            emit({"object": "folder", "uid": found, "title": found_title, "action": "exists"})
            return found
    created = session.call(
        f"creating folder {title!r} (POST /api/folders)",
        dict,
        lambda: session.api.folder.create_folder(title, uid=wanted_uid),
    )
    uid = str(created.get("uid", wanted_uid))
    emit({"object": "folder", "uid": uid, "title": title, "action": "created"})
    return uid


def _version() -> str:
    try:
        return metadata.version("bluewatch")
    except metadata.PackageNotFoundError:
        return "unknown"
