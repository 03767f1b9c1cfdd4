"""A real gpsd on a loopback port, fed by `gpsfake` (Debian's gpsd-clients) from an NMEA log.

gpsfake starts its own gpsd (`-N -S <port>`; with `-n` it reads at once, not when a client
first asks) on a pseudo-terminal and writes the log into it, a receiver cycle every
`seconds_per_cycle`; with `once` it exits at the log's end, and its gpsd with it, which is how
a test sees gpsd go away.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_mocks.nmea import SENTENCES_PER_CYCLE
from tests.support.processes import stop


def require_gpsfake() -> str:
    """gpsfake's path; a skip without it, a failure under ./run test (which installs it)."""
    path = shutil.which("gpsfake")
    if path is None or shutil.which("gpsd", path=f"{os.environ.get('PATH', '')}:/usr/sbin") is None:
        reason = "gpsd and gpsfake are not installed (Debian: gpsd gpsd-clients)"
        if os.environ.get("BLUEWATCH_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


# gpsfake -p connects to the gpsd it has just spawned once gpsd's control socket exists, which
# can be before gpsd listens on its TCP port: on a busy machine gpsfake then exits ("socket
# error [Errno 111] Connection refused", exit status 1 like any other error). Started again,
# it finds the port open; a real fault fails every attempt and is reported with its output.
GPSFAKE_ATTEMPTS = 3


@dataclass
class GpsFake:
    """One gpsfake run; `stop()` ends it (and its gpsd) if the log has not already."""

    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            stop(self.process)

    def wait(self, timeout_s: float) -> None:
        self.process.wait(timeout=timeout_s)


def start_gpsfake(
    log: Path, port: int, *, seconds_per_cycle: float, once: bool = True, output: Path
) -> GpsFake:
    """gpsfake replaying `log` at one receiver cycle per `seconds_per_cycle`, gpsd on `port`."""
    gpsfake = require_gpsfake()
    # -p: gpsfake watches its gpsd itself (writing the reports to `output`); it needs to, for
    # -1 to end the run: it removes the fake receiver when its gpsd reports the device closed.
    cycle = str(seconds_per_cycle / SENTENCES_PER_CYCLE)
    args = [gpsfake, "-q", "-n", "-p", "-P", str(port), "-c", cycle]
    if once:
        args.append("-1")
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}
    for _ in range(GPSFAKE_ATTEMPTS):
        with output.open("ab") as sink:
            process = subprocess.Popen([*args, str(log)], stdout=sink, stderr=sink, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return GpsFake(process, port)
            except OSError:
                time.sleep(0.05)
        if process.poll() is None:
            stop(process)
            raise RuntimeError(f"gpsd did not listen on port {port}: {output.read_text()[-2000:]}")
    raise RuntimeError(f"gpsfake exited: {output.read_text()[-2000:]}")


def start_gpsd(source: str, port: int, *, output: Path) -> subprocess.Popen[bytes]:
    """A real gpsd serving clients on `port` and reading `source` (e.g. `udp://127.0.0.1:N`,
    where `bluewatch simulate --vehicle-nmea` sends the vehicle's receiver), as the car's own."""
    gpsd = shutil.which("gpsd", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if gpsd is None:
        raise RuntimeError("gpsd is not installed (Debian: gpsd)")
    # -N: in the foreground, ours to stop; -n: read the source before a client asks; -b: never
    # write to the receiver (there is none to configure); -S: our port, not the system's 2947.
    with output.open("ab") as sink:
        process = subprocess.Popen(
            [gpsd, "-N", "-n", "-b", "-S", str(port), source], stdout=sink, stderr=sink
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gpsd exited: {output.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"gpsd did not listen on port {port}: {output.read_text()[-2000:]}")
