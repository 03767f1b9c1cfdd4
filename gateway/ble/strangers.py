"""Wearables heard that are not on the roster: a bounded memory of them and a quiet log. Pure.

A vehicle parked at a gym hears dozens of straps, and a spoofer rotating random addresses can
present a new one with every advertisement. The set of addresses is therefore an LRU of
`capacity` (the oldest heard is forgotten first) and the log says so at most once per
`log_interval_s`, naming how many were new since its last line; the counters say the rest.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

UNKNOWN_ADVERTISERS_MAX: Final = 256
UNKNOWN_LOG_INTERVAL_S: Final = 60.0


@dataclass
class UnknownAdvertisers:
    """The addresses most recently heard advertising a wearable's services, off the roster."""

    capacity: int = UNKNOWN_ADVERTISERS_MAX
    log_interval_s: float = UNKNOWN_LOG_INTERVAL_S
    # Addresses first heard (again, after being forgotten) and addresses forgotten, ever.
    heard: int = 0
    evicted: int = 0
    _addresses: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _last_log_s: float | None = None
    _unlogged: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")

    def __len__(self) -> int:
        return len(self._addresses)

    def __contains__(self, address: object) -> bool:
        return address in self._addresses

    def hear(self, address: str, now_s: float) -> int:
        """Remember an address; returns how many new addresses to log now (0: stay quiet)."""
        if address in self._addresses:
            self._addresses.move_to_end(address)
            return 0
        self._addresses[address] = None
        self.heard += 1
        if len(self._addresses) > self.capacity:
            self._addresses.popitem(last=False)
            self.evicted += 1
        self._unlogged += 1
        if self._last_log_s is not None and now_s - self._last_log_s < self.log_interval_s:
            return 0
        self._last_log_s, unlogged, self._unlogged = now_s, self._unlogged, 0
        return unlogged


POSSIBLE_SPOOFS_MAX: Final = 256


class PossibleSpoofs(OrderedDict[str, str]):
    """Advertisers posing as a bound roster device: address -> the device id they claim.

    Bounded like the unknown advertisers (the oldest forgotten first): a spoofer may change its
    address with every advertisement. `evicted` counts what was forgotten.
    """

    def __init__(self, capacity: int = POSSIBLE_SPOOFS_MAX) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.evicted = 0
        self._last_log_s: dict[str, float] = {}

    def __setitem__(self, address: str, device_id: str) -> None:
        super().__setitem__(address, device_id)
        self.move_to_end(address)
        while len(self) > self.capacity:
            self.popitem(last=False)
            self.evicted += 1

    def claim(self, address: str, device_id: str, now_s: float) -> bool:
        """Record a new posing address; True when it is to be logged: the first for a device,
        then at most one line per device per UNKNOWN_LOG_INTERVAL_S (all are counted)."""
        if address in self:
            return False
        self[address] = device_id
        last = self._last_log_s.get(device_id)
        if last is not None and now_s - last < UNKNOWN_LOG_INTERVAL_S:
            return False
        self._last_log_s[device_id] = now_s
        return True
