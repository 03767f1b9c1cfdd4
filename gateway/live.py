"""The live state of every officer, and its rendering as a terminal table. Pure but for `show`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from gateway.activity import ActivitySummary
from gateway.alerts.model import Alert
from gateway.ble.link import LinkHealth, LinkState
from gateway.domain import DeviceRef
from gateway.vehicle.track import VehicleTrack
from sensors import (
    BatteryLevel,
    Characteristic,
    CoreBodyTemperature,
    HeartRateMeasurement,
    LocationAndSpeed,
    SafetyEvent,
    TemperatureMeasurement,
)


@dataclass
class OfficerView:
    officer_id: str
    heart_rate_bpm: int | None = None
    skin_temp_c: float | None = None
    core_temp_c: float | None = None  # measured (a CORE), never the estimate
    activity: str = "-"
    posture: str = "-"
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    battery_pct: dict[str, int] = field(default_factory=dict)  # by device id
    last_event: str = ""
    alert: str = ""
    alert_reason: str = ""  # the open alert's reason: where the officer is relative to the car


class LiveState:
    """Observers for the pipeline that keep the latest value of each officer's streams."""

    def __init__(self, officer_ids: list[str], gaps: Mapping[str, list[str]] | None = None) -> None:
        self.officers = {officer: OfficerView(officer) for officer in officer_ids}
        # What each officer's kit cannot detect (gateway/alerts/coverage.py), shown under the
        # table for as long as the gateway runs.
        self.gaps = dict(gaps or {})

    def kit_changed(self, officer_id: str, gaps: list[str]) -> None:
        """A device joined or left the officer's kit: what it cannot detect now."""
        self.gaps[officer_id] = gaps

    def observe(self, device: DeviceRef, reading: Characteristic, received_ns: int) -> None:
        del received_ns
        view = self.officers.get(device.officer_id)
        if view is None:
            return
        if isinstance(reading, HeartRateMeasurement):
            view.heart_rate_bpm = reading.heart_rate_bpm
        elif isinstance(reading, TemperatureMeasurement):
            view.skin_temp_c = reading.temperature_c
        elif isinstance(reading, CoreBodyTemperature):
            view.core_temp_c = reading.core_temperature_c
            if reading.skin_temperature_c is not None:
                view.skin_temp_c = reading.skin_temperature_c
        elif isinstance(reading, LocationAndSpeed) and reading.latitude_deg is not None:
            view.latitude_deg, view.longitude_deg = reading.latitude_deg, reading.longitude_deg
        elif isinstance(reading, BatteryLevel):
            view.battery_pct[device.device_id] = reading.battery_pct
        elif isinstance(reading, SafetyEvent):
            view.last_event = reading.event.value

    def observe_alert(self, alert: Alert) -> None:
        view = self.officers.get(alert.officer_id)
        if view is not None:
            text = f"{alert.kind.value.upper()} {alert.state.value}"
            if alert.open:
                view.alert, view.alert_reason = text, alert.reason
            elif view.alert.startswith(alert.kind.value.upper()):
                view.alert, view.alert_reason = "", ""

    def observe_activity(self, device: DeviceRef, summary: ActivitySummary) -> None:
        view = self.officers.get(device.officer_id)
        if view is not None and device.moves_with_trunk:
            view.activity, view.posture = summary.intensity.value, summary.posture.value


_STATE_MARK = {
    LinkState.OK: "ok",
    LinkState.STALE: "STALE",
    LinkState.LOST: "LOST",
    LinkState.CONNECTING: "...",
    LinkState.HELD_ELSEWHERE: "HELD",
}


def vehicle_line(vehicle_id: str, connected: bool, track: VehicleTrack) -> str:
    """The vehicle as gpsd last reported it: moving or parked and where, or why not known."""
    tpv = track.tpv
    if not connected and tpv is None:
        return f"{vehicle_id}: waiting for gpsd"
    fix = track.last_fix
    where = "" if fix is None else f" at {fix.latitude_deg:.5f},{fix.longitude_deg:.5f}"
    if tpv is None or not tpv.mode.has_position:
        state = "no fix, last" if fix is not None else "no fix yet"
    elif track.stopped:
        state = "stopped"
    elif track.moving:
        state = f"moving {tpv.speed_mps or 0.0:.1f} m/s"
    else:
        state = "parked"
    lost = "" if connected else " (gpsd lost)"
    return f"{vehicle_id}: {state}{where}{lost}"


def render(
    state: LiveState,
    links: Mapping[str, tuple[DeviceRef, LinkHealth]],
    now_s: float,
    header: str,
    vehicle: str | None = None,
) -> str:
    """The table: one row per officer, with each device's link state and battery; the vehicle
    (with a `[vehicle]` section) above it, and each open alert's reason below it."""

    def cell(value: object, fmt: str = "{}") -> str:
        return "-" if value is None else fmt.format(value)

    by_officer: dict[str, list[tuple[DeviceRef, LinkHealth]]] = {}
    for ref, health in links.values():
        by_officer.setdefault(ref.officer_id, []).append((ref, health))
    lines = [
        header,
        *([] if vehicle is None else [vehicle]),
        f"{'officer':<12} {'HR':>4} {'skin°C':>6} {'core°C':>6} {'activity':<9} {'posture':<8} "
        f"{'location':<21} {'devices (link battery)':<34} event/alert",
    ]
    for officer_id, view in sorted(state.officers.items()):
        device_cells = []
        for ref, health in sorted(by_officer.get(officer_id, ()), key=lambda d: d[0].device_id):
            battery = view.battery_pct.get(ref.device_id)
            device_cells.append(
                f"{ref.profile.short_name} {_STATE_MARK[health.state(now_s)]} "
                f"{cell(battery, '{}%')}"
            )
        location = (
            f"{view.latitude_deg:.5f},{view.longitude_deg:.5f}"
            if view.latitude_deg is not None and view.longitude_deg is not None
            else "-"
        )
        skin = cell(view.skin_temp_c, "{:.1f}")
        core = cell(view.core_temp_c, "{:.2f}")
        lines.append(
            f"{officer_id:<12} {cell(view.heart_rate_bpm):>4} {skin:>6} {core:>6} "
            f"{view.activity:<9} {view.posture:<8} {location:<21} "
            f"{', '.join(device_cells) or '-':<34} {view.alert or view.last_event}"
        )
    for officer_id, view in sorted(state.officers.items()):
        if view.alert_reason:
            lines.append(f"{officer_id}: {view.alert}: {view.alert_reason}")
    for officer_id in sorted(state.officers):
        for gap in state.gaps.get(officer_id, ()):
            lines.append(f"{officer_id}: {gap}")
    return "\n".join(lines)


def show(out: TextIO, text: str) -> None:
    """Redraw in place: cursor home and clear, as `watch` does."""
    out.write("\x1b[H\x1b[2J" + text + "\n")
    out.flush()
