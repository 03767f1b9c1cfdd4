"""Starting and stopping `bluewatch` processes: for end-to-end tests, the demo and benchmarks."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gateway.config_file import TomlValue
from tests.support.network import free_port

# The console script installed next to this interpreter (the project's virtual environment).
BLUEWATCH = str(Path(sys.executable).with_name("bluewatch"))

Stream = int | IO[Any] | None  # what subprocess.Popen takes for stdout and stderr


def stop(process: subprocess.Popen[Any], timeout_s: float = 10) -> None:
    """SIGTERM, as a service manager would send, then SIGKILL if it is still there after
    `timeout_s`."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class DispatchSink:
    """A `bluewatch dispatch-sink` process: a dispatch centre's webhook receiver on loopback.

    Started with `stdout=subprocess.PIPE`, `process.stdout` gives one JSON line per new alert
    state change, as it arrives.
    """

    process: subprocess.Popen[str]
    url: str
    secret_file: Path

    def webhook(self, **settings: TomlValue) -> dict[str, TomlValue]:
        """The gateway's `[[webhooks]]` entry for this receiver; `settings` add or override."""
        return {
            "name": "dispatch",
            "url": f"{self.url}/alerts",
            "secret_file": self.secret_file,
            "min_severity": "warning",
            **settings,
        }

    def stop(self) -> None:
        stop(self.process)


def start_dispatch_sink(
    secret_file: Path, *, stdout: Stream = subprocess.PIPE, stderr: Stream = subprocess.DEVNULL
) -> DispatchSink:
    """`bluewatch dispatch-sink` on a free loopback port, verifying with `secret_file`."""
    port = free_port()
    process = subprocess.Popen(
        [
            BLUEWATCH, "dispatch-sink", "--listen", f"127.0.0.1:{port}",
            "--secret-file", str(secret_file),
        ],
        stdout=stdout,
        stderr=stderr,
        text=True,
    )  # fmt: skip
    return DispatchSink(process, f"http://127.0.0.1:{port}", secret_file)
