"""Evidence bundle files: `evidence/<alert_id>.json` beside the outbox, written off the loop.

A bundle is a minute of 50 Hz samples, several milliseconds to encode and a disk write of
unbounded duration; on the event loop that would delay any alert in flight, so encoding and
writing run on a worker thread, and the encoding goes a slice at a time (see `json_pieces`).

A bundle holds an officer's movements: it is the daemon user's only (0600), written whole or
not at all (a temporary file, synced, then renamed), and kept as long as its alert has a row in
the outbox: the outbox's retention decides for both (`prune`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Final

from gateway.alerts.evidence import EvidenceRecorder
from gateway.private_file import PARTIAL_PREFIX, PARTIAL_SUFFIX, write_private

logger = logging.getLogger(__name__)

# A bundle's samples are encoded this many at a time, about half a millisecond each; see
# `json_pieces`.
ENCODE_SLICE: Final = 150
BUNDLE_SUFFIX: Final = ".json"
# A bundle being written is `.<alert_id>.json.tmp` (gateway/private_file.py; an alert id never
# starts with a dot).


class EvidenceStore:
    """Writes the bundles an `EvidenceRecorder` says are due, then lets it record each."""

    def __init__(self, folder: Path, recorder: EvidenceRecorder) -> None:
        self.folder = folder
        self._recorder = recorder

    def write(self, alert_id: str, bundle: dict[str, Any]) -> Path:
        """Encode and write one bundle file, atomically and 0600 (blocking: run it off the loop).

        A crash leaves either no bundle or the whole one, never a truncated file under its name.
        """
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{alert_id}{BUNDLE_SUFFIX}"
        write_private(path, json_pieces(bundle))
        return path

    async def prune(self, alert_ids: Callable[[], Awaitable[set[str]]]) -> int:
        """Delete the bundles (and partial files) of alerts that no longer have an outbox row.

        The folder is listed before the ids are read: a bundle is written after its alert's
        first row is committed, so any bundle listed has its alert among the ids if the row
        is still there.
        """
        listed = await asyncio.to_thread(self._listed)
        if not listed:
            return 0
        kept = await alert_ids()
        gone = [path for alert_id, path in listed if alert_id not in kept]
        return await asyncio.to_thread(_delete, gone)

    def _listed(self) -> list[tuple[str, Path]]:
        """Every bundle and partial file in the folder, with its alert id."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            name = path.name
            if name.startswith(PARTIAL_PREFIX) and name.endswith(PARTIAL_SUFFIX):
                name = name[len(PARTIAL_PREFIX) : -len(PARTIAL_SUFFIX)]  # the bundle's own
            if name.endswith(BUNDLE_SUFFIX):
                found.append((name[: -len(BUNDLE_SUFFIX)], path))
        return found

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


def _delete(paths: list[Path]) -> int:
    """Delete `paths`, each at most once (one may be gone already); how many this deleted."""
    deleted = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted += 1
    return deleted


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
