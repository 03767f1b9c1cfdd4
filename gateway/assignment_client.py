"""The client side of `/assignments`, for `bluewatch assign` and `unassign`: where the running
gateway's dispatch API listens and its token, both read from the gateway's configuration."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Final

from gateway.config import GatewayConfig

# The gateway answers at once; a gateway that does not is not running properly.
TIMEOUT_S: Final = 10.0
# A listener on every interface is reached on loopback from the vehicle's own computer.
ANY_ADDRESS: Final = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - read, not bound


class GatewayUnreachableError(OSError):
    """No answer from the gateway's dispatch API; the message says where it was looked for."""


@dataclass(frozen=True)
class Answer:
    """The gateway's answer: its HTTP status and JSON body."""

    status: int
    body: object

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str:
        """The refusal's message, as the gateway put it."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), str):
            return str(self.body["error"])
        return f"HTTP {self.status}"


@dataclass(frozen=True)
class AssignmentClient:
    base_url: str
    token: str | None

    @classmethod
    def for_config(cls, config: GatewayConfig) -> AssignmentClient:
        """The dispatch API of the gateway `config` configures (its own port, else [http]'s).
        Reads `token_file` now, so SecretError may name it."""
        api = config.dispatch_api
        host, port = (api.host, api.port) if api.port else (config.http.host, config.http.port)
        host = ANY_ADDRESS.get(host, host)
        shown = f"[{host}]" if ":" in host else host
        return cls(f"http://{shown}:{port}", api.secret())

    def assign(self, officer: str, devices: list[str], by: str) -> Answer:
        return self._call(
            "POST", "/assignments", {"officer": officer, "devices": devices, "by": by}
        )

    def unassign(self, device: str, by: str) -> Answer:
        return self._call(
            "DELETE", f"/assignments/{urllib.parse.quote(device, safe='')}", {"by": by}
        )

    def held(self) -> Answer:
        return self._call("GET", "/assignments", None)

    def _call(self, method: str, path: str, body: object) -> Answer:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # http:// built by for_config: no other scheme reaches urlopen.
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return Answer(response.status, json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"null")
            except ValueError:
                answer = None
            return Answer(exc.code, answer)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise GatewayUnreachableError(
                f"no answer from the gateway at {self.base_url} ({reason}): is `bluewatch run` "
                "running with this configuration?"
            ) from None
