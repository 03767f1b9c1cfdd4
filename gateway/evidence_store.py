"""Evidence bundle files: `evidence/<alert_id>.json` beside the outbox, written off the loop.

A bundle is a minute of 50 Hz samples, several milliseconds to encode and a disk write of
unbounded duration; on the event loop that would delay any alert in flight, so encoding and
writing run on a worker thread, and the encoding goes a slice at a time (see `json_pieces`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from gateway.alerts.evidence import EvidenceRecorder

logger = logging.getLogger(__name__)

# A bundle's samples are encoded this many at a time, about half a millisecond each; see
# `json_pieces`.
ENCODE_SLICE: Final = 150


class EvidenceStore:
    """Writes the bundles an `EvidenceRecorder` says are due, then lets it record each."""

    def __init__(self, folder: Path, recorder: EvidenceRecorder) -> None:
        self.folder = folder
        self._recorder = recorder

    def write(self, alert_id: str, bundle: dict[str, Any]) -> Path:
        """Encode and write one bundle file (blocking: run it off the loop)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{alert_id}.json"
        with path.open("w") as file:
            for piece in json_pieces(bundle):
                file.write(piece)
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


def json_pieces(value: Any) -> Iterator[str]:
    """`json.dumps(value)` (string keys), in pieces: long lists a slice at a time.

    `json.dumps` holds the GIL for the whole document, 7-32 ms for a bundle, so the event loop
    (an alert's delivery included) stood still even with the encoding on a worker thread; the
    pure-Python `JSONEncoder.iterencode` lets the loop in, but is two to four times slower and
    kept it waiting longer in all. Slices of ENCODE_SLICE items go through the C encoder, and
    between them the thread lets the GIL go (`time.sleep(0)`), so the loop waits for one slice
    (about half a millisecond of encoding), not for the document.
    """
    if isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield (", " if index else "") + json.dumps(key) + ": "
            yield from json_pieces(item)
        yield "}"
    elif isinstance(value, list) and len(value) > ENCODE_SLICE:
        yield "["
        for start in range(0, len(value), ENCODE_SLICE):
            time.sleep(0)
            yield (", " if start else "") + json.dumps(value[start : start + ENCODE_SLICE])[1:-1]
        yield "]"
    else:
        yield json.dumps(value)
