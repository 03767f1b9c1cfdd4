"""The vehicle's position from gpsd: `vehicle` rows, and the latest fix for the alert rules.

gpsd may be absent (no receiver fitted, the daemon not started) or restart at any time; the
gateway runs on without it. It says so once per outage, retries with backoff, and reports
whether gpsd is connected in the gateway's own row (`gpsd_connected`) and on /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.backoff import GPSD_RECONNECT
from gateway.domain import NS_PER_S, VEHICLE, Point
from gateway.vehicle.gpsd_client import GpsdConnectionLostError, gpsd_reports
from gateway.vehicle.protocol import Sky, Tpv
from gateway.vehicle.track import VehicleTrack

logger = logging.getLogger(__name__)


@dataclass
class GpsdHealth:
    """Whether gpsd is connected now, how many times the connection was lost or refused, and
    how many times it was made again after one was lost (the first connection is not one)."""

    connected: bool = False
    failures: int = 0
    reconnects: int = 0


class VehiclePosition:
    """Reads gpsd, keeps `track` current and hands each due `vehicle` row to `emit`."""

    def __init__(
        self,
        host: str,
        port: int,
        tags: Mapping[str, str],
        track: VehicleTrack,
        emit: Callable[[list[Point]], None],
        *,
        clock_ns: Callable[[], int],
        random: Callable[[], float],
    ) -> None:
        self._host, self._port = host, port
        self._tags = tags
        self.track = track
        self._emit = emit
        self._clock_ns = clock_ns
        self._random = random
        self.health = GpsdHealth()
        # Failed attempts since gpsd was last connected: the backoff's step.
        self._attempt = 0
        self._was_connected = False

    async def run(self) -> None:
        while True:
            try:
                reports = gpsd_reports(self._host, self._port, on_connect=self._connected)
                async for report in reports:
                    self._on_report(report)
            except (OSError, GpsdConnectionLostError) as exc:
                # GpsdConnectionLostError is a ConnectionError; named here for the reader.
                self._lost(exc)
            self._attempt += 1
            await asyncio.sleep(GPSD_RECONNECT.delay_s(self._attempt, self._random))

    def _on_report(self, report: Tpv | Sky) -> None:
        now_ns = self._clock_ns()
        self.track.on_report(report, now_ns)
        if self.track.row_due(now_ns):
            self._emit([VEHICLE.point(self._tags, self.track.fields(), now_ns)])
            self.track.row_written(now_ns)

    def fix_age_s(self) -> float | None:
        """Seconds since the last report with a position; None before the first."""
        fix = self.track.last_fix
        return None if fix is None else (self._clock_ns() - fix.time_ns) / NS_PER_S

    def _connected(self) -> None:
        if self._was_connected:
            self.health.reconnects += 1
        self._was_connected = True
        self.health.connected = True
        if self._attempt:
            logger.info("gpsd at %s:%d is back: vehicle position resumed", self._host, self._port)
        self._attempt = 0

    def _lost(self, exc: OSError) -> None:
        was_connected = self.health.connected
        self.health.connected = False
        self.health.failures += 1
        # Once per outage: a gateway without a receiver would otherwise log every retry.
        if was_connected or self._attempt == 0:
            logger.warning(
                "gpsd at %s:%d unavailable (%s): running without the vehicle's position, "
                "retrying with backoff",
                self._host,
                self._port,
                exc,
            )
