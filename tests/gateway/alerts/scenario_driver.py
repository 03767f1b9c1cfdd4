"""Drive the alert rules from the simulated firmware's model, second by second, without radio.

Gateway time is simulated time here, so an 8-hour shift runs in seconds of CPU. The BLE path
itself is covered by the integration tests; this checks the rules against realistic signals.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from firmware_mocks.scenario import Scenario
from firmware_mocks.simulation import OfficerSimulation
from gateway.activity import ActivityTracker, SampleClock
from gateway.alerts.engine import AlertEngine
from gateway.alerts.model import Alert
from gateway.alerts.rules import AlertSettings, OfficerMonitor, officer_profile
from gateway.ble.link import LinkHealth, LinkState
from gateway.domain import DeviceRef, Point, UnitRef
from sensors import BatteryLevel, DeviceModel, ImuBatch, SafetyEvent

NS = 1_000_000_000
BATCH = 25  # samples per IMU notification in this driver (any size up to 39 is valid)


@dataclass
class Run:
    alerts: list[Alert] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)


@dataclass
class Links:
    """Each device's `LinkHealth`, fed like the gateway's: the monitor hears every change once."""

    lost_after_s: float
    health: dict[str, LinkHealth] = field(default_factory=dict)
    states: dict[str, LinkState] = field(default_factory=dict)

    def step(self, now_s: float, monitor: OfficerMonitor, up: Mapping[DeviceRef, bool]) -> None:
        for ref, heard in up.items():
            health = self.health.setdefault(
                ref.device_id, LinkHealth(self.lost_after_s / 2, self.lost_after_s)
            )
            if heard:
                health.on_notification(now_s)
            state = health.state(now_s)
            if self.states.get(ref.device_id) is not state:
                self.states[ref.device_id] = state
                monitor.on_link(ref, state)


def drive(
    scenario: Scenario,
    officers: int,
    seconds: int,
    seed: int = 11,
    settings: AlertSettings | None = None,
    *,
    max_hr_bpm: Mapping[str, int] | None = None,
    lost_after_s: float = 30.0,
) -> Run:
    """Run `seconds` of the scenario; `max_hr_bpm` gives officers a measured maximum (by id).

    Links are modelled as the gateway does: a device whose link is down sends nothing, and its
    `LinkHealth` goes stale and then lost, which the monitor hears once per change.
    """
    run = Run()
    now = [0]
    ids = (f"a-{n}" for n in itertools.count(1))
    unit = UnitRef("sim-pd", "car-1")
    engine = AlertEngine(
        unit,
        "h",
        clock_ns=lambda: now[0],
        emit=run.points.append,
        new_id=lambda: next(ids),
        listeners=[run.alerts.append],
    )
    settings = settings or AlertSettings()
    fleet = []
    for index in range(officers):
        sim = OfficerSimulation(scenario, index, seed + index)
        officer = sim.officer_id
        monitor = OfficerMonitor(
            officer_profile(officer, 60, 35, (max_hr_bpm or {}).get(officer)),
            settings,
            engine,
            run.points.extend,
            unit.officer_tags(officer),
        )
        vest = DeviceRef(unit, officer, f"{officer}-vest", DeviceModel.BLUEWATCH_VEST)
        helmet = DeviceRef(unit, officer, f"{officer}-helmet", DeviceModel.BLUEWATCH_HELMET)
        fleet.append((sim, monitor, vest, helmet, ActivityTracker(50), [0], SampleClock(50)))
    links = Links(lost_after_s)
    for second in range(1, seconds + 1):
        now[0] = second * NS
        for sim, monitor, vest, helmet, tracker, index, clock in fleet:
            sim.advance(1.0)
            up = {
                kind: sim.faults(kind).link_up
                for kind in (DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET)
            }
            links.step(float(second), monitor, {vest: up[vest.model], helmet: up[helmet.model]})
            if not up[DeviceModel.BLUEWATCH_VEST]:
                sim.take_imu_samples(DeviceModel.BLUEWATCH_VEST)
                sim.take_imu_samples(DeviceModel.BLUEWATCH_HELMET)
                sim.heart_rate()  # beats measured while unheard are lost with the link
                monitor.evaluate_man_down(now[0])
                continue
            samples = sim.take_imu_samples(DeviceModel.BLUEWATCH_VEST)
            sim.take_imu_samples(DeviceModel.BLUEWATCH_HELMET)  # not used by the rules; drained
            for start in range(0, len(samples), BATCH):
                chunk = tuple(samples[start : start + BATCH])
                batch = ImuBatch(sample_rate_hz=50, first_sample_index=index[0], samples_g=chunk)
                index[0] += len(chunk)
                received = now[0] - (len(samples) - start - len(chunk)) * NS // 50
                times = clock.place(batch.first_sample_index, len(chunk), received)
                monitor.on_imu(vest, batch, times)
                for summary in tracker.add_batch(batch.samples_g, 50, times):
                    monitor.on_activity(vest, summary)
            monitor.on_reading(vest, sim.heart_rate(), now[0])
            if up[DeviceModel.BLUEWATCH_HELMET]:
                monitor.on_reading(helmet, sim.location(), now[0])
            for device, kind in (
                (vest, DeviceModel.BLUEWATCH_VEST),
                (helmet, DeviceModel.BLUEWATCH_HELMET),
            ):
                if not up[kind]:
                    continue
                for event in sim.take_events(kind):
                    reading = SafetyEvent(
                        event=event.kind,
                        sequence=0,
                        device_ticks_ms=0,
                        peak_accel_g=event.peak_accel_g,
                    )
                    monitor.on_reading(device, reading, now[0])
                if second % 60 == 0:
                    monitor.on_reading(
                        device, BatteryLevel(battery_pct=sim.battery_pct(kind)), now[0]
                    )
            monitor.evaluate_man_down(now[0])
        engine.tick()
    return run
