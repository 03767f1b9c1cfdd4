"""Secrets read from files (`*_file` settings): one rule for every password, token and key.

A secret file holds the secret and at most a trailing line ending, which editors and
`echo` add; every other byte, spaces included, is part of the secret. Errors name the file
and say what is wrong with it, never what it holds.
"""

from __future__ import annotations

from pathlib import Path


class SecretError(ValueError):
    """A secret that cannot be used; the message names where it came from, never the secret."""


def require_length(secret: bytes, where: str, min_bytes: int) -> bytes:
    """Return `secret` if it has at least `min_bytes` bytes; else SecretError naming `where`."""
    if len(secret) < min_bytes:
        raise SecretError(
            f"{where}: the secret has {len(secret)} bytes; at least {min_bytes} are needed. "
            f"Make one with `openssl rand -hex {min_bytes}`."
        )
    return secret


def read_secret(path: Path, min_bytes: int = 0) -> bytes:
    """The secret in `path`, without its trailing line ending; SecretError names the file.

    `min_bytes` is the floor for a secret that keys a MAC or signs requests (0: no floor).
    """
    where = f"secret file {path}"
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise SecretError(f"{where}: cannot read: {exc.strerror}") from None
    return require_length(secret, where, min_bytes)


def read_secret_text(path: Path, min_bytes: int = 0) -> str:
    """`read_secret` for a password or token that is text (UTF-8)."""
    try:
        return read_secret(path, min_bytes).decode()
    except UnicodeDecodeError:
        # The decoder's message quotes the offending byte: a piece of the secret.
        raise SecretError(f"secret file {path}: not UTF-8 text") from None
