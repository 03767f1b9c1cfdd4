"""GattCache: layouts by Database Hash, kept only when they have the hash, and across restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from pathlib import Path

import pytest

from gateway.ble.gatt_cache import GattCache
from gateway.ble.gatt_layout import GattLayout
from tests.gateway.ble.test_gatt_layout import VEST_DATABASE_HASH, vest

WRONG_HASH = bytes(16)


async def test_a_layout_learned_is_served_under_its_hash() -> None:
    cache = GattCache()
    assert cache.get(VEST_DATABASE_HASH) is None
    assert await cache.learn(VEST_DATABASE_HASH, vest())
    assert cache.get(VEST_DATABASE_HASH) == vest()
    assert (cache.misses, cache.hits) == (1, 1)


async def test_a_layout_without_the_reported_hash_is_never_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A firmware that reports a stale hash: its devices are discovered every time."""
    cache = GattCache()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert not await cache.learn(WRONG_HASH, vest())
    assert cache.get(WRONG_HASH) is None
    assert cache.untrusted(WRONG_HASH)
    assert not cache.untrusted(VEST_DATABASE_HASH)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # said once, not at every connection
    assert WRONG_HASH.hex() in warnings[0]


async def test_layouts_are_kept_in_the_state_directory_private(tmp_path: Path) -> None:
    path = tmp_path / "gatt-cache.json"
    await GattCache(path).learn(VEST_DATABASE_HASH, vest())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert GattCache.open(path).get(VEST_DATABASE_HASH) == vest()


async def test_a_cache_that_cannot_be_written_still_serves_from_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing-folder" / "gatt-cache.json"
    cache = GattCache(path)
    with caplog.at_level(logging.WARNING):
        assert await cache.learn(VEST_DATABASE_HASH, vest())
    assert cache.get(VEST_DATABASE_HASH) == vest()
    assert any(str(path) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid"),
        (json.dumps({"format": 99, "layouts": {}}), "expected an object with format 1"),
        (json.dumps({"format": 1, "layouts": {"zz": []}}), "'zz' is not a hash in hex"),
        (
            json.dumps({"format": 1, "layouts": {WRONG_HASH.hex(): vest().to_json()}}),
            "does not have that hash",
        ),
    ],
)
def test_a_bad_cache_file_is_named_and_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, reason: str
) -> None:
    path = tmp_path / "gatt-cache.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        cache = GattCache.open(path)
    assert len(cache) == 0
    (message,) = [r.getMessage() for r in caplog.records]
    assert str(path) in message
    assert reason in message


def hash_of(layout: GattLayout) -> bytes:
    digest = layout.database_hash()
    assert digest is not None
    return digest


async def test_the_least_recently_used_layout_goes_past_the_limit() -> None:
    cache = GattCache(max_layouts=2)
    layout = vest()
    first, second = (GattLayout(layout.services[:n]) for n in (2, 3))
    await cache.learn(VEST_DATABASE_HASH, layout)
    await cache.learn(hash_of(first), first)
    assert cache.get(VEST_DATABASE_HASH) == layout  # used: `first` is now the oldest
    await cache.learn(hash_of(second), second)
    assert cache.get(hash_of(first)) is None
    assert cache.get(VEST_DATABASE_HASH) == layout
    assert cache.get(hash_of(second)) == second


async def test_devices_of_a_model_wait_for_the_one_learning_its_layout() -> None:
    cache = GattCache()
    assert cache.claim(VEST_DATABASE_HASH)
    assert not cache.claim(VEST_DATABASE_HASH)  # one learner at a time
    waiting = asyncio.create_task(cache.learned(VEST_DATABASE_HASH))
    await asyncio.sleep(0)
    assert not waiting.done()
    await cache.learn(VEST_DATABASE_HASH, vest())
    assert await waiting == vest()


async def test_a_learner_that_gives_up_lets_the_others_go_at_once() -> None:
    cache = GattCache(learning_wait_s=60)
    assert cache.claim(VEST_DATABASE_HASH)
    waiting = asyncio.create_task(cache.learned(VEST_DATABASE_HASH))
    await asyncio.sleep(0)
    cache.abandon(VEST_DATABASE_HASH)  # its link dropped, or its pairing failed
    assert await asyncio.wait_for(waiting, 1.0) is None
    assert cache.claim(VEST_DATABASE_HASH)  # the next one may learn it


async def test_a_learner_that_stalls_holds_the_others_only_so_long() -> None:
    cache = GattCache(learning_wait_s=0.05)
    assert cache.claim(VEST_DATABASE_HASH)
    assert await asyncio.wait_for(cache.learned(VEST_DATABASE_HASH), 1.0) is None


async def test_a_learner_whose_layout_lacks_the_hash_releases_the_others() -> None:
    cache = GattCache(learning_wait_s=60)
    assert cache.claim(WRONG_HASH)
    waiting = asyncio.create_task(cache.learned(WRONG_HASH))
    await asyncio.sleep(0)
    assert not await cache.learn(WRONG_HASH, vest())
    assert await asyncio.wait_for(waiting, 1.0) is None
