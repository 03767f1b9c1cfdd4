"""gpsd-to-row latency: from an NMEA cycle written to gpsd to the gateway's `vehicle` row.

    .venv/bin/python bench/vehicle_latency.py [--cycles 400] [--rate-hz 20]

A real gpsd (`gpsd -N -n -S <port> tcp://127.0.0.1:<nmea port>`) reads NMEA from this process,
which writes one receiver cycle (RMC, GGA, GSA, two GSV; firmware_mocks/nmea.py) at a time and
notes when. One client watches that gpsd, in alternating rounds (a fresh gpsd each):
- the baseline: a bare asyncio reader that only notes when each TPV line arrives (gpsd's own
  latency: parsing NMEA, ending the cycle, writing JSON, and the loopback socket);
- the gateway's vehicle job (`VehiclePosition`: client, parsing, track, row), noting when it
  hands each row on.
The job's clock advances a second per report, so every TPV makes a row as at 1 Hz moving,
while cycles come `--rate-hz` times a second to gather samples quickly. The first 20 cycles of
a round are warm-up (gpsd learns which sentence ends a cycle). Prints the median and 95th
percentile of each over all rounds, and the ratio of the medians, as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.domain import Point
from gateway.jobs.vehicle_position import VehiclePosition
from gateway.vehicle.track import TrackSettings, VehicleTrack
from tests.support.network import free_port
from tests.support.nmea import ORIGIN, START, Leg

WARM_UP = 20


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(cycles: int, rate_hz: float, *, job_side: bool) -> list[float]:
    """One round: milliseconds from each cycle written to its TPV line (baseline) or row."""
    gpsd = shutil.which("gpsd", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if gpsd is None:
        raise SystemExit("gpsd is not installed (Debian: gpsd)")
    written: dict[int, float] = {}  # cycle number (its latitude step) -> when it was written
    tpv_at: dict[int, float] = {}
    row_at: dict[int, float] = {}
    connected = asyncio.Event()
    nmea_writer: list[asyncio.StreamWriter] = []

    async def nmea_source(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nmea_writer.append(w)
        connected.set()

    server = await asyncio.start_server(nmea_source, "127.0.0.1", 0)
    nmea_port = server.sockets[0].getsockname()[1]
    gpsd_port = free_port()
    process = await asyncio.create_subprocess_exec(
        gpsd,
        "-N",
        "-n",
        "-S",
        str(gpsd_port),
        f"tcp://127.0.0.1:{nmea_port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    step = 1e-5  # degrees of latitude per cycle: a cycle's number is readable from its TPV

    def number(latitude: float) -> int:
        return round((latitude - ORIGIN[0]) / step)

    async def baseline() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", gpsd_port)
        writer.write(b'?WATCH={"enable":true,"json":true}\n')
        while line := await reader.readline():
            now = time.perf_counter()
            report = json.loads(line)
            if report.get("class") == "TPV" and "lat" in report:
                tpv_at.setdefault(number(report["lat"]), now)

    def on_rows(points: list[Point]) -> None:
        now = time.perf_counter()
        for point in points:
            if "latitude_deg" in point.fields:
                row_at.setdefault(number(float(point.fields["latitude_deg"])), now)

    ticks = itertools.count()
    job = VehiclePosition(
        "127.0.0.1",
        gpsd_port,
        {"agency": "a", "unit": "u", "vehicle": "v"},
        VehicleTrack(TrackSettings()),
        on_rows,
        clock_ns=lambda: next(ticks) * 1_000_000_000,
        random=lambda: 0.5,
    )
    for _attempt in range(100):  # until gpsd listens
        try:
            _, probe = await asyncio.open_connection("127.0.0.1", gpsd_port)
            probe.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    tasks = [asyncio.create_task(job.run() if job_side else baseline())]
    await asyncio.wait_for(connected.wait(), 10)
    await asyncio.sleep(0.5)
    leg = Leg(1, 12.0, 0.0)
    try:
        for n in range(cycles):
            lat = ORIGIN[0] + n * step
            text = "\r\n".join(leg.cycle(START + timedelta(seconds=n), lat, ORIGIN[1])) + "\r\n"
            nmea_writer[0].write(text.encode())
            written[n] = time.perf_counter()
            await nmea_writer[0].drain()
            await asyncio.sleep(1 / rate_hz)
        await asyncio.sleep(0.5)
    finally:
        for task in tasks:
            task.cancel()
        process.terminate()
        await process.wait()
        server.close()
    arrived = row_at if job_side else tpv_at
    return [(arrived[n] - written[n]) * 1e3 for n in range(WARM_UP, cycles) if n in arrived]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=400)
    parser.add_argument("--rate-hz", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, list[float]] = {"gpsd": [], "row": []}
    for _ in range(args.rounds):
        for key in result:
            result[key] += asyncio.run(run(args.cycles, args.rate_hz, job_side=key == "row"))
    expected = args.rounds * (args.cycles - WARM_UP)
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "cycles": args.cycles,
                "rate_hz": args.rate_hz,
                "rounds": args.rounds,
                "samples": {key: f"{len(v)} of {expected}" for key, v in result.items()},
            }
        )
    )
    print("| from the NMEA cycle written to | median | p95 |")
    print("|---|---|---|")
    names = {
        "gpsd": "gpsd's TPV line at a bare reader (baseline)",
        "row": "the gateway's `vehicle` row",
    }
    for key, name in names.items():
        values = result[key]
        print(f"| {name} | {statistics.median(values):.2f} ms | {quantile(values, 0.95):.2f} ms |")
    ratio = statistics.median(result["row"]) / statistics.median(result["gpsd"])
    print(f"\nrow / baseline (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
