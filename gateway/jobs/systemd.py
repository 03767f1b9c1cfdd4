"""systemd's notify protocol: READY once the daemon runs, then the watchdog's heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping


def notify_systemd(message: str, environ: Mapping[str, str] = os.environ) -> None:
    """sd_notify(3) over $NOTIFY_SOCKET, when systemd started us with Type=notify."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


class SystemdWatchdog:
    """Tells systemd we are up, then pets its watchdog at half its interval while we run."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._environ = environ

    async def run(self) -> None:
        notify_systemd("READY=1", self._environ)
        # WatchdogSec in the unit becomes WATCHDOG_USEC; petting at half of it tolerates one
        # late wake-up of a busy loop without a restart.
        interval_s = int(self._environ.get("WATCHDOG_USEC", "0")) / 2e6
        if interval_s <= 0:
            return
        while True:
            notify_systemd("WATCHDOG=1", self._environ)
            await asyncio.sleep(interval_s)
