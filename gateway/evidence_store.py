"""Evidence bundle files: `evidence/<alert_id>.json` beside the outbox, written off the loop.

A bundle is a minute of 50 Hz samples, several milliseconds to encode and a disk write of
unbounded duration; on the event loop that would delay any alert in flight, so encoding and
writing run on a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from gateway.alerts.evidence import EvidenceRecorder

logger = logging.getLogger(__name__)


class EvidenceStore:
    """Writes the bundles an `EvidenceRecorder` says are due, then lets it record each."""

    def __init__(self, folder: Path, recorder: EvidenceRecorder) -> None:
        self.folder = folder
        self._recorder = recorder

    def write(self, alert_id: str, bundle: dict[str, Any]) -> Path:
        """Encode and write one bundle file (blocking: run it off the loop)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{alert_id}.json"
        path.write_text(json.dumps(bundle))
        return path

    async def write_due(self, now_ns: int) -> None:
        """Every bundle whose window has closed: gathered on the loop, written on a thread."""
        for alert in self._recorder.due(now_ns):
            bundle = self._recorder.collect(alert)
            try:
                path = await asyncio.to_thread(self.write, alert.alert_id, bundle)
            except OSError:
                logger.exception("evidence for %s could not be written", alert.alert_id)
                continue
            self._recorder.record(alert, bundle, path)
