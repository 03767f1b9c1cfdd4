"""Outbox statistics for metrics and dashboards, and the outbox's retention (with the evidence
bundles of the alerts it deleted), on timers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from gateway.evidence_store import EvidenceStore
from gateway.outbox import AsyncOutbox, OutboxStats

logger = logging.getLogger(__name__)

# Statistics scan the outbox (tens of ms on a large backlog): every 5 s is fresh enough for a
# Prometheus scrape and the 10 s gateway rows.
STATS_INTERVAL_S: Final = 5.0
# Retention deletes in slices; once a minute keeps the file near its cap without churning.
RETENTION_INTERVAL_S: Final = 60.0


class Housekeeping:
    """Refreshes `stats` every STATS_INTERVAL_S and enforces retention every minute."""

    def __init__(
        self, outbox: AsyncOutbox, evidence: EvidenceStore, *, monotonic: Callable[[], float]
    ) -> None:
        self._outbox = outbox
        self._evidence = evidence
        self._monotonic = monotonic
        self.stats: OutboxStats | None = None

    async def run(self) -> None:
        last_retention = -RETENTION_INTERVAL_S
        while True:
            self.stats = await self._outbox.stats()
            now = self._monotonic()
            if now - last_retention >= RETENTION_INTERVAL_S:
                last_retention = now
                deleted = await self._outbox.enforce_retention()
                if deleted:
                    logger.info("retention removed %d delivered or over-cap rows", deleted)
                bundles = await self._evidence.prune(self._outbox.alert_ids)
                if bundles:
                    logger.info("retention removed %d evidence bundles", bundles)
            await asyncio.sleep(STATS_INTERVAL_S)
