"""Uplink volume per officer-hour: the bytes that leave the vehicle for InfluxDB and MQTT.

    scripts/services start && source .run/services.env
    .venv/bin/python bench/uplink.py [--seconds 120] [--warmup-s 20] [--repeat 3]

For each kit (a vest and a helmet; a Polar H10 and a CORE), one officer: `bluewatch simulate`
(the patrol-shift scenario with that kit, in real time: notification rates and the gateway's
own row cadences are wall-clock rates, so the run cannot go faster than real time) and
`bluewatch run` with its InfluxDB v1 sink (gzip, as shipped) and its MQTT sink (QoS 1), each
reached through a byte-counting TCP relay on loopback. After `--warmup-s` (connections made,
sinks caught up) the relays' counters are read over `--seconds` and scaled to one hour: bytes
from the gateway to the server (uplink) and back (downlink: HTTP answers, PUBACKs), at the
application layer (HTTP requests with their gzip'd bodies; MQTT packets with their fixed
headers, topics and payloads). TCP/IP and TLS framing are not included.

What dominates: the points the gateway committed in the same window, read back from its outbox
(measurement, line protocol as stored) and rendered as the MQTT sink renders them, summed by
measurement. Line-protocol sizes there are before compression.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.domain import Point
from gateway.sinks.mqtt import render
from tests.e2e.harness import create_database, gateway_config, start_fleet, start_gateway
from tests.support.network import free_port

ROOT: Final = Path(__file__).resolve().parent.parent
KITS: Final = {
    "vest-and-helmet": ["bluewatch-vest", "bluewatch-helmet"],
    "h10-and-core": ["polar-h10", "core"],
}
SECONDS_PER_HOUR: Final = 3600
# An MQTT PUBLISH at QoS 1 beyond its topic and payload: the fixed header (1 byte and a
# remaining length of 2 bytes for these sizes), the topic's 2-byte length and the packet id.
MQTT_PUBLISH_OVERHEAD: Final = 1 + 2 + 2 + 2


@dataclass
class Relay:
    """A TCP relay on loopback that counts the bytes each way."""

    target: tuple[str, int]
    port: int = field(default_factory=free_port)
    up: int = 0
    down: int = 0
    # Requests seen uplink (`POST /write`; a gzip body matching it by chance is negligible).
    posts: int = 0
    # Of `up`, the HTTP request lines and headers (a chunk that begins a request holds them whole
    # on loopback: aiohttp writes them in one piece).
    headers: int = 0

    async def serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, uplink: bool
        ) -> None:
            try:
                while chunk := await source.read(65536):
                    if uplink:
                        self.up += len(chunk)
                        self.posts += chunk.count(b"POST /write")
                        if chunk.startswith(b"POST /write") and b"\r\n\r\n" in chunk:
                            self.headers += chunk.index(b"\r\n\r\n") + 4
                    else:
                        self.down += len(chunk)
                    sink.write(chunk)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, server_writer, True), pump(server_reader, writer, False))


class Relays:
    """The InfluxDB and MQTT relays, served by an event loop in a thread of their own."""

    def __init__(self, influx: tuple[str, int], mqtt: tuple[str, int]) -> None:
        self.influx, self.mqtt = Relay(influx), Relay(mqtt)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        for relay in (self.influx, self.mqtt):
            asyncio.run_coroutine_threadsafe(relay.serve(), self._loop).result(5)

    def counts(self) -> dict[str, int]:
        return {
            "influx_up": self.influx.up,
            "influx_down": self.influx.down,
            "influx_posts": self.influx.posts,
            "influx_headers": self.influx.headers,
            "mqtt_up": self.mqtt.up,
            "mqtt_down": self.mqtt.down,
        }

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def kit_scenario(folder: Path, kit: list[str]) -> Path:
    """patrol-shift with every officer wearing `kit`."""
    text = (ROOT / "firmware_mocks" / "scenarios" / "patrol-shift.toml").read_text()
    head, rest = text.split("[roster]\n", 1)
    path = folder / f"patrol-{'-'.join(kit)}.toml"
    path.write_text(f"{head}[roster]\nkit = {json.dumps(kit)}\n{rest}")
    return path


def breakdown(outbox: Path, since_ns: int, until_ns: int) -> dict[str, dict[str, int]]:
    """Points committed in the window by measurement: count, line bytes, MQTT packet bytes."""
    totals: dict[str, Counter[str]] = {}
    with sqlite3.connect(outbox) as db:
        rows = db.execute(
            "SELECT time_ns, body, line FROM points WHERE accepted_ns >= ? AND accepted_ns < ?",
            (since_ns, until_ns),
        ).fetchall()
    for time_ns, body, line in rows:
        measurement, tags, fields = json.loads(body)
        topic, payload = render(Point(measurement, tags, fields, time_ns), "bluewatch")
        counter = totals.setdefault(measurement, Counter())
        counter["points"] += 1
        counter["line_bytes"] += len((line or "").encode()) + 1  # and its newline
        counter["mqtt_bytes"] += len(topic.encode()) + len(payload) + MQTT_PUBLISH_OVERHEAD
    return {name: dict(counter) for name, counter in sorted(totals.items())}


@dataclass(frozen=True)
class KitRun:
    """One measured window, scaled to an hour: bytes by direction and sink, and by measurement."""

    kit: str
    seconds: float
    per_hour: dict[str, int]
    by_measurement: dict[str, dict[str, int]]


def run_kit(name: str, kit: list[str], seconds: float, warmup_s: float) -> KitRun:
    influx_url = os.environ["BLUEWATCH_INFLUXDB_URL"]
    parts = urlsplit(influx_url)
    assert parts.hostname, influx_url
    assert parts.port, influx_url
    mqtt = (os.environ["BLUEWATCH_MQTT_HOST"], int(os.environ["BLUEWATCH_MQTT_PORT"]))
    relays = Relays((parts.hostname, parts.port), mqtt)
    with tempfile.TemporaryDirectory(prefix="bluewatch-uplink-") as tmp:
        folder = Path(tmp)
        fleet = start_fleet(officers=1, scenario=str(kit_scenario(folder, kit)))
        try:
            config = gateway_config(
                folder,
                fleet,
                influx_url=f"http://127.0.0.1:{relays.influx.port}",
                database=create_database(influx_url),
                mqtt=("127.0.0.1", relays.mqtt.port),
            )
            gateway = start_gateway(config, folder / "gateway.log")
            try:
                time.sleep(warmup_s)
                before, since_ns = relays.counts(), time.time_ns()
                time.sleep(seconds)
                after, until_ns = relays.counts(), time.time_ns()
            finally:
                gateway.send_signal(signal.SIGTERM)
                gateway.wait(30)
            by_measurement = breakdown(folder / "outbox.sqlite3", since_ns, until_ns)
        finally:
            fleet.stop()
            relays.close()
    scale = SECONDS_PER_HOUR / ((until_ns - since_ns) / 1e9)
    per_hour = {key: round((after[key] - before[key]) * scale) for key in after}
    for counter in by_measurement.values():
        for key in list(counter):
            counter[key] = round(counter[key] * scale)
    return KitRun(name, seconds, per_hour, by_measurement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warmup-s", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kits", nargs="*", default=list(KITS), choices=list(KITS))
    options = parser.parse_args()
    results: dict[str, list[KitRun]] = {}
    for _ in range(options.repeat):
        for name in options.kits:
            result = run_kit(name, KITS[name], options.seconds, options.warmup_s)
            print(json.dumps(dataclasses.asdict(result)), flush=True)
            results.setdefault(name, []).append(result)
    print(
        "\n| kit | InfluxDB up (kB/h) | of which HTTP headers | POSTs/h | MQTT up (kB/h) "
        "| total up (MB/h) | down (kB/h) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        m = {key: statistics.median(r.per_hour[key] for r in runs) for key in runs[0].per_hour}
        up, down = m["influx_up"] + m["mqtt_up"], m["influx_down"] + m["mqtt_down"]
        print(
            f"| {name} | {m['influx_up'] / 1e3:,.0f} | {m['influx_headers'] / 1e3:,.0f} "
            f"| {m['influx_posts']:,.0f} | {m['mqtt_up'] / 1e3:,.0f} "
            f"| {up / 1e6:.2f} | {down / 1e3:,.0f} |"
        )
    print(f"\nmedians of {options.repeat} runs of {options.seconds:.0f} s per kit")
    for name, runs in results.items():
        print(f"\n{name}: points committed by measurement, per hour (medians)")
        print("| measurement | points | line protocol (kB, before gzip) | MQTT (kB) |")
        print("|---|---:|---:|---:|")
        names = {measurement for r in runs for measurement in r.by_measurement}

        def per(measurement: str, key: str, runs: list[KitRun] = runs) -> float:
            return statistics.median(
                r.by_measurement.get(measurement, {}).get(key, 0) for r in runs
            )

        for measurement in sorted(names, key=lambda n: -per(n, "mqtt_bytes")):
            print(
                f"| {measurement} | {per(measurement, 'points'):,.0f} "
                f"| {per(measurement, 'line_bytes') / 1e3:,.1f} "
                f"| {per(measurement, 'mqtt_bytes') / 1e3:,.1f} |"
            )


if __name__ == "__main__":
    main()
