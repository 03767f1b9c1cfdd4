"""InfluxDB writers (v1 `/write`, v2 `/api/v2/write`) behind one interface, and their settings.

A writer sends a batch of line-protocol lines and either returns or raises one of the delivery
errors (gateway/sinks/errors.py): retry later, or never (the caller quarantines the batch).
What each HTTP answer means is decided in gateway/sinks/http_outcome.py, by status code and
exception type alone.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import ssl
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Annotated, Any, Final, Literal, Protocol, Self
from urllib.parse import urlsplit

import aiohttp
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)

from gateway.sinks.errors import DeliveryError, RetryableDeliveryError
from gateway.sinks.http_outcome import (
    OutcomePolicy,
    outcome,
    parse_retry_after,
    read_bounded,
    transport_error,
)
from gateway.sinks.sink import Send
from gateway.tls import client_context, insecure_error, is_loopback

# A server's Retry-After is honoured up to five minutes: telemetry can wait in the outbox, but
# a wrong header from a proxy must not stall the uplink for hours.
INFLUX_OUTCOMES: Final = OutcomePolicy(
    retry_after_cap_s=300.0, configuration_hint="check the [influx] settings"
)


# --- settings -------------------------------------------------------------------------------


class _InfluxSettings(BaseModel):
    """What both writers share; `url` is the server's base address, without credentials.

    A path is kept (a server behind a reverse proxy); the writers append their endpoints.
    """

    # hide_input_in_errors: a rejected value may hold a secret (a URL with a password in it).
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: str
    # influxdb-client's own default (timeout=10_000 ms) for a whole request.
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    gzip: bool = True
    verify_tls: bool = True
    ca_file: FilePath | None = None
    # Plain http:// with credentials, or verify_tls = false, towards a host that is not
    # loopback: refused unless this is set (gateway/tls.py).
    allow_insecure: bool = False

    @field_validator("url")
    @classmethod
    def _plain_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http:// or https:// followed by a host")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError:
            raise ValueError("url has a port that is not a number from 0 to 65535") from None
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not carry credentials; set them as their own settings")
        if parts.query or parts.fragment:
            raise ValueError("url must not have a query or a fragment")
        return value.rstrip("/")

    def ssl_context(self) -> ssl.SSLContext:
        """Verification on unless turned off; the CA file, when given, replaces the system's."""
        return client_context(self.ca_file, self.verify_tls)

    @abstractmethod
    def has_credentials(self) -> bool:
        """Whether requests carry a password or token (each API says how it authenticates)."""

    @model_validator(mode="after")
    def _protected_unless_loopback(self) -> Self:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if self.allow_insecure or is_loopback(host):
            return self
        if parts.scheme == "http" and self.has_credentials():
            raise insecure_error(
                host,
                "url is plain http:// and credentials are set (they would cross the network "
                "readable)",
                'url = "https://..."',
            )
        if not self.verify_tls:
            raise insecure_error(
                host,
                "verify_tls = false (anyone on the path could pose as the server)",
                'verify_tls = true, with ca_file = "/etc/bluewatch/influx-ca.pem" for a private CA',
            )
        return self


class InfluxV1Settings(_InfluxSettings):
    """InfluxDB 1.x `/write`: a database, an optional retention policy, optional credentials."""

    api: Literal["v1"] = "v1"
    database: str = Field(min_length=1)
    retention_policy: str | None = Field(default=None, min_length=1)
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> InfluxV1Settings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        return self

    def has_credentials(self) -> bool:
        return self.password is not None


class InfluxV2Settings(_InfluxSettings):
    """The v2 write API, for InfluxDB 2.x, 3.x, Cloud, 1.8+ and VictoriaMetrics.

    On InfluxDB 1.8+ the token is `username:password` and the bucket `database/retention_policy`.
    """

    api: Literal["v2"] = "v2"
    org: str = Field(min_length=1)
    bucket: str = Field(min_length=1)
    token: SecretStr

    def has_credentials(self) -> bool:
        return True  # the token is required


InfluxSettings = Annotated[InfluxV1Settings | InfluxV2Settings, Field(discriminator="api")]


# --- writers --------------------------------------------------------------------------------


class InfluxWriter(Protocol):
    """Sends batches of line protocol; raises a DeliveryError when a batch did not land."""

    async def write(self, lines: Sequence[str]) -> None: ...

    async def prepare(self, lines: Sequence[str]) -> Send:
        """Do the batch's work that needs no server now; the call returned sends it as `write`.

        A drain prepares the next batch while the one before is in flight (Sink.prepare).
        """
        ...

    async def close(self) -> None: ...


# zlib's default level: a 5,000-line batch shrinks ~10x in ~7 ms; level 9 (influxdb-client's)
# takes three times as long for 2% fewer bytes (bench/lineprotocol.py, docs/performance.md).
GZIP_LEVEL = 6
# Enough of an error body to hold the server's message, bounded against a misbehaving server.
MAX_ERROR_BODY_BYTES = 64 * 1024


async def _nothing() -> None:
    """The send of an empty batch."""


def _server_message(body: bytes, headers: Mapping[str, str]) -> str:
    """InfluxDB's message: JSON "error" (1.x) or "message" (2.x), its header, or the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "message"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
    return text or headers.get("X-Influxdb-Error", "")


class InfluxV1Writer:
    """POST /write?db=&rp=&precision=ns over aiohttp, gzip-compressed, basic auth if set.

    Basic authentication (InfluxDB 1.x accepts it or `u`/`p` query parameters) keeps the
    password out of URLs, and so out of proxy logs and exception texts.
    """

    def __init__(
        self, settings: InfluxV1Settings, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        self._ssl = settings.ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._url = f"{settings.url}/write"
        self._params = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self._params["rp"] = settings.retention_policy
        self.target = f"InfluxDB v1 {settings.url} database {settings.database!r}"

    def __repr__(self) -> str:
        return f"InfluxV1Writer({self.target})"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._settings.gzip:
            headers["Content-Encoding"] = "gzip"
        if self._settings.username and self._settings.password:
            pair = f"{self._settings.username}:{self._settings.password.get_secret_value()}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return headers

    async def write(self, lines: Sequence[str]) -> None:
        """Send one batch; returns when the server accepted all of it."""
        await (await self.prepare(lines))()

    async def prepare(self, lines: Sequence[str]) -> Send:
        """The batch's body, joined and compressed now; the call returned posts it."""
        if not lines:
            return _nothing
        # One thread for the join, the UTF-8 encoding and the compression (zlib lets the GIL
        # go): off the event loop, so BLE notifications never wait for them, and during a
        # drain overlapped with the batch in flight rather than after it.
        body = await asyncio.to_thread(self._body, lines)
        return partial(self._post, body)

    def _body(self, lines: Sequence[str]) -> bytes:
        body = "\n".join(lines).encode("utf-8")
        return gzip.compress(body, GZIP_LEVEL) if self._settings.gzip else body

    async def _post(self, body: bytes) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                connector=aiohttp.TCPConnector(ssl=self._ssl),
            )
        try:
            async with self._session.post(
                self._url, params=self._params, data=body, headers=self._headers()
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return
                error_body = await read_bounded(
                    response.content.iter_chunked(16 * 1024), MAX_ERROR_BODY_BYTES
                )
                retry_after = response.headers.get("Retry-After")
                message = _server_message(error_body, response.headers)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(self.target, exc, self._settings.timeout_s) from exc
        error = outcome(
            status,
            message,
            target=self.target,
            policy=INFLUX_OUTCOMES,
            retry_after_s=parse_retry_after(retry_after, now_epoch_s=self._wall_clock()),
        )
        if error is not None:
            raise error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class InfluxV2Writer:
    """The v2 write API through influxdb-client's InfluxDBClientAsync, gzip on by default.

    The client is made on the first write: it must be created inside a running event loop.
    """

    def __init__(
        self, settings: InfluxV2Settings, *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        self._ssl = settings.ssl_context()  # here, so a bad CA file fails at startup
        self._client: Any = None  # influxdb-client's annotations are partial
        self._write_api: Any = None
        self.target = f"InfluxDB v2 {settings.url} bucket {settings.bucket!r}"

    def __repr__(self) -> str:
        return f"InfluxV2Writer({self.target})"

    def _api(self) -> Any:
        if self._write_api is None:
            settings = self._settings
            self._client = InfluxDBClientAsync(
                url=settings.url,
                token=settings.token.get_secret_value(),
                org=settings.org,
                timeout=int(settings.timeout_s * 1000),
                enable_gzip=settings.gzip,
                ssl_context=self._ssl,
            )
            self._write_api = self._client.write_api()
        return self._write_api

    async def prepare(self, lines: Sequence[str]) -> Send:
        """Nothing ahead: influxdb-client joins and compresses the batch as it sends it."""
        return partial(self.write, lines)

    async def write(self, lines: Sequence[str]) -> None:
        """Send one batch; returns when the server accepted all of it."""
        if not lines:
            return
        api = self._api()
        try:
            await api.write(
                bucket=self._settings.bucket,
                org=self._settings.org,
                record="\n".join(lines),
                write_precision=WritePrecision.NS,
            )
        except ApiException as exc:
            raise self._status_error(exc) from exc
        except InfluxDBError as exc:  # raised without an HTTP response
            raise RetryableDeliveryError(f"{self.target}: {exc.message}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(self.target, exc, self._settings.timeout_s) from exc

    def _status_error(self, exc: ApiException) -> DeliveryError:
        message = exc.message
        if isinstance(message, bytes):  # the client passes non-JSON bodies through as bytes
            message = message.decode("utf-8", "replace")
        status = exc.status if isinstance(exc.status, int) else 0
        error = outcome(
            status,
            str(message or ""),
            target=self.target,
            policy=INFLUX_OUTCOMES,
            retry_after_s=parse_retry_after(exc.retry_after, now_epoch_s=self._wall_clock()),
        )
        return error or RetryableDeliveryError(
            f"{self.target}: HTTP {status} reported as failure", status=status
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._write_api = None


def make_writer(settings: InfluxV1Settings | InfluxV2Settings) -> InfluxWriter:
    """The writer for the configured API."""
    if isinstance(settings, InfluxV1Settings):
        return InfluxV1Writer(settings)
    return InfluxV2Writer(settings)


# --- batching -------------------------------------------------------------------------------


class BatchPolicy(BaseModel):
    """When a batch leaves: at `max_lines` lines, or when its oldest line is `max_age_s` old."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # InfluxDB's "Optimize writes": "The optimal batch size is 5000 lines of line protocol."
    max_lines: int = Field(default=5_000, ge=1)
    # Dashboards refresh every few seconds; one second of delay is invisible there and turns
    # a vest's 1-25 Hz readings into a few requests per second for a whole vehicle.
    max_age_s: float = Field(default=1.0, gt=0)
