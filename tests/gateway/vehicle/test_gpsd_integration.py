"""The vehicle job against a real gpsd fed by gpsfake: a drive, a stop, a tunnel, gpsd restarts.

gpsfake replays each NMEA second in half a second; the job's clock runs at twice real time to
match, so the row cadence (1 Hz moving, parked interval) is judged in the log's own seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.domain import Point
from gateway.http import GpsdCollector
from gateway.jobs.vehicle_position import VehiclePosition
from gateway.vehicle.track import TrackSettings, VehicleTrack
from tests.support.gpsd import require_gpsfake, start_gpsfake
from tests.support.network import free_port
from tests.support.nmea import DRIVE_STOP_TUNNEL, Leg, write

SPEEDUP = 2.0
TAGS = {"agency": "metro-pd", "unit": "car-12", "vehicle": "car-12"}
SETTINGS = TrackSettings(moving_above_mps=1.0, parked_after_s=2.0, parked_interval_s=30.0)


def fast_clock() -> Callable[[], int]:
    start = time.monotonic_ns()
    return lambda: int((time.monotonic_ns() - start) * SPEEDUP)


def job(port: int, rows: list[Point]) -> VehiclePosition:
    return VehiclePosition(
        "127.0.0.1",
        port,
        TAGS,
        VehicleTrack(SETTINGS),
        rows.extend,
        clock_ns=fast_clock(),
        random=lambda: 0.5,
    )


def scrape(vehicle: VehiclePosition) -> dict[str, float]:
    """The gpsd samples /metrics shows, by name, as Prometheus would read them."""
    registry = CollectorRegistry()
    registry.register(GpsdCollector(vehicle))
    text = generate_latest(registry).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


async def until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)
    assert predicate(), what


async def test_a_drive_a_stop_and_a_tunnel(tmp_path: Path) -> None:
    require_gpsfake()
    log = write(tmp_path / "drive.nmea", DRIVE_STOP_TUNNEL)
    port = free_port()
    rows: list[Point] = []
    vehicle = job(port, rows)
    gpsfake = start_gpsfake(log, port, seconds_per_cycle=1 / SPEEDUP, output=tmp_path / "gpsfake")
    task = asyncio.create_task(vehicle.run())
    try:
        await asyncio.to_thread(gpsfake.wait, 60)
        await until(lambda: not vehicle.health.connected, 5, "gpsd gone at the log's end")
    finally:
        task.cancel()
        gpsfake.stop()
    fields = [row.fields for row in rows]
    assert all(row.measurement == "vehicle" and row.tags == TAGS for row in rows)
    moving = [f for f in fields if f["moving"] and f["fix"] == "3d" and float(f["speed_mps"]) > 10]
    # 8 s of driving at 1 Hz (the first report or two may precede the job's connection).
    assert len(moving) >= 6, fields
    assert all(abs(float(f["speed_mps"]) - 12.0) < 0.1 for f in moving)
    assert all(f["heading_deg"] == 45.0 for f in moving)
    latitudes = [float(f["latitude_deg"]) for f in moving]
    longitudes = [float(f["longitude_deg"]) for f in moving]
    assert latitudes == sorted(latitudes)
    assert longitudes == sorted(longitudes)  # north-east
    # SKY follows TPV in each cycle: the first row may come before any satellite count.
    assert [f.get("satellites_used") for f in moving[1:]] == [8] * (len(moving) - 1)
    # The 6 s stop: 1 Hz for parked_after_s, then one row as the vehicle is parked, then none
    # (the parked interval is 30 s): fewer rows than seconds.
    standing = [f for f in fields if f["fix"] == "3d" and f["speed_mps"] == 0.0]
    parked = [f for f in standing if not f["moving"]]
    assert len(parked) == 1, standing
    assert len(standing) < 6
    # The tunnel: one row as the fix is lost, without a position.
    tunnel = [f for f in fields if f["fix"] == "none"]
    assert len(tunnel) == 1, fields
    assert "latitude_deg" not in tunnel[0]
    assert "satellites_used" not in tunnel[0]  # the last SKY described the lost fix
    # Through the tunnel the track keeps where the vehicle stopped, for the alert rules.
    last_fix = vehicle.track.last_fix
    assert last_fix is not None
    assert last_fix.latitude_deg == standing[-1]["latitude_deg"]
    assert not last_fix.moving


async def test_no_gpsd_then_gpsd_then_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_gpsfake()
    log = write(tmp_path / "parked.nmea", [Leg(6)])
    port = free_port()
    rows: list[Point] = []
    vehicle = job(port, rows)
    caplog.set_level(logging.INFO, logger="gateway.jobs.vehicle_position")
    task = asyncio.create_task(vehicle.run())
    gpsfakes = []
    try:
        # No gpsd: the gateway says so once and keeps retrying.
        await until(lambda: vehicle.health.failures >= 2, 10, "two failed attempts")
        assert not vehicle.health.connected
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert f"127.0.0.1:{port} unavailable" in warnings[0].getMessage()
        down = scrape(vehicle)
        assert down["bluewatch_gpsd_connected"] == 0
        assert down["bluewatch_gpsd_fix_mode"] == 0  # nothing reported yet
        assert "bluewatch_gpsd_fix_age_seconds" not in down
        assert down["bluewatch_gpsd_failures_total"] == vehicle.health.failures >= 2
        assert down["bluewatch_gpsd_reconnects_total"] == 0  # never connected: nothing to redo
        for run in range(2):  # gpsd starts, exits at the log's end, and starts again
            before = len(rows)
            gpsfakes.append(
                start_gpsfake(
                    log, port, seconds_per_cycle=1 / SPEEDUP, output=tmp_path / f"gpsfake{run}"
                )
            )
            await until(lambda: vehicle.health.connected, 20, f"connected, run {run}")
            await until(lambda: len(rows) > before, 10, f"a row, run {run}")  # noqa: B023
            up = scrape(vehicle)
            assert up["bluewatch_gpsd_connected"] == 1
            # A fix: 2D until gpsd has read the cycle's GGA (altitude), 3D after.
            assert up["bluewatch_gpsd_fix_mode"] in {2, 3}
            # A report a (doubled) second; generous for a busy machine.
            assert 0 <= up["bluewatch_gpsd_fix_age_seconds"] < 5
            assert up["bluewatch_gpsd_reconnects_total"] == run
            await asyncio.to_thread(gpsfakes[-1].wait, 30)
            await until(lambda: not vehicle.health.connected, 5, f"gpsd gone, run {run}")
            gone = scrape(vehicle)
            assert gone["bluewatch_gpsd_connected"] == 0
            await asyncio.sleep(1)
            # Without gpsd the fix grows old: the age tells how long the map has been stale.
            assert (
                scrape(vehicle)["bluewatch_gpsd_fix_age_seconds"]
                > gone["bluewatch_gpsd_fix_age_seconds"]
            )
    finally:
        task.cancel()
        for gpsfake in gpsfakes:
            gpsfake.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is back" in m for m in messages) == 2, messages
    # One warning per outage: before the first start, and after each exit.
    assert sum("unavailable" in m for m in messages) == 3, messages
