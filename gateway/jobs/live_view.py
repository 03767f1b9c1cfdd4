"""`bluewatch run --live`: the terminal table of officers, redrawn once a second."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TextIO

from gateway.ble.manager import DeviceManager
from gateway.domain import UnitRef
from gateway.jobs.vehicle_position import VehiclePosition
from gateway.live import LiveState, render, show, vehicle_line
from gateway.pipeline import Pipeline

LIVE_INTERVAL_S: Final = 1.0


class LiveView:
    def __init__(
        self,
        out: TextIO,
        state: LiveState,
        unit: UnitRef,
        *,
        manager: DeviceManager,
        pipeline: Pipeline,
        monotonic: Callable[[], float],
        vehicle: tuple[str, VehiclePosition] | None = None,
    ) -> None:
        self._out = out
        self._state = state
        self._header = f"Bluewatch - {unit.agency} / {unit.unit}"
        self._manager = manager
        self._pipeline = pipeline
        self._monotonic = monotonic
        self._vehicle = vehicle  # its id and its gpsd job, with a [vehicle] section

    async def run(self) -> None:
        while True:
            links = {d: (m.ref, m.health) for d, m in self._manager.devices.items()}
            c = self._pipeline.counters
            header = (
                f"{self._header}  notifications {c.received}  decode errors {c.decode_errors}  "
                f"points committed {c.points_committed}"
            )
            car = None
            if self._vehicle is not None:
                vehicle_id, position = self._vehicle
                car = vehicle_line(vehicle_id, position.health.connected, position.track)
            show(self._out, render(self._state, links, self._monotonic(), header, car))
            await asyncio.sleep(LIVE_INTERVAL_S)
