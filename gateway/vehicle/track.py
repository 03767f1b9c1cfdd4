"""The vehicle's track: its latest fix from gpsd's reports, whether it is moving, and when the
next `vehicle` row is due. Pure: the caller gives the time each report arrived.

Rows come at 1 Hz while the vehicle moves (the map follows it) and every `parked_interval_s`
while it stands or has no fix (nothing changes but the record that it is still there); a change
of fix mode or of moving/parked writes a row at once, so a tunnel or a stop shows when it began.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from gateway.domain import NS_PER_S, FieldValue
from gateway.vehicle.protocol import FixMode, Sky, Tpv

MOVING_ROW_INTERVAL_S: Final = 1.0
# Reports arrive about a second apart with some jitter; a row that is this early still counts
# as on time, so 1 Hz reports give 1 Hz rows rather than one every other second.
ROW_JITTER_S: Final = 0.1


class TrackSettings(BaseModel):
    """When the vehicle counts as moving, and how often a parked vehicle writes a row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A standing receiver reports a few tenths of a m/s of noise; walking pace is above 1 m/s.
    moving_above_mps: float = Field(default=1.0, gt=0)
    # A red light is not parking: the vehicle must stand this long before it counts as parked.
    parked_after_s: float = Field(default=10.0, ge=0)
    parked_interval_s: float = Field(default=30.0, ge=1)


@dataclass(frozen=True, slots=True)
class VehicleFix:
    """What the rest of the gateway may know about the vehicle: where, since when, moving."""

    latitude_deg: float
    longitude_deg: float
    time_ns: int
    moving: bool

    @property
    def position(self) -> tuple[float, float]:
        return self.latitude_deg, self.longitude_deg


class VehicleTrack:
    """Folds TPV and SKY reports into the vehicle's state and paces its rows."""

    def __init__(self, settings: TrackSettings) -> None:
        self._settings = settings
        self.tpv: Tpv | None = None
        self.sky: Sky | None = None
        self.moving = False
        self.last_fix: VehicleFix | None = None
        self._slow_since_ns: int | None = None
        self._last_row_ns: int | None = None
        self._last_row_state: tuple[FixMode, bool] | None = None

    def on_report(self, report: Tpv | Sky, now_ns: int) -> None:
        if isinstance(report, Sky):
            self.sky = report
            return
        if self.tpv is not None and report.mode is not self.tpv.mode:
            # SKY follows TPV in a cycle: the last one described the fix that just changed.
            self.sky = None
        self.tpv = report
        if not report.mode.has_position:
            return  # in a tunnel the vehicle keeps its last known state and position
        self.moving = self._moving(report.speed_mps, now_ns)
        assert report.latitude_deg is not None
        assert report.longitude_deg is not None
        self.last_fix = VehicleFix(report.latitude_deg, report.longitude_deg, now_ns, self.moving)

    def _moving(self, speed_mps: float | None, now_ns: int) -> bool:
        if speed_mps is not None and speed_mps >= self._settings.moving_above_mps:
            self._slow_since_ns = None
            return True
        if self._slow_since_ns is None:
            self._slow_since_ns = now_ns
        standing_s = (now_ns - self._slow_since_ns) / NS_PER_S
        return self.moving and standing_s < self._settings.parked_after_s

    @property
    def stopped(self) -> bool:
        """Standing but not yet parked: at a red light, or the first seconds of a stop."""
        return self.moving and self._slow_since_ns is not None

    def row_due(self, now_ns: int) -> bool:
        """Whether a row should be written now: on a change of state, else on the cadence."""
        if self.tpv is None:
            return False
        if self._last_row_ns is None or self._state() != self._last_row_state:
            return True
        cruising = self.moving and self.tpv.mode.has_position
        interval = MOVING_ROW_INTERVAL_S if cruising else self._settings.parked_interval_s
        return (now_ns - self._last_row_ns) / NS_PER_S >= interval - ROW_JITTER_S

    def row_written(self, now_ns: int) -> None:
        self._last_row_ns = now_ns
        self._last_row_state = self._state()

    def _state(self) -> tuple[FixMode, bool]:
        assert self.tpv is not None
        return self.tpv.mode, self.moving

    def fields(self) -> dict[str, FieldValue]:
        """The `vehicle` row's fields (docs/data-model.md): position and motion with a fix."""
        assert self.tpv is not None
        tpv = self.tpv
        fields: dict[str, FieldValue] = {
            "fix_mode": int(tpv.mode),
            "fix": tpv.mode.label,
            "moving": self.moving,
        }
        optional = {
            "latitude_deg": tpv.latitude_deg,
            "longitude_deg": tpv.longitude_deg,
            "altitude_m": tpv.altitude_m if tpv.mode is FixMode.FIX_3D else None,
            "speed_mps": tpv.speed_mps,
            # A standing receiver's course is noise (gpsd reports 0 or the last one).
            "heading_deg": tpv.heading_deg if self.moving else None,
            "error_m": tpv.error_m,
        }
        fields.update({key: float(value) for key, value in optional.items() if value is not None})
        if self.sky is not None:
            fields["satellites_used"] = self.sky.used
            fields["satellites_visible"] = self.sky.visible
        return fields
