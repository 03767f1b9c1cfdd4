"""Evidence bundles: what the sensors said around an alert, gathered for the record. Pure.

When an alert becomes active, its bundle is due 30 s later so that it holds the window from
30 s before to 30 s after: the raw 50 Hz vest acceleration (the pipeline keeps the last 60 s
per device), the heart rate and RR intervals of that window, the rule's own account of what
fired it, and the hash of the configuration in force. The file itself is written by
gateway/evidence_store.py (I/O, off the event loop); a summary row (measurement `evidence`)
goes to InfluxDB with the alert id.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway.activity import ActivityTracker
from gateway.alerts.model import Alert, AlertState
from gateway.domain import EVIDENCE, NS_PER_S, DeviceRef, Point, UnitRef
from sensors import Characteristic, HeartRateMeasurement

logger = logging.getLogger(__name__)

WINDOW_BEFORE_S: Final = 30.0
WINDOW_AFTER_S: Final = 30.0
HEART_HISTORY: Final = 300  # about five minutes of 1 Hz heart-rate readings per officer


@dataclass
class EvidenceRecorder:
    unit: UnitRef
    tracker_for: Callable[[str], ActivityTracker | None]
    emit: Callable[[list[Point]], None]
    _heart: dict[str, deque[tuple[int, int, tuple[float, ...]]]] = field(default_factory=dict)
    # officer -> the device whose raw acceleration the bundle keeps (the trunk's)
    _vest: dict[str, str] = field(default_factory=dict)
    _due: dict[str, Alert] = field(default_factory=dict)

    def observe(self, device: DeviceRef, reading: Characteristic, received_ns: int) -> None:
        if device.moves_with_trunk:
            self._vest[device.officer_id] = device.device_id
        if isinstance(reading, HeartRateMeasurement):
            history = self._heart.setdefault(device.officer_id, deque(maxlen=HEART_HISTORY))
            history.append((received_ns, reading.heart_rate_bpm, reading.rr_intervals_s))

    def on_alert(self, alert: Alert) -> None:
        if alert.state is AlertState.ACTIVE and alert.alert_id not in self._due:
            self._due[alert.alert_id] = alert

    def due(self, now_ns: int) -> list[Alert]:
        """Alerts whose window after activation has closed (each is returned once)."""
        ready = [
            a for a in self._due.values() if now_ns - a.changed_ns >= WINDOW_AFTER_S * NS_PER_S
        ]
        for alert in ready:
            del self._due[alert.alert_id]
        return ready

    def collect(self, alert: Alert) -> dict[str, Any]:
        """The bundle's content, copied from the live windows (on the loop: they change)."""
        start = alert.changed_ns - int(WINDOW_BEFORE_S * NS_PER_S)
        end = alert.changed_ns + int(WINDOW_AFTER_S * NS_PER_S)
        vest = self._vest.get(alert.officer_id)
        tracker = self.tracker_for(vest) if vest else None
        raw = [s for s in tracker.window(start) if s[0] <= end] if tracker else []
        heart = [h for h in self._heart.get(alert.officer_id, ()) if start <= h[0] <= end]
        return {
            "alert_id": alert.alert_id,
            "officer": alert.officer_id,
            "kind": alert.kind.value,
            "rule": {"name": alert.rule, "version": alert.rule_version},
            "inputs": alert.reason,
            "config_hash": alert.config_hash,
            "window_ns": [start, end],
            # Tuples as they are: JSON writes them as arrays, and a copy is the loop's time.
            "acceleration_g": {"device": vest, "samples": raw},
            "heart_rate": [{"time_ns": t, "bpm": bpm, "rr_s": list(rr)} for t, bpm, rr in heart],
        }

    def record(self, alert: Alert, bundle: dict[str, Any], path: Path) -> None:
        """The summary row for InfluxDB, once the file exists."""
        raw = bundle["acceleration_g"]["samples"]
        heart = bundle["heart_rate"]
        # One square root for the largest squared magnitude: this runs on the loop.
        peak = max((x * x + y * y + z * z for _, x, y, z in raw), default=0.0) ** 0.5
        bpms = [reading["bpm"] for reading in heart]
        fields: dict[str, float | int | str] = {
            "alert_id": alert.alert_id,
            "kind": alert.kind.value,
            "samples": len(raw),
            "peak_g": round(peak, 3),
            "heart_readings": len(bpms),
            "path": str(path),
        }
        if bpms:
            fields["hr_mean_bpm"] = round(sum(bpms) / len(bpms), 1)
        tags = self.unit.officer_tags(alert.officer_id)
        self.emit([EVIDENCE.point(tags, fields, alert.changed_ns)])
        logger.info(
            "evidence for %s: %d samples, %d heart readings", alert.alert_id, len(raw), len(bpms)
        )
