"""Safety events that no officer made: repeats and floods, recognised per device. Pure.

Safety events skip the telemetry queue's limit and commit before everything else, so a device
that repeats one (20,000 identical "I'm OK" presses took 10 s to commit while the fleet's
telemetry waited) must not get that priority for all of them. A repeat is recognised by its
sequence number (docs/gatt-profile.md: +1 per event), and what a device sends beyond a rate no
officer reaches is dropped at intake; both are counted on /metrics.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

# An officer presses a button or trips a sensor a few times a minute; a fall can bring a fall
# flag, an impact, a panic press and a holster draw within a second or two. Ten at once
# covers that with room to spare; beyond it, one a second.
SAFETY_EVENT_BURST: Final = 10
SAFETY_EVENTS_PER_S: Final = 1.0
# Sequences remembered per device: a repeat comes soon after its original.
SEQUENCES_REMEMBERED: Final = 64


@dataclass
class RateLimit:
    """A token bucket per key: `burst` at once, then `per_s`; the caller gives the time."""

    burst: int = SAFETY_EVENT_BURST
    per_s: float = SAFETY_EVENTS_PER_S
    # key -> (tokens left, when they were counted)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str, now_s: float) -> bool:
        tokens, then = self._buckets.get(key, (float(self.burst), now_s))
        tokens = min(float(self.burst), tokens + max(0.0, now_s - then) * self.per_s)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now_s)
        return allowed


@dataclass
class _Seen:
    """One device's recent events (sequence -> its device clock), and its latest clock."""

    ticks_ms: int
    events: OrderedDict[int, int] = field(default_factory=OrderedDict)


@dataclass
class Repeats:
    """Whether a device's safety event repeats one it sent before, by its sequence number.

    Memory is per boot: a device clock (ms since boot) that goes back means a restart, whose
    sequence may start over, so the earlier sequences are forgotten rather than taken for
    repeats of the new events; an exact copy of a remembered event (sequence and clock) is a
    repeat whenever it comes.
    """

    _devices: dict[str, _Seen] = field(default_factory=dict)

    def seen(self, device_id: str, sequence: int, device_ticks_ms: int) -> bool:
        """True for a repeat; otherwise remembers the event and returns False."""
        known = self._devices.get(device_id)
        if known is not None and known.events.get(sequence) == device_ticks_ms:
            return True
        if known is None or device_ticks_ms < known.ticks_ms:
            known = self._devices[device_id] = _Seen(device_ticks_ms)
        elif sequence in known.events:
            return True
        known.ticks_ms = device_ticks_ms
        known.events[sequence] = device_ticks_ms
        if len(known.events) > SEQUENCES_REMEMBERED:
            known.events.popitem(last=False)
        return False
