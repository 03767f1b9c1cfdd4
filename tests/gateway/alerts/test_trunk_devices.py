"""An officer wearing two trunk accelerometers (a vest and a Polar H10): each feeds a fall
detector of its own, at its own rate, so their interleaved batches never go back in time."""

from __future__ import annotations

from gateway.acceleration import AccelerationFrame
from gateway.activity import ActivitySummary, Intensity, Posture
from gateway.alerts.engine import AlertEngine
from gateway.alerts.model import AlertKind, AlertState
from gateway.alerts.rules import AlertSettings, OfficerMonitor, officer_profile
from gateway.ble.link import LinkState
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


def still_lying(time_s: float, intensity: Intensity = Intensity.STILL) -> ActivitySummary:
    return ActivitySummary(
        time_ns=round(time_s * NS_PER_S),
        mean_g=1.0,
        peak_g=1.0,
        std_g=0.0,
        intensity=intensity,
        posture=Posture.LYING,
        tilt_deg=90.0,
        samples=50,
    )


def test_motion_on_an_unencrypted_link_never_cancels_what_the_bonded_vest_reports() -> None:
    """A spoofer posing as the officer's H10 (an address is easily copied; a strap cannot bond)
    sends motion: while the bonded vest is heard, only the vest's motion counts for man-down."""
    engine = AlertEngine(UNIT, "cfg", clock_ns=lambda: 0, emit=lambda point: None)
    monitor = OfficerMonitor(
        officer_profile("o1", 60, None, None), AlertSettings(), engine, lambda p: None, {}
    )
    vest = DeviceRef(UNIT, "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST)
    h10 = DeviceRef(UNIT, "o1", "o1-h10", DeviceModel.POLAR_H10)
    monitor.on_link(vest, LinkState.OK)
    monitor.on_link(h10, LinkState.OK)
    for second in range(1, 26):
        monitor.on_activity(vest, still_lying(second))
    down = engine.open_alert("o1", AlertKind.OFFICER_DOWN)
    assert down is not None
    assert down.state is AlertState.PRE_ALERT
    monitor.on_activity(h10, still_lying(26, Intensity.VIGOROUS))
    assert engine.open_alert("o1", AlertKind.OFFICER_DOWN) is not None
    monitor.on_activity(vest, still_lying(27, Intensity.MODERATE))
    assert engine.open_alert("o1", AlertKind.OFFICER_DOWN) is None  # the vest's own motion

    # With the vest lost, the H10 is all there is: its motion counts again.
    monitor.on_link(vest, LinkState.LOST)
    for second in range(28, 53):
        monitor.on_activity(h10, still_lying(second))
    assert engine.open_alert("o1", AlertKind.OFFICER_DOWN) is not None
    monitor.on_activity(h10, still_lying(53, Intensity.MODERATE))
    assert engine.open_alert("o1", AlertKind.OFFICER_DOWN) is None
