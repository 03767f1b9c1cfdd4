"""A window of recent latencies, for the latest value and nearest-rank percentiles. Pure."""

from __future__ import annotations

import math
from collections import deque


class LatencyWindow:
    """The last `size` latencies (seconds), kept for the latest value and percentiles."""

    def __init__(self, size: int = 256) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.last_s: float | None = None
        self.count = 0

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.last_s = seconds
        self.count += 1

    def percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile (`fraction` in [0, 1]) over the window; None when empty."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be within [0, 1], got {fraction}")
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
