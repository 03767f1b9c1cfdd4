"""The soak's processes and the handles its fault injectors pull.

A private InfluxDB (behind the counting proxy) and Mosquitto on free loopback ports, the
dispatch receiver in the driver's own event loop (its fault modes set directly), the simulated
fleet and the gateway as `bluewatch` processes. A supervisor restarts the gateway or the fleet
when either exits, as systemd would, and records every exit it did not cause itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

from bench.soak_proxy import CountingProxy
from gateway.commands.dispatch_sink import DispatchReceiver, Faults
from gateway.config import load_config
from gateway.config_file import TomlTable
from tests.e2e.harness import Fleet, gateway_config, start_fleet, start_gateway
from tests.integration.private_services import PrivateServer, influxdb, mosquitto
from tests.support.network import free_port

DATABASE: Final = "bluewatch"
WEBHOOK_TIMEOUT_S: Final = 2.0
# libfaketime from Debian (package `faketime`). Monotonic clocks are left alone: a wall-clock
# jump does not move them, and asyncio's timers run on them.
LIBFAKETIME: Final = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
RESTART_DELAY_S: Final = 1.0  # systemd's RestartSec in deploy/
RSS_EVERY_S: Final = 2.0


@dataclass(frozen=True)
class Exit:
    """A process exit the soak did not cause: which process, its status, when (run seconds)."""

    process: str
    status: int
    at_s: float


@dataclass
class RigOptions:
    workdir: Path
    officers: int = 2
    scenario: str = "patrol-shift"
    seed: int = 1
    fake_clock: bool = False  # start the gateway under libfaketime (clock jumps)
    outbox_dir: Path | None = None  # a size-limited filesystem for the full-disk fault
    hold_scale: float = 1.0  # faults held this many times their drawn duration
    log: Callable[[str], None] = print


@dataclass
class Rig:
    """Everything running, and the controls the injectors use."""

    options: RigOptions
    influx: PrivateServer
    proxy: CountingProxy
    broker: PrivateServer
    receiver: DispatchReceiver
    raw_log: TextIO
    fleet: Fleet
    config: Path
    lost_after_s: float  # the gateway's [link] lost_after_s
    started: float = field(default_factory=time.monotonic)
    gateway: subprocess.Popen[bytes] | None = None
    exits: list[Exit] = field(default_factory=list)
    rss_kib: list[tuple[float, int]] = field(default_factory=list)
    _expected: set[int] = field(default_factory=set)  # pids the soak itself stopped
    _supervising: bool = True

    @property
    def gateway_log(self) -> Path:
        return self.options.workdir / "gateway.log"

    @property
    def clock_file(self) -> Path:
        return self.options.workdir / "faketime.rc"

    def now_s(self) -> float:
        return time.monotonic() - self.started

    # --- the gateway --------------------------------------------------------------------------

    def start_gateway(self, seconds: float = 0) -> None:
        env = None
        if self.options.fake_clock:
            env = {
                **os.environ,
                "LD_PRELOAD": str(LIBFAKETIME),
                "FAKETIME_TIMESTAMP_FILE": str(self.clock_file),
                "FAKETIME_CACHE_DURATION": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        self.gateway = start_gateway(self.config, self.gateway_log, seconds, env=env)

    def kill_gateway(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` to the gateway; the supervisor restarts it without counting a crash."""
        if self.gateway is not None and self.gateway.poll() is None:
            self._expected.add(self.gateway.pid)
            self.gateway.send_signal(sig)

    async def stop_gateway(self, timeout_s: float = 60) -> int | None:
        """SIGTERM and wait (its bounded drain), with the supervisor no longer restarting it."""
        self._supervising = False
        gateway = self.gateway
        if gateway is None:
            return None
        self.kill_gateway(signal.SIGTERM)
        try:
            return await asyncio.to_thread(gateway.wait, timeout_s)
        except subprocess.TimeoutExpired:
            gateway.kill()
            return await asyncio.to_thread(gateway.wait)

    async def supervise(self) -> None:
        """Restart the gateway and the fleet when they exit; record exits not caused here."""
        while True:
            await asyncio.sleep(0.2)
            if not self._supervising:
                continue
            gateway = self.gateway
            if gateway is not None and (status := gateway.poll()) is not None:
                if gateway.pid not in self._expected:
                    self.exits.append(Exit("gateway", status, round(self.now_s(), 1)))
                    self.options.log(f"[{self.now_s():7.1f}s] gateway exited with {status}")
                    await asyncio.sleep(RESTART_DELAY_S)
                self.start_gateway()
            if (status := self.fleet.process.poll()) is not None:
                self.exits.append(Exit("fleet", status, round(self.now_s(), 1)))
                self.options.log(f"[{self.now_s():7.1f}s] fleet exited with {status}")
                self.fleet = await asyncio.to_thread(self._fleet_again)

    def _fleet_again(self) -> Fleet:
        # The same seed gives the same addresses, so the roster in the configuration still fits.
        options = self.options
        return start_fleet(options.officers, options.scenario, seed=options.seed,
                           port=self.fleet.port)  # fmt: skip

    async def sample_rss(self) -> None:
        """The gateway's resident memory every RSS_EVERY_S, from /proc (KiB)."""
        while True:
            gateway = self.gateway
            if gateway is not None:
                rss = rss_kib(gateway.pid)
                if rss is not None:
                    self.rss_kib.append((self.now_s(), rss))
            await asyncio.sleep(RSS_EVERY_S)

    async def streaming(self, timeout_s: float = 90.0) -> None:
        """Return once InfluxDB has acknowledged heart rate from every officer: the devices
        are connected, so a first fault finds links to drop and data in flight."""
        officers = self.options.officers
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            series = {s for s, _ in self.proxy.written if s.startswith("heart_rate,")}
            if len(series) >= officers:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"no heart rate from {officers} officers within {timeout_s:g} s")

    # --- the fleet ----------------------------------------------------------------------------

    def links(self, up: bool) -> None:
        """Every simulated device out of range (False) or back (True)."""
        self.fleet.process.send_signal(signal.SIGUSR2 if up else signal.SIGUSR1)

    # --- the receiver -------------------------------------------------------------------------

    def receiver_faults(self, faults: Faults) -> None:
        self.receiver.faults = faults

    # --- the clock ----------------------------------------------------------------------------

    def shift_clock(self, offset: str) -> None:
        """The gateway's wall clock shifted by `offset` (libfaketime's "+1h", "-1h", "+0")."""
        self.clock_file.write_text(offset + "\n")

    async def close(self) -> None:
        self._supervising = False
        with contextlib.suppress(Exception):
            await self.stop_gateway(30)
        self.fleet.stop()
        await self.receiver.stop()
        self.raw_log.close()
        await self.proxy.stop()
        await asyncio.to_thread(self.broker.stop)
        await asyncio.to_thread(self.influx.stop)


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB, or None if it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


async def start_rig(options: RigOptions) -> Rig:
    """Start the services, the receiver, the fleet and the gateway; the caller closes it."""
    work = options.workdir
    (work / "influx").mkdir(parents=True, exist_ok=True)
    (work / "mqtt").mkdir(exist_ok=True)
    influx = influxdb(work / "influx", DATABASE)
    await asyncio.to_thread(influx.start)
    proxy = CountingProxy(f"http://127.0.0.1:{influx.port}", free_port())
    await proxy.start()
    broker = mosquitto(work / "mqtt")
    await asyncio.to_thread(broker.start)
    secret = work / "webhook.secret"
    secret.write_text(secrets.token_urlsafe(32))
    raw_log = (work / "dispatch-raw.jsonl").open("a", encoding="utf-8")
    receiver = DispatchReceiver(secret.read_bytes(), raw_log=raw_log)
    await receiver.start()
    fleet = await asyncio.to_thread(
        start_fleet, options.officers, options.scenario, seed=options.seed
    )
    outbox = (options.outbox_dir or work) / "outbox.sqlite3"
    extra: TomlTable = {
        "outbox": {"path": outbox},
        "webhooks": [
            {
                "name": "dispatch",
                "url": f"{receiver.url}/alerts",
                "secret_file": secret,
                # Every alert change, so the outbox's alert rows are exactly what must arrive.
                "min_severity": "info",
                "timeout_s": WEBHOOK_TIMEOUT_S,
            }
        ],
    }
    config = gateway_config(
        work, fleet, influx_url=proxy.url, database=DATABASE,
        mqtt=("127.0.0.1", broker.port), extra=extra,
    )  # fmt: skip
    lost_after_s = load_config(config).link.lost_after_s
    rig = Rig(options, influx, proxy, broker, receiver, raw_log, fleet, config, lost_after_s)
    if options.fake_clock:
        rig.shift_clock("+0")
    rig.start_gateway()
    return rig
