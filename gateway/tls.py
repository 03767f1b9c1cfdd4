"""Outbound transport for every connection of the gateway: one way to build client TLS contexts,
and the rule for what may go unprotected (only traffic that stays on this computer)."""

from __future__ import annotations

import ssl
from ipaddress import ip_address
from pathlib import Path


def client_context(ca_file: Path | None, verify: bool = True) -> ssl.SSLContext:
    """Verification on unless turned off; the CA file, when given, replaces the system's.

    Raises ValueError naming the file when it holds no usable CA certificate.
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except ssl.SSLError as exc:
        raise ValueError(f"ca_file {ca_file} holds no usable CA certificate: {exc}") from exc
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses: traffic that never leaves this computer."""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_error(host: str, risk: str, instead: str) -> ValueError:
    """The refusal of `risk` towards a host that is not loopback, saying what to write instead.

    Settings raise it from their validators unless `allow_insecure = true`; the demo and the
    tests talk to loopback services, which are always allowed.
    """
    return ValueError(
        f"{risk} for {host}, which is not a loopback host: write {instead}; or, to accept the "
        "risk, allow_insecure = true (the gateway then warns at every start)"
    )
