"""Private instances of the real servers, for tests that must stop and restart them.

The shared services (scripts/services) stay up for everyone; a test that needs an outage starts
its own broker or database on a free loopback port, with its data in the test's tmp_path.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.network import free_port


def _wait(predicate: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError("service did not become ready")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateServer:
    """One server process that a test can stop and start again on the same port and data."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv, self.port, self.log = argv, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: _listening(self.port))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        _wait(lambda: not _listening(self.port))


def _require(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if path is None:
        pytest.skip(f"{binary} is not installed (./run installs it)")
    return path


def mosquitto(tmp_path: Path) -> PrivateServer:
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    return PrivateServer(
        [_require("mosquitto"), "-c", str(config)], port, tmp_path / "mosquitto.log"
    )


def influxdb(tmp_path: Path, database: str = "bluewatch") -> PrivateServer:
    port, rpc = free_port(), free_port()
    config = tmp_path / "influxdb.conf"
    config.write_text(
        f'reporting-enabled = false\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{tmp_path / "meta"}"\n'
        f'[data]\n  dir = "{tmp_path / "data"}"\n  wal-dir = "{tmp_path / "wal"}"\n'
        "  query-log-enabled = false\n[monitor]\n  store-enabled = false\n"
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
    )
    server = PrivateServer(
        [_require("influxd"), "run", "-config", str(config)], port, tmp_path / "influxd.log"
    )
    original_start = server.start

    def start() -> None:
        original_start()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/query",
            data=f"q=CREATE DATABASE {database}".encode(),
            method="POST",
        )
        _wait(lambda: urllib.request.urlopen(request, timeout=2).status == 200)

    server.start = start  # type: ignore[method-assign]
    return server
