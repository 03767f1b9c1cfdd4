"""Which adapter a device connects through: one with a free link slot, the best signal first.

Pure: the device manager gives what each adapter last heard of the device and how loaded each
adapter is, with the time; nothing here reads a clock or touches a radio.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

# An adapter's reading older than this no longer says the device is in its range: a vest seen
# by a dongle a minute ago may have walked out of it. Devices advertise several times a second.
HEARD_WITHIN_S = 10.0
# A device that comes back goes to the adapter it was on unless another hears it this much
# better: RSSI readings of one position swing by a few dB, and a device should not move between
# adapters on noise (6 dB: a quarter of the power, well above that swing).
HYSTERESIS_DB = 6
# A device first heard by one adapter is not placed until every present adapter has heard it
# or this long has passed: otherwise whichever adapter reported first would take it, however
# weak its signal. Three advertising intervals of a wearable (100 ms).
SETTLE_S = 0.3


@dataclass(frozen=True)
class Heard:
    """One adapter's last reading of a device's advertisement."""

    rssi_dbm: int
    at_s: float


@dataclass(frozen=True)
class AdapterLoad:
    """An adapter as placement sees it: present or gone, links held of its limit."""

    name: str
    links: int
    link_limit: int
    present: bool = True

    @property
    def free(self) -> bool:
        return self.present and self.links < self.link_limit


def settled(
    heard: Mapping[str, Heard],
    present: Collection[str],
    first_heard_s: float | None,
    now_s: float,
    settle_s: float = SETTLE_S,
) -> bool:
    """Whether a device has been heard enough to be placed: by every present adapter, or for
    `settle_s` since the first of its current readings."""
    if not heard or first_heard_s is None:
        return False
    return all(name in heard for name in present) or now_s - first_heard_s >= settle_s


def heard_recently(
    heard: Mapping[str, Heard], now_s: float, within_s: float = HEARD_WITHIN_S
) -> bool:
    """Whether any adapter heard the device lately: worth waiting for a slot, not for a sighting."""
    return any(now_s - reading.at_s <= within_s for reading in heard.values())


def choose_adapter(
    heard: Mapping[str, Heard],
    adapters: Sequence[AdapterLoad],
    now_s: float,
    previous: str | None = None,
    *,
    heard_within_s: float = HEARD_WITHIN_S,
    hysteresis_db: int = HYSTERESIS_DB,
) -> str | None:
    """The adapter to connect `heard`'s device through, or None when none can take it now.

    Candidates are the present adapters with a free slot that heard the device recently. The
    strongest signal wins; equal signals go to the less loaded adapter, then to the one listed
    first. The device's previous adapter keeps it unless the winner is `hysteresis_db` better.
    """
    candidates = [
        (heard[adapter.name].rssi_dbm, adapter)
        for adapter in adapters
        if adapter.free
        and adapter.name in heard
        and now_s - heard[adapter.name].at_s <= heard_within_s
    ]
    if not candidates:
        return None
    order = {adapter.name: index for index, adapter in enumerate(adapters)}
    best_rssi, best = max(
        candidates, key=lambda pair: (pair[0], -pair[1].links, -order[pair[1].name])
    )
    for rssi, adapter in candidates:
        if adapter.name == previous and rssi >= best_rssi - hysteresis_db:
            return adapter.name
    return best.name
