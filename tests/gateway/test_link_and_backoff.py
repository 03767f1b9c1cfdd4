"""Link grading, sample gaps, clock drift, the backoff policy and the priority slots."""

from __future__ import annotations

import asyncio

import pytest

from gateway.backoff import BLE_RECONNECT, BackoffPolicy
from gateway.ble.link import LinkHealth, LinkState
from gateway.ble.manager import AdapterSlots, PrioritySlots


def test_link_states_follow_the_last_notification() -> None:
    health = LinkHealth(stale_after_s=5, lost_after_s=20)
    assert health.state(0) is LinkState.CONNECTING
    health.on_notification(100.0)
    assert health.state(104.9) is LinkState.OK
    assert health.state(105.0) is LinkState.STALE
    assert health.state(120.0) is LinkState.LOST
    health.on_notification(121.0)
    assert health.state(121.5) is LinkState.OK


def test_sample_gaps_are_counted_and_restarts_are_not_gaps() -> None:
    health = LinkHealth(5, 20)
    assert health.on_imu_batch(0, 10, 50, 0.2) == 0
    assert health.on_imu_batch(10, 10, 50, 0.4) == 0
    assert health.on_imu_batch(30, 10, 50, 0.8) == 10  # batch 20..29 never arrived
    assert health.on_imu_batch(0, 10, 50, 1.0) == 0  # counter went back: the device rebooted
    assert health.samples_lost == 10
    # A jump of more than half the counter reads as a counter that went back (a reboot)...
    assert health.on_imu_batch(2**32 - 10, 10, 50, 1.2) == 0
    # ...and a counter that wraps past 2**32 is no gap at all.
    assert health.on_imu_batch(0, 10, 50, 1.4) == 0
    assert health.on_imu_batch(15, 10, 50, 1.6) == 5
    assert health.samples_lost == 15


@pytest.mark.parametrize("ppm", [0.0, 150.0, -80.0])
def test_clock_drift_is_measured_from_sample_indices(ppm: float) -> None:
    health = LinkHealth(5, 20)
    rate = 50
    index = 0
    for step in range(200):  # 200 batches of 10 samples: 40 s of device time
        gateway_s = (
            1000.0 + (index + 10) / rate / (1 + ppm * 1e-6) + (0.003 if step % 2 else -0.003)
        )
        health.on_imu_batch(index, 10, rate, gateway_s)
        index += 10
    drift = health.clock_drift_ppm()
    assert drift is not None
    assert drift == pytest.approx(ppm, abs=25)


def test_backoff_grows_then_caps_with_bounded_jitter() -> None:
    policy = BackoffPolicy(first_s=1.0, cap_s=8.0, jitter=0.25)
    assert [policy.delay_s(n, lambda: 0.5) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert policy.delay_s(3, lambda: 0.0) == 3.0
    assert policy.delay_s(3, lambda: 0.999999) == pytest.approx(5.0, abs=1e-4)
    assert BLE_RECONNECT.delay_s(100, lambda: 0.5) == BLE_RECONNECT.cap_s


async def test_priority_slots_serve_lost_devices_first() -> None:
    slots = PrioritySlots(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def take(name: str, priority: int) -> None:
        async with slots.acquire(priority):
            order.append(name)
            await gate.wait()

    holder = asyncio.create_task(take("first", 1))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(take(n, p)) for n, p in (("new-a", 1), ("lost", 0), ("new-b", 1))
    ]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["first", "lost", "new-a", "new-b"]


async def test_a_cancelled_waiter_does_not_leak_its_slot() -> None:
    slots = PrioritySlots(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.acquire(1):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await holder
    async with asyncio.timeout(1), slots.acquire(0):
        pass


async def test_each_adapter_has_its_own_connection_slots() -> None:
    slots = AdapterSlots(["hci0", "hci1"], per_adapter=1)
    release = asyncio.Event()
    order: list[str] = []

    async def take(adapter: str, name: str) -> None:
        async with slots.acquire(adapter, 1):
            order.append(name)
            await release.wait()

    holder = asyncio.create_task(take("hci0", "hci0-first"))
    await asyncio.sleep(0)
    queued = asyncio.create_task(take("hci0", "hci0-second"))
    other = asyncio.create_task(take("hci1", "hci1-first"))
    await asyncio.sleep(0)
    # hci0's one slot is held: its next device waits, but hci1's goes ahead.
    assert order == ["hci0-first", "hci1-first"]
    release.set()
    await asyncio.gather(holder, queued, other)
    assert order == ["hci0-first", "hci1-first", "hci0-second"]
