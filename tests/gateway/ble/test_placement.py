"""Adapter placement: a free slot, the best signal, hysteresis, and only fresh readings."""

from __future__ import annotations

from gateway.ble.placement import (
    HEARD_WITHIN_S,
    HYSTERESIS_DB,
    SETTLE_S,
    AdapterLoad,
    Heard,
    choose_adapter,
    settled,
)


def loads(*links: int, limit: int = 4) -> list[AdapterLoad]:
    return [AdapterLoad(f"hci{i}", n, limit) for i, n in enumerate(links)]


def test_the_strongest_signal_wins() -> None:
    heard = {"hci0": Heard(-80, 0.0), "hci1": Heard(-55, 0.0), "hci2": Heard(-70, 0.0)}
    assert choose_adapter(heard, loads(0, 0, 0), now_s=1.0) == "hci1"


def test_a_full_adapter_is_passed_over_for_the_next_best() -> None:
    heard = {"hci0": Heard(-80, 0.0), "hci1": Heard(-55, 0.0), "hci2": Heard(-70, 0.0)}
    assert choose_adapter(heard, loads(0, 4, 0), now_s=1.0) == "hci2"


def test_no_free_slot_among_those_that_hear_it_means_wait() -> None:
    heard = {"hci1": Heard(-55, 0.0)}
    assert choose_adapter(heard, loads(0, 4), now_s=1.0) is None


def test_an_adapter_that_is_gone_takes_nothing() -> None:
    heard = {"hci0": Heard(-80, 0.0), "hci1": Heard(-55, 0.0)}
    adapters = [AdapterLoad("hci0", 0, 4), AdapterLoad("hci1", 0, 4, present=False)]
    assert choose_adapter(heard, adapters, now_s=1.0) == "hci0"


def test_a_reading_too_old_does_not_count() -> None:
    heard = {"hci0": Heard(-80, 100.0), "hci1": Heard(-40, 0.0)}
    assert choose_adapter(heard, loads(0, 0), now_s=100.0 + HEARD_WITHIN_S) == "hci0"
    assert choose_adapter(heard, loads(0, 0), now_s=100.0 + HEARD_WITHIN_S + 0.1) is None


def test_equal_signals_go_to_the_less_loaded_adapter_then_the_first_listed() -> None:
    heard = {"hci0": Heard(-60, 0.0), "hci1": Heard(-60, 0.0), "hci2": Heard(-60, 0.0)}
    assert choose_adapter(heard, loads(2, 1, 1), now_s=0.0) == "hci1"
    assert choose_adapter(heard, loads(1, 1, 1), now_s=0.0) == "hci0"


def test_the_previous_adapter_keeps_the_device_within_the_hysteresis() -> None:
    within = {"hci0": Heard(-60 - HYSTERESIS_DB, 0.0), "hci1": Heard(-60, 0.0)}
    assert choose_adapter(within, loads(0, 0), now_s=0.0, previous="hci0") == "hci0"
    beyond = {"hci0": Heard(-61 - HYSTERESIS_DB, 0.0), "hci1": Heard(-60, 0.0)}
    assert choose_adapter(beyond, loads(0, 0), now_s=0.0, previous="hci0") == "hci1"


def test_a_full_previous_adapter_does_not_hold_the_device() -> None:
    heard = {"hci0": Heard(-50, 0.0), "hci1": Heard(-60, 0.0)}
    assert choose_adapter(heard, loads(4, 0), now_s=0.0, previous="hci0") == "hci1"


def test_a_device_is_placed_once_every_adapter_heard_it_or_after_the_settling_time() -> None:
    one = {"hci0": Heard(-80, 10.0)}
    both = {"hci0": Heard(-80, 10.0), "hci1": Heard(-50, 10.1)}
    present = ["hci0", "hci1"]
    assert not settled(one, present, first_heard_s=10.0, now_s=10.0)
    assert settled(both, present, first_heard_s=10.0, now_s=10.1)
    assert settled(one, present, first_heard_s=10.0, now_s=10.0 + SETTLE_S)
    assert not settled({}, present, first_heard_s=None, now_s=100.0)
