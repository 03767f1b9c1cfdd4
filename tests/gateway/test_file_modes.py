"""Files holding officers' data are the daemon user's only: outbox 0600, the daemon's umask 077."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.outbox import Outbox
from tests.support.processes import BLUEWATCH

JOURNALS = ("", "-wal", "-shm")


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The usual 022, under which a file would be created readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("lax_umask")
def test_the_outbox_and_its_journal_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    try:
        files = [path.with_name(path.name + suffix) for suffix in JOURNALS]
        assert {file.name: mode(file) for file in files} == {file.name: 0o600 for file in files}
    finally:
        outbox.close()


@pytest.mark.usefixtures("lax_umask")
def test_an_outbox_left_readable_by_an_older_version_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    Outbox(path).close()
    for suffix in JOURNALS:
        left = path.with_name(path.name + suffix)
        left.touch()  # as a kill -9 leaves the journal behind
        left.chmod(0o644)
    Outbox(path).close()
    assert mode(path) == 0o600
    for suffix in JOURNALS[1:]:
        left = path.with_name(path.name + suffix)
        assert not left.exists() or mode(left) == 0o600


@pytest.mark.usefixtures("lax_umask")  # inherited by the daemon's process
def test_bluewatch_run_creates_files_with_umask_077(tmp_path: Path) -> None:
    # A directory the daemon creates shows its umask: 0700 under 077, 0755 under 022.
    state = tmp_path / "state"
    config = tmp_path / "gateway.toml"
    config.write_text(
        'agency = "pd"\nunit = "car-1"\n'
        f'[outbox]\npath = "{state / "outbox.sqlite3"}"\n'
        # Nothing listens there: the daemon stops right after building the outbox.
        '[ble]\nbackend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9"\n'
    )
    subprocess.run(
        [BLUEWATCH, "run", "--config", str(config)],
        check=False,
        capture_output=True,
        timeout=60,
    )
    assert mode(state) == 0o700
    assert mode(state / "outbox.sqlite3") == 0o600
