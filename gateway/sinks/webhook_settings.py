"""`[[webhooks]]`: one dispatch endpoint, its signing secret and what it receives."""

from __future__ import annotations

import ssl
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from gateway.alerts.model import Severity
from gateway.dispatch import check_secret, read_secret_file
from gateway.domain import ID_PATTERN
from gateway.sinks.alert_payloads import CapOptions
from gateway.tls import client_context, insecure_error, is_loopback


class WebhookEndpoint(BaseModel):
    """`[[webhooks]]`: one dispatch endpoint, its signing secret and what it receives."""

    # hide_input_in_errors: a refused value may be the secret itself.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    url: str
    secret: SecretStr | None = None
    secret_file: FilePath | None = None
    min_severity: Severity = Severity.HIGH
    format: Literal["json", "cap"] = "json"
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    verify_tls: bool = True
    ca_file: FilePath | None = None
    # verify_tls = false towards a host that is not loopback: refused unless this is set
    # (gateway/tls.py). Plain http:// stays loopback-only whatever this says.
    allow_insecure: bool = False
    cap_sender: str | None = Field(default=None, pattern=r"^[^\s,<&]{1,200}$")
    cap_restriction: str = Field(default=CapOptions.restriction, min_length=1, max_length=500)
    cap_radius_km: float = Field(default=CapOptions.radius_km, gt=0, le=100)

    @field_validator("url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be https:// followed by a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not carry credentials (requests are signed instead)")
        if parts.fragment:
            raise ValueError("url must not have a fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(
                "url must use https:// (alerts carry officers' locations); plain http:// is "
                "allowed only for a loopback host: localhost, 127.0.0.1 or ::1"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_secret(value.get_secret_value().encode(), "secret")
        return value

    @model_validator(mode="after")
    def _verified_unless_loopback(self) -> Self:
        host = urlsplit(self.url).hostname or ""
        if not (self.verify_tls or self.allow_insecure or is_loopback(host)):
            raise insecure_error(
                host,
                "verify_tls = false (anyone on the path could pose as dispatch and take the "
                "alerts)",
                'verify_tls = true, with ca_file = "/etc/bluewatch/cad-ca.pem" for a private CA',
            )
        return self

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if (self.secret is None) == (self.secret_file is None):
            raise ValueError("give exactly one of secret and secret_file")
        return self

    def shown_url(self) -> str:
        """The url without its query, the one part that might hold a token: for logs and output."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def signing_secret(self) -> bytes:
        """The HMAC key: inline, or read from `secret_file` now (SecretError names the file)."""
        if self.secret_file is not None:
            return read_secret_file(self.secret_file)
        assert self.secret is not None  # _one_secret
        return self.secret.get_secret_value().encode()

    def ssl_context(self) -> ssl.SSLContext:
        """Verification on unless turned off; the CA file, when given, replaces the system's."""
        return client_context(self.ca_file, self.verify_tls)

    def cap_options(self) -> CapOptions:
        return CapOptions(self.cap_sender, self.cap_restriction, self.cap_radius_km)
