"""The alert rules' clock: man-down timers, escalation and evidence, once a second.

Rules also run on data as it arrives; this tick is for what happens when nothing arrives (an
officer lying still, an alert nobody acknowledged, an evidence window closing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Final

from gateway.alerts.engine import AlertEngine
from gateway.alerts.rules import OfficerMonitor
from gateway.evidence_store import EvidenceStore

# Man-down must alarm within 30 +/- 1 s of a fall: a 1 s timer resolution keeps that promise.
ALERT_TICK_S: Final = 1.0


class AlertTimers:
    def __init__(
        self,
        monitors: Iterable[OfficerMonitor],
        engine: AlertEngine,
        evidence: EvidenceStore,
        *,
        clock_ns: Callable[[], int],
    ) -> None:
        self._monitors = tuple(monitors)
        self._engine = engine
        self._evidence = evidence
        self._clock_ns = clock_ns

    async def run(self) -> None:
        while True:
            now_ns = self._clock_ns()
            for monitor in self._monitors:
                monitor.evaluate_man_down(now_ns)
            self._engine.tick()
            await self._evidence.write_due(now_ns)
            await asyncio.sleep(ALERT_TICK_S)
