"""Processes end to end: a simulated fleet and a gateway, each its own `bluewatch` process."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.config_file import (
    SimulatedDevice,
    SimulatedOfficer,
    TomlTable,
    TomlValue,
    render_toml,
    simulated_officers,
)
from tests.support.network import free_port
from tests.support.processes import BLUEWATCH, stop


@dataclass
class Fleet:
    process: subprocess.Popen[str]
    port: int
    roster: list[SimulatedOfficer]

    def device(self, officer: int, model: str) -> SimulatedDevice:
        """The `model` device of officer `officer` (0-based) as announced: model, address, name."""
        return next(d for d in self.roster[officer]["devices"] if d["model"] == model)

    def stop(self) -> None:
        stop(self.process, timeout_s=15)


def start_fleet(
    officers: int,
    scenario: str,
    time_scale: float = 1.0,
    seed: int = 7,
    *,
    start_when_connected: bool = False,
    vehicle_nmea: int | None = None,
    port: int | None = None,
) -> Fleet:
    """`bluewatch simulate` serving HCI on `port` (default: a free one; a fleet started again
    where a gateway already looks); with `vehicle_nmea`, the first officer's car's NMEA to that
    UDP port on loopback (for `start_gpsd`)."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            BLUEWATCH,
            "simulate",
            "--officers",
            str(officers),
            "--scenario",
            scenario,
            "--seed",
            str(seed),
            "--time-scale",
            str(time_scale),
            "--listen",
            f"tcp-server:127.0.0.1:{port}",
            *(["--start-when-connected"] if start_when_connected else []),
            *([] if vehicle_nmea is None else ["--vehicle-nmea", f"127.0.0.1:{vehicle_nmea}"]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "bluewatch simulate exited before announcing its roster"
    return Fleet(process, port, json.loads(line)["officers"])


def gateway_config(
    tmp_path: Path,
    fleet: Fleet,
    *,
    influx_url: str | None = None,
    database: str | None = None,
    mqtt: tuple[str, int] | None = None,
    topic_prefix: str = "bluewatch",
    http_port: int | None = None,
    extra: TomlTable | None = None,
    officer_extra: Mapping[str, TomlTable] | None = None,
    device_extra: Mapping[tuple[str, str], TomlTable] | None = None,
    pooled: bool = False,
) -> Path:
    """A gateway configuration for `fleet`; `extra` adds top-level sections (webhooks, alert
    settings), `officer_extra` adds settings to the named officers' tables, `device_extra` to
    the devices named by (officer id, model): an H10's `acc_rate_hz`, say. `pooled`: the
    officers get no devices; the fleet's devices are the pool instead (ids `pool_ids`)."""
    document: dict[str, TomlValue] = {
        "agency": "test-pd",
        "unit": "car-7",
        "ble": {"backend": "bumble", "bumble_transport": f"tcp-client:127.0.0.1:{fleet.port}"},
        "outbox": {"path": tmp_path / "outbox.sqlite3"},
        "http": {"port": http_port or free_port()},
        "link": {"stale_after_s": 3, "lost_after_s": 8},
    }
    if influx_url:
        assert database, "an InfluxDB sink needs a database"
        document["influx"] = {"api": "v1", "url": influx_url, "database": database}
    if mqtt:
        document["mqtt"] = {
            "host": mqtt[0], "port": mqtt[1], "tls": False, "topic_prefix": topic_prefix
        }  # fmt: skip
    document |= extra or {}
    officers = simulated_officers(fleet.roster)
    for officer in officers:
        devices = officer["devices"]
        assert isinstance(devices, list)
        officer["devices"] = [
            {**device, **(device_extra or {}).get((str(officer["id"]), str(device["model"])), {})}
            for device in devices
            if isinstance(device, Mapping)
        ]
    if pooled:
        issued = [d for entry in fleet.roster for d in entry["devices"]]
        document["pool"] = [
            {"id": device_id, "model": device["model"], "address": device["address"]}
            for device_id, device in zip(pool_ids(fleet), issued, strict=True)
        ]
        officers = [{"id": officer["id"]} for officer in officers]
    document["officers"] = [
        {**officer, **(officer_extra or {}).get(str(officer["id"]), {})} for officer in officers
    ]
    path = tmp_path / "gateway.toml"
    path.write_text(render_toml(document))
    return path


def pool_ids(fleet: Fleet) -> list[str]:
    """The pool ids `gateway_config(pooled=True)` gives the fleet's devices, in roster order:
    `<model>-01`, `<model>-02`… numbered per model."""
    ids = []
    seen: dict[str, int] = {}
    for officer in fleet.roster:
        for device in officer["devices"]:
            seen[device["model"]] = seen.get(device["model"], 0) + 1
            ids.append(f"{device['model']}-{seen[device['model']]:02d}")
    return ids


def start_gateway(
    config: Path, log: Path, seconds: float = 0, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    argv = [BLUEWATCH, "run", "--config", str(config)]
    if seconds:
        argv += ["--seconds", str(seconds)]
    with log.open("ab") as handle:
        return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env)


def influx_query(url: str, database: str, query: str) -> list[list[object]]:
    params = urllib.parse.urlencode({"db": database, "q": query})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=10) as response:
        result = json.loads(response.read())["results"][0]
    if "error" in result:
        raise AssertionError(result["error"])
    series = result.get("series") or []
    return [row for s in series for row in s["values"]]


def create_database(url: str) -> str:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    request = urllib.request.Request(
        f"{url}/query",
        data=urllib.parse.urlencode({"q": f"CREATE DATABASE {name}"}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    return name


def exported_counts(config: Path) -> dict[str, int]:
    """Points per measurement in the gateway's outbox (what it accepted), via `bluewatch export`."""
    done = subprocess.run(
        [BLUEWATCH, "export", "--config", str(config), "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    counts: dict[str, int] = {}
    for line in done.stdout.splitlines()[1:]:
        measurement = line.split(",", 2)[1]
        counts[measurement] = counts.get(measurement, 0) + 1
    return counts


def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def environment_ok() -> bool:
    return bool(os.environ.get("BLUEWATCH_INFLUXDB_URL"))
