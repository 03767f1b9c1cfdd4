"""Link health of one device: states graded from timers, gaps and clock drift. Pure, clocked."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sensors import SAMPLE_INDEX_MODULO

# Drift is fitted over this many seconds of IMU batches: long enough that radio jitter (a few
# ms per batch) averages out below 100 ppm, short enough to follow a device's warming crystal.
DRIFT_WINDOW_S = 120.0
DRIFT_MIN_SPAN_S = 20.0


class LinkState(StrEnum):
    CONNECTING = "connecting"
    OK = "ok"
    STALE = "stale"
    LOST = "lost"
    # Another central holds the device's one connection (a Polar sensor and an officer's phone):
    # the gateway hears its advertisements but cannot connect (docs/devices.md).
    HELD_ELSEWHERE = "held_elsewhere"


LINK_STATE_CODES = {
    LinkState.CONNECTING: 0,
    LinkState.OK: 1,
    LinkState.STALE: 2,
    LinkState.LOST: 3,
    LinkState.HELD_ELSEWHERE: 4,
}


@dataclass
class LinkHealth:
    """What the gateway knows about one device's stream, updated as notifications arrive.

    The state follows the last notification, not the connection: a device that reconnects within
    `stale_after_s` never looks stale, and "lost" (which raises a device-lost warning) needs
    `lost_after_s` of silence, so a brief drop does not flap the dashboards or the alerts.
    """

    stale_after_s: float
    lost_after_s: float
    connected: bool = False
    held_elsewhere: bool = False
    last_notification_s: float | None = None
    rssi_dbm: int | None = None
    notifications: int = 0
    reconnects: int = 0
    decode_errors: int = 0
    samples_lost: int = 0
    _expected_index: int | None = None
    _rate_window: list[float] = field(default_factory=list)
    _clock_points: list[tuple[float, float]] = field(default_factory=list)

    def state(self, now_s: float) -> LinkState:
        if self.last_notification_s is None:
            return LinkState.HELD_ELSEWHERE if self.held_elsewhere else LinkState.CONNECTING
        silence = now_s - self.last_notification_s
        if silence >= self.lost_after_s:
            return LinkState.LOST
        if self.held_elsewhere:
            return LinkState.HELD_ELSEWHERE
        if silence >= self.stale_after_s:
            return LinkState.STALE
        return LinkState.OK

    def on_notification(self, now_s: float) -> None:
        self.last_notification_s = now_s
        self.notifications += 1
        self._rate_window.append(now_s)
        while self._rate_window and self._rate_window[0] < now_s - 10.0:
            self._rate_window.pop(0)

    def notification_rate_hz(self, now_s: float) -> float:
        """Notifications per second over the last 10 s."""
        recent = [t for t in self._rate_window if t >= now_s - 10.0]
        return len(recent) / 10.0

    def on_imu_batch(self, first_index: int, count: int, rate_hz: int, now_s: float) -> int:
        """Account for one IMU batch; returns how many samples were lost before it."""
        lost = 0
        if self._expected_index is not None:
            gap = (first_index - self._expected_index) % SAMPLE_INDEX_MODULO
            # A "gap" of more than half the counter is a counter that went backwards: the device
            # restarted, and nothing can be said about what was lost.
            if 0 < gap < SAMPLE_INDEX_MODULO // 2:
                lost = gap
            elif gap:
                self._clock_points.clear()
        self._expected_index = (first_index + count) % SAMPLE_INDEX_MODULO
        self.samples_lost += lost
        # Device time of the batch's last sample against gateway receive time, for drift.
        device_s = (first_index + count) / rate_hz
        self._clock_points.append((now_s, device_s))
        while self._clock_points and self._clock_points[0][0] < now_s - DRIFT_WINDOW_S:
            self._clock_points.pop(0)
        return lost

    def on_restart(self) -> None:
        self._expected_index = None
        self._clock_points.clear()

    def clock_drift_ppm(self) -> float | None:
        """The device clock's rate error against the gateway's, by least squares; None if unsure."""
        points = self._clock_points
        if len(points) < 3 or points[-1][0] - points[0][0] < DRIFT_MIN_SPAN_S:
            return None
        n = len(points)
        mean_x = sum(p[0] for p in points) / n
        mean_y = sum(p[1] for p in points) / n
        sxx = sum((p[0] - mean_x) ** 2 for p in points)
        sxy = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points)
        if sxx == 0:
            return None
        return (sxy / sxx - 1.0) * 1e6
