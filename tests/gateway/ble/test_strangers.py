"""Wearables off the roster: remembered within a bound, logged within a rate, counted."""

from __future__ import annotations

import logging

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gateway.ble.factory import BleakFactory
from gateway.ble.manager import DeviceManager
from gateway.ble.strangers import (
    UNKNOWN_ADVERTISERS_MAX,
    UNKNOWN_LOG_INTERVAL_S,
    PossibleSpoofs,
    UnknownAdvertisers,
)
from gateway.domain import DeviceRef, UnitRef
from sensors import DeviceModel
from sensors.profiles import PROFILES

VEST_SERVICES = list(PROFILES[DeviceModel.BLUEWATCH_VEST].advertised_services)


def _advertisement() -> AdvertisementData:
    return AdvertisementData(
        local_name=None,
        manufacturer_data={},
        service_data={},
        service_uuids=VEST_SERVICES,
        tx_power=None,
        rssi=-70,
        platform_data=(),
    )


def test_a_spoofer_rotating_addresses_is_remembered_bounded_and_logged_rarely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    own = DeviceRef(
        UnitRef("metro-pd", "car-12"), "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST,
        address="C0:00:00:00:00:01",
    )  # fmt: skip
    manager = DeviceManager(
        [own],
        BleakFactory.bluez(),
        lambda ref, uuid, data, t: None,
        stale_after_s=5,
        lost_after_s=20,
        clock_ns=lambda: 0,
        monotonic=lambda: now[0],
    )
    with caplog.at_level(logging.INFO, logger="gateway.ble.manager"):
        for n in range(1000):  # a new random address every 0.25 s for 250 s
            now[0] += 0.25
            address = f"7A:{n >> 16 & 0xFF:02X}:{n >> 8 & 0xFF:02X}:{n & 0xFF:02X}:00:00"
            manager._on_advertisement("default", BLEDevice(address, None, None), _advertisement())
    strangers = manager.unknown_advertisers
    assert len(strangers) == UNKNOWN_ADVERTISERS_MAX
    assert "7A:00:03:E7:00:00" in strangers  # the most recent is remembered
    assert "7A:00:00:00:00:00" not in strangers  # the oldest forgotten
    assert (strangers.heard, strangers.evicted) == (1000, 1000 - UNKNOWN_ADVERTISERS_MAX)
    lines = [r.getMessage() for r in caplog.records if "unknown" in r.getMessage()]
    assert len(lines) == 5  # the first address, then one line a minute over 250 s
    assert "(1 new" in lines[0]
    assert f"({round(UNKNOWN_LOG_INTERVAL_S / 0.25)} new" in lines[1]


def test_an_address_heard_again_is_refreshed_not_counted() -> None:
    strangers = UnknownAdvertisers(capacity=2)
    assert strangers.hear("a", 0.0) == 1
    assert strangers.hear("b", 1.0) == 0  # within the log interval
    assert strangers.hear("a", 2.0) == 0  # already known: "a" is now the most recent
    strangers.hear("c", 3.0)
    assert ("a" in strangers, "b" in strangers, "c" in strangers) == (True, False, True)
    assert (strangers.heard, strangers.evicted) == (3, 1)
    assert strangers.hear("d", 3.0 + UNKNOWN_LOG_INTERVAL_S) == 3  # b, c and d since the line


def test_possible_spoofs_stay_bounded_and_log_once_a_minute_per_device() -> None:
    spoofs = PossibleSpoofs(capacity=3)
    logged = [spoofs.claim(f"AA:{n:02d}", "o1-vest", now_s=n * 1.0) for n in range(10)]
    # A spoofer rotating its address: every address counted, the memory bounded, one line.
    assert len(spoofs) == 3
    assert spoofs.evicted == 7
    assert logged == [True] + [False] * 9
    assert list(spoofs) == ["AA:07", "AA:08", "AA:09"]
    assert spoofs.claim("AA:09", "o1-vest", now_s=500.0) is False  # already known
    assert spoofs.claim("BB:01", "o1-vest", now_s=500.0) is True  # a minute on
    assert spoofs.claim("CC:01", "o2-vest", now_s=500.0) is True  # another device's first
