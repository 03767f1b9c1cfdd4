"""One way to build client TLS contexts, for every outbound connection of the gateway."""

from __future__ import annotations

import ssl
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
