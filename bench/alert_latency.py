"""End-to-end alert latency: a panic press on a simulated vest → the signed webhook received.

    .venv/bin/python bench/alert_latency.py [--panics 30] [--devices 1 16 64] [--fleet-process]
        [--receiver-in-process] [--runs 1] [--h10-acc-hz 200]

In one process: a simulated fleet (patrol-shift, real time: every device streams its normal
telemetry, 50 Hz IMU included) on the virtual radio, the composed gateway (BLE over Bumble,
pipeline, rules, outbox, webhook sink) and the dispatch receiver on loopback. Each panic press
is sent by one vest; the time is taken when the notification is sent, when the gateway's rule
raises the alert and when the receiver has verified the request and printed it.
"Gateway-added" is from the rule's alert to the receiver's answer (the delivery loop, signing,
HTTP; alerts go as they are raised, while their commit is under way: gateway/early_alerts.py).
The alert's time is its exact `changed_ns`, read from the engine: the payload's `changed_at`
has millisecond resolution, so timing from it, as before 2026-11-25, added 0-1 ms to every
figure (still printed as `payload_clock_*`). "Radio" is from the notification sent to the rule
(BLE, decode, pipeline). Medians and p99 over the presses; each alert is resolved before the
next press so every press opens a new alert.

Each run prints one JSON line, with the fdatasync time of the outbox's disk measured just
before (an alert's commit syncs it once). With `--runs N`, each fleet size runs N times and a
last line per size gives every run's p50 and p99 of the gateway-added latency, their medians,
and whether every run's p99 is under the 10 ms goal.

With --fleet-process, the simulated fleet runs as `bluewatch simulate` in a process of its own,
and dispatch's receiver in another (the time it verified each alert comes back on its stdout),
as deployed: dispatch is not in the vehicle. --receiver-in-process keeps the receiver in the
gateway's process and event loop, as the figures before 2026-11-28 (evening) were taken; there
the receiver's own work (parsing, verifying the signature, printing) waits for the gateway's
loop and counts in the gateway-added time.

With --h10-acc-hz the fleet is mixed: every second officer wears a vest and a
Polar H10 streaming PMD acceleration at that rate instead of a vest and a helmet, so the radio
and the pipeline carry the H10's frames (200 Hz: 36 samples every 180 ms) beside the vests'.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import fdatasync_ms, percentile
from firmware_mocks.fleet import Fleet
from firmware_mocks.radio import VirtualRadio
from firmware_mocks.scenario import Scenario, load_scenario
from gateway.app import SWITCH_INTERVAL_S, build, tune_interpreter
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory
from gateway.commands.dispatch_sink import DispatchReceiver
from gateway.config import GatewayConfig
from gateway.sinks.factory import build_sinks
from sensors import DeviceModel, SafetyEvent, SafetyEventKind
from tests.support.network import free_port
from tests.support.processes import BLUEWATCH


class Arrivals(io.StringIO):
    """The receiver's output stream: records when each verified alert was printed; with
    `relay`, also writes each as one line `{"arrived_ns": ..., "alert": ...}` there (the
    receiver in its own process tells the bench this way)."""

    def __init__(self, relay: TextIO | None = None) -> None:
        super().__init__()
        self.seen: list[tuple[int, dict[str, Any]]] = []
        self._relay = relay

    def write(self, text: str) -> int:
        now = time.time_ns()
        for line in text.splitlines():
            if line.strip():
                alert = json.loads(line)
                self.seen.append((now, alert))
                if self._relay is not None:
                    self._relay.write(json.dumps({"arrived_ns": now, "alert": alert}) + "\n")
                    self._relay.flush()
        return len(text)


async def serve_receiver(secret: bytes) -> None:
    """Dispatch's receiver in a process of its own, as deployed: the bench reads its URL and
    then every verified alert, with the time it was verified, from its stdout."""
    receiver = DispatchReceiver(secret, out=Arrivals(relay=sys.stdout))
    url = await receiver.start("127.0.0.1", 0)
    print(json.dumps({"url": url}), flush=True)
    try:
        await asyncio.Event().wait()  # until terminated
    finally:
        await receiver.stop()


class ReceiverProcess:
    """`serve_receiver` as a child process, its arrivals read into `seen`."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, Any]]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, secret_file: Path) -> str:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-receiver", str(secret_file),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._process.stdout is not None
        url = str(json.loads(await self._process.stdout.readline())["url"])
        self._reader = asyncio.create_task(self._read(self._process.stdout))
        return url

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            entry = json.loads(line)
            self.seen.append((entry["arrived_ns"], entry["alert"]))

    async def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()
        if self._reader is not None:
            await self._reader


def bench_config(
    roster: list[dict[str, Any]], folder: Path, url: str, ble: dict[str, str] | None = None
) -> GatewayConfig:
    """The gateway under test: the roster, a fresh outbox, one webhook to the receiver."""
    settings: dict[str, Any] = {
        "agency": "bench-pd",
        "unit": "car-1",
        "officers": roster,
        "outbox": {"path": folder / "outbox.sqlite3"},
        "http": {"port": 0},
        "webhooks": [
            {
                "name": "dispatch",
                "url": f"{url}/alerts",
                "secret_file": folder / "secret",
                "min_severity": "high",
            }
        ],
    }
    if ble:
        settings["ble"] = ble
    return GatewayConfig.model_validate(settings)


def payload_clock_ns(alert: dict[str, Any]) -> int:
    """The alert's time as the webhook states it (`changed_at`, whole milliseconds)."""
    return int(datetime.fromisoformat(alert["changed_at"]).timestamp() * 1e9)


H10_KIT = ["bluewatch-vest", "polar-h10"]


def h10_scenario(officers: int) -> Scenario:
    """patrol-shift with every second officer in a vest and a Polar H10 (the panic presses
    still come from vests); the officers' own settings are kept."""
    data = load_scenario("patrol-shift").model_dump(mode="json", exclude_unset=True)
    roster = data["roster"]
    given = {entry["index"]: entry for entry in roster.get("officers", [])}
    for index in range(1, officers, 2):
        given[index] = {**given.get(index, {"index": index}), "kit": H10_KIT}
    roster["size"] = max(officers, roster["size"])
    roster["officers"] = sorted(given.values(), key=lambda entry: entry["index"])
    return Scenario.model_validate(data)


async def measure(
    devices: int, panics: int, folder: Path, h10_acc_hz: int | None = None
) -> dict[str, Any]:
    officers = max(1, devices // 2)
    disk = fdatasync_ms(folder)
    radio = VirtualRadio()
    scenario = load_scenario("patrol-shift") if h10_acc_hz is None else h10_scenario(officers)
    fleet = Fleet(radio, scenario, officers, seed=5, time_scale=1.0)
    await fleet.start()
    ticker = asyncio.create_task(fleet.run())
    secret = secrets.token_hex(32).encode()  # text: the file is read without a final CR or LF
    arrivals = Arrivals()
    receiver = DispatchReceiver(secret, out=arrivals)
    url = await receiver.start("127.0.0.1", 0)
    (folder / "secret").write_bytes(secret)
    roster = []
    for entry in fleet.roster():
        # One device per officer: the vest; two: the vest and the helmet (the kit's order).
        worn = entry.devices[: 2 if devices > 1 else 1]
        roster.append(
            {
                "id": entry.officer_id,
                "devices": [
                    {"model": d.model, "address": d.address}
                    | ({"acc_rate_hz": h10_acc_hz} if d.model == DeviceModel.POLAR_H10 else {})
                    for d in worn
                ],
            }
        )
    config = bench_config(roster, folder, url)
    stack = await BumbleStack.attach(*radio.host_pipe())
    gateway = await build(
        config, build_sinks(config), BleakFactory.bumble(stack, link_limit=max(devices, 1))
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(gateway.run(stop))
    radio_ms: list[float] = []
    gateway_ms: list[float] = []
    payload_ms: list[float] = []
    total_ms: list[float] = []
    try:
        async with asyncio.timeout(120):
            while sum(m.health.connected for m in gateway.manager.devices.values()) < len(
                gateway.manager.devices
            ):
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # telemetry flowing from every device
        for press in range(panics):
            officer = fleet.officers[press % officers]
            vest = officer.devices[DeviceModel.BLUEWATCH_VEST].peripheral
            before = len(arrivals.seen)
            event = SafetyEvent(
                event=SafetyEventKind.PANIC_PRESS, sequence=press % 65536, device_ticks_ms=0
            )
            sent = time.time_ns()
            await vest.notify(SafetyEvent.UUID, event.encode())
            async with asyncio.timeout(10):
                while not any(
                    a["kind"] == "panic" and a["state"] == "active"
                    for _, a in arrivals.seen[before:]
                ):
                    await asyncio.sleep(0.0005)
            arrived, alert = next((t, a) for t, a in arrivals.seen[before:] if a["kind"] == "panic")
            raised = gateway.engine.alerts[alert["alert_id"]].changed_ns
            radio_ms.append((raised - sent) / 1e6)
            gateway_ms.append((arrived - raised) / 1e6)
            payload_ms.append((arrived - payload_clock_ns(alert)) / 1e6)
            total_ms.append((arrived - sent) / 1e6)
            gateway.engine.resolve(alert["alert_id"], "bench", "bench")
            async with asyncio.timeout(10):
                while not any(a["state"] == "resolved" for _, a in arrivals.seen[before:]):
                    await asyncio.sleep(0.001)
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await runner
        ticker.cancel()
        await receiver.stop()
    return {
        "devices": len(gateway.manager.devices),
        "h10_acc_hz": h10_acc_hz,
        "h10_devices": sum(
            m.ref.model is DeviceModel.POLAR_H10 for m in gateway.manager.devices.values()
        ),
        "panics": panics,
        "total_p50_ms": statistics.median(total_ms),
        "total_p99_ms": percentile(total_ms, 0.99),
        "radio_p50_ms": statistics.median(radio_ms),
        "gateway_added_p50_ms": statistics.median(gateway_ms),
        "gateway_added_p99_ms": percentile(gateway_ms, 0.99),
        "payload_clock_p50_ms": statistics.median(payload_ms),
        "payload_clock_p99_ms": percentile(payload_ms, 0.99),
        "fdatasync_ms": disk,
    }


FIRST_PRESS_S = 15.0
PRESS_EVERY_S = 0.8
# How long 64 devices may take to connect, H10 handshakes included, before the run gives up.
CONNECT_ALL_S = 120.0
# After the last press is due, this long for it to arrive; a press whose alert never comes (its
# device was still connecting on a loaded machine) is counted as missed instead of hanging.
LAST_PRESS_GRACE_S = 10.0


def panic_scenario(officers: int, panics: int) -> str:
    """patrol-shift plus `panics` presses, round-robin over the officers, 0.8 s apart."""
    root = Path(__file__).resolve().parent.parent
    base = (root / "firmware_mocks/scenarios/patrol-shift.toml").read_text()
    base = base.replace('name = "patrol-shift"', 'name = "bench-panics"', 1)
    base = re.sub(r"(?m)^(\[roster\]\nsize = )\d+", rf"\g<1>{max(officers, 4)}", base)
    events = "".join(
        f'\n[[events]]\nat_s = {FIRST_PRESS_S + n * PRESS_EVERY_S:.1f}\nkind = "panic_press"\n'
        f'device = "vest"\nofficers = [{n % officers}]\n'
        for n in range(panics)
    )
    return base + events


def h10_officers(text: str, officers: int) -> str:
    """A scenario file's text with every second officer in a vest and a Polar H10, as
    h10_scenario: the kit joins an officer's own table, or a table of its own is added."""
    for index in range(1, officers, 2):
        kit = f"kit = {json.dumps(H10_KIT)}\n"
        own = f"[[roster.officers]]\nindex = {index}\n"
        text = text.replace(own, own + kit, 1) if own in text else text + f"\n{own}{kit}"
    return text


async def measure_split(
    devices: int,
    panics: int,
    folder: Path,
    h10_acc_hz: int | None = None,
    receiver_in_process: bool = False,
) -> dict[str, Any]:
    """The fleet and dispatch's receiver each in a process of their own (as deployed): only
    the gateway here. With `receiver_in_process`, the receiver shares the gateway's process
    and event loop (the arrangement of the figures before 2026-11-28, evening)."""
    officers = max(1, devices // 2)
    disk = fdatasync_ms(folder)
    scenario = folder / "bench-panics.toml"
    text = panic_scenario(officers, panics)
    scenario.write_text(text if h10_acc_hz is None else h10_officers(text, officers))
    port = free_port()
    fleet = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [
            BLUEWATCH,
            "simulate",
            "--officers",
            str(officers),
            "--scenario",
            str(scenario),
            "--time-scale",
            "1",
            "--listen",
            f"tcp-server:127.0.0.1:{port}",
            # The presses are timed from the scenario's start: started before every device is
            # connected, a press to a vest still waiting behind the H10s' PMD handshakes is lost.
            "--start-when-connected",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fleet.stdout is not None
    announced = json.loads(fleet.stdout.readline())["officers"]
    secret = secrets.token_hex(32).encode()  # text: the file is read without a final CR or LF
    (folder / "secret").write_bytes(secret)
    arrivals: Arrivals | ReceiverProcess
    receiver: DispatchReceiver | ReceiverProcess
    if receiver_in_process:
        arrivals = Arrivals()
        receiver = DispatchReceiver(secret, out=arrivals)
        url = await receiver.start("127.0.0.1", 0)
    else:
        arrivals = receiver = ReceiverProcess()
        url = await receiver.start(folder / "secret")
    roster = []
    for entry in announced:
        worn = entry["devices"][: 2 if devices > 1 else 1]
        roster.append(
            {
                "id": entry["officer_id"],
                "devices": [
                    {"model": d["model"], "address": d["address"]}
                    | ({"acc_rate_hz": h10_acc_hz} if d["model"] == DeviceModel.POLAR_H10 else {})
                    for d in worn
                ],
            }
        )
    config = bench_config(
        roster,
        folder,
        url,
        # One simulated controller holds every link: its limit is not what is measured.
        {
            "backend": "bumble",
            "bumble_transport": f"tcp-client:127.0.0.1:{port}",
            "links_per_adapter": max(devices, 1),
        },
    )
    gateway = await build(config, build_sinks(config))
    stop = asyncio.Event()
    runner = asyncio.create_task(gateway.run(stop))
    gateway_ms: list[float] = []
    payload_ms: list[float] = []
    try:
        async with asyncio.timeout(CONNECT_ALL_S):
            while not all(m.client is not None for m in gateway.manager.devices.values()):
                await asyncio.sleep(0.05)
        last_press_due = time.monotonic() + FIRST_PRESS_S + (panics - 1) * PRESS_EVERY_S
        while len(gateway_ms) < panics and time.monotonic() < last_press_due + LAST_PRESS_GRACE_S:
            active = [
                (t, a) for t, a in arrivals.seen if a["kind"] == "panic" and a["state"] == "active"
            ]
            for arrived, alert in active[len(gateway_ms) :]:
                raised = gateway.engine.alerts[alert["alert_id"]].changed_ns
                gateway_ms.append((arrived - raised) / 1e6)
                payload_ms.append((arrived - payload_clock_ns(alert)) / 1e6)
                gateway.engine.resolve(alert["alert_id"], "bench", "bench")
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await runner
        await receiver.stop()
        fleet.terminate()
        fleet.wait(timeout=10)
    return {
        "devices": len(gateway.manager.devices),
        "fleet": "own process",
        "receiver": "gateway's process" if receiver_in_process else "own process",
        "h10_acc_hz": h10_acc_hz,
        "panics": len(gateway_ms),
        "panics_missed": panics - len(gateway_ms),
        "gateway_added_p50_ms": statistics.median(gateway_ms),
        "gateway_added_p99_ms": percentile(gateway_ms, 0.99),
        "gateway_added_max_ms": max(gateway_ms),
        "payload_clock_p50_ms": statistics.median(payload_ms),
        "payload_clock_p99_ms": percentile(payload_ms, 0.99),
        "fdatasync_ms": disk,
    }


GOAL_P99_MS = 10.0


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every run's gateway-added p50 and p99 at one fleet size, and whether each met the goal."""
    p50s = [round(run["gateway_added_p50_ms"], 2) for run in runs]
    p99s = [round(run["gateway_added_p99_ms"], 2) for run in runs]
    return {
        "devices": runs[0]["devices"],
        "runs": len(runs),
        "gateway_added_p50_ms": p50s,
        "gateway_added_p99_ms": p99s,
        "median_p50_ms": round(statistics.median(p50s), 2),
        "median_p99_ms": round(statistics.median(p99s), 2),
        f"every_p99_under_{GOAL_P99_MS:g}_ms": all(p99 < GOAL_P99_MS for p99 in p99s),
        "fdatasync_p50_ms": [run["fdatasync_ms"]["p50"] for run in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panics", type=int, default=30)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--fleet-process", action="store_true", help="the fleet in its own process")
    parser.add_argument("--runs", type=int, default=1, help="runs per fleet size")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval for the measuring process instead of the daemon's "
        f"({SWITCH_INTERVAL_S} s; Python's default is 0.005 s)",
    )
    parser.add_argument(
        "--receiver-in-process",
        action="store_true",
        help="with --fleet-process: dispatch's receiver in the gateway's process and event "
        "loop, as the figures before 2026-11-28 (evening) were taken",
    )
    parser.add_argument("--serve-receiver", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--h10-acc-hz",
        type=int,
        choices=(25, 50, 100, 200),
        help="a mixed fleet: every second officer's helmet is a Polar H10 streaming ACC at "
        "this rate",
    )
    options = parser.parse_args()
    if options.serve_receiver:
        asyncio.run(serve_receiver(options.serve_receiver.read_bytes()))
        return
    tune_interpreter()  # as `bluewatch run` does
    if options.switch_interval:
        sys.setswitchinterval(options.switch_interval)
    measure_one = (
        functools.partial(
            measure_split,
            h10_acc_hz=options.h10_acc_hz,
            receiver_in_process=options.receiver_in_process,
        )
        if options.fleet_process
        else functools.partial(measure, h10_acc_hz=options.h10_acc_hz)
    )
    for devices in options.devices:
        runs = []
        for _ in range(options.runs):
            with tempfile.TemporaryDirectory() as folder:
                runs.append(asyncio.run(measure_one(devices, options.panics, Path(folder))))
            print(json.dumps(runs[-1]), flush=True)
        if options.runs > 1:
            print(json.dumps({"summary": summary(runs)}), flush=True)


if __name__ == "__main__":
    main()
