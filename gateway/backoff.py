"""Retry delays as pure functions of the attempt number, with the reasons for each constant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with proportional jitter, capped."""

    first_s: float
    cap_s: float
    factor: float = 2.0
    # +/- this fraction of the delay, so devices or writers that failed together retry apart.
    jitter: float = 0.25

    def delay_s(self, attempt: int, random: Callable[[], float]) -> float:
        """Delay before retry number `attempt` (1-based); `random` returns a float in [0, 1)."""
        base = min(self.cap_s, self.first_s * self.factor ** max(0, attempt - 1))
        return max(0.0, base * (1 + self.jitter * (2 * random() - 1)))


# A wearable that dropped is usually back within seconds (an officer walked behind the car):
# retry fast at first. The cap keeps a device that is really gone from hogging the connection
# slots, yet a vest that comes back is reconnected within half a minute.
BLE_RECONNECT = BackoffPolicy(first_s=0.5, cap_s=30.0)

# A Polar sensor holds one connection (polar-ble-sdk #164, #284, #364): while an officer's phone
# has it, every attempt fails the same way. Retrying slowly costs the phone nothing and the radio
# little; the heart rate it broadcasts meanwhile covers the wait (docs/devices.md). Two minutes
# at most between attempts: the phone app is usually closed within that of the shift starting.
HELD_ELSEWHERE_FIRST_S = 15.0
HELD_ELSEWHERE_CAP_S = 120.0
BLE_HELD_ELSEWHERE = BackoffPolicy(first_s=HELD_ELSEWHERE_FIRST_S, cap_s=HELD_ELSEWHERE_CAP_S)
# gpsd restarts in about a second (a receiver replugged, a package upgrade); a gateway in a
# vehicle without a receiver retries twice a minute at most, at no cost.
GPSD_RECONNECT = BackoffPolicy(first_s=1.0, cap_s=30.0)
