"""An officer wearing two trunk accelerometers (a vest and a Polar H10): each feeds a fall
detector of its own, at its own rate, so their interleaved batches never go back in time."""

from __future__ import annotations

from gateway.acceleration import AccelerationFrame
from gateway.alerts.engine import AlertEngine
from gateway.alerts.rules import AlertSettings, OfficerMonitor, officer_profile
from gateway.domain import DeviceRef, UnitRef
from sensors import DeviceModel
from tests.gateway.analytics.signals import fall, walking

UNIT = UnitRef("pd", "car-1")
NS_PER_S = 1_000_000_000
BATCH_S = 0.5
IMPACT_S = 6.0


def batch(motion: object, start_s: float, rate_hz: int) -> tuple[AccelerationFrame, list[int]]:
    times = [start_s + k / rate_hz for k in range(round(BATCH_S * rate_hz))]
    samples = tuple(motion(t) for t in times)  # type: ignore[operator]
    return AccelerationFrame(samples, rate_hz), [round(t * NS_PER_S) for t in times]


def test_a_vest_and_an_h10_each_have_their_own_fall_detector() -> None:
    engine = AlertEngine(UNIT, "cfg", clock_ns=lambda: 0, emit=lambda point: None)
    monitor = OfficerMonitor(
        officer_profile("o1", 60, None, None), AlertSettings(), engine, lambda p: None, {}
    )
    vest = DeviceRef(UNIT, "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST)
    h10 = DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10, acc_rate_hz=200)
    falls = fall(IMPACT_S)
    start = 0.0
    while start < IMPACT_S + 3.0:
        # The vest's half second, then the H10's same half second: on one officer's timeline the
        # second batch starts before the first one ended.
        monitor.on_imu(vest, *batch(walking, start, 50))
        monitor.on_imu(h10, *batch(falls, start, 200))
        start += BATCH_S
    # The H10 alone saw the fall, at 200 Hz; the vest's walking did not hide it.
    assert monitor.fall_at_ns is not None
    assert abs(monitor.fall_at_ns / NS_PER_S - IMPACT_S) < 0.5
    assert "fall detected" in monitor.fall_detail
