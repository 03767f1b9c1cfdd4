"""The GATT cache over real ATT: the second vest of a model connects without discovery, once
the first has encrypted its link with a bond.

In-process, as tests/integration/test_ble_bumble.py: simulated vests on one virtual link, the
gateway's bleak backend over Bumble, every request real ATT. The requests the gateway sends are
counted where Bumble's GATT client sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from bleak import BleakClient
from bumble import att, gatt_client
from bumble.gatt import CharacteristicValue

from gateway.ble.bumble_backend import BumbleClient
from gateway.ble.gatt_cache import GattCache
from sensors import VEST, HeartRateMeasurement
from tests.integration.ble_fixtures import VEST_ADDRESS, Bench, add_peripheral, bench
from tests.integration.test_ble_bumble import find

__all__ = ["bench"]
TIMEOUT_S = 10
SECOND_VEST = "F1:00:00:00:00:02"
DISCOVERY = {"ATT_Read_By_Group_Type_Request", "ATT_Find_Information_Request"}


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The ATT requests the gateway's GATT client sends, by name."""
    sent: Counter[str] = Counter()
    send = gatt_client.Client.send_request

    async def counted(self: gatt_client.Client, request: att.ATT_PDU) -> Any:
        sent[type(request).__name__] += 1
        return await send(self, request)

    monkeypatch.setattr(gatt_client.Client, "send_request", counted)
    return sent


@asynccontextmanager
async def connected(
    bench: Bench, address: str, cache: GattCache, *, pair: bool = True
) -> AsyncIterator[BleakClient]:
    device = await find(bench.stack, address)
    client = BleakClient(
        device,
        backend=BumbleClient,
        bumble_stack=bench.stack,
        gatt_cache=cache,
        timeout=TIMEOUT_S,
        pair=pair,
    )
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


async def streams_heart_rate(client: BleakClient, peripheral: Any) -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()
    await client.start_notify(
        HeartRateMeasurement.UUID, lambda _, data: received.put_nowait(bytes(data))
    )
    sent = HeartRateMeasurement(heart_rate_bpm=88)
    await peripheral.notify(HeartRateMeasurement.UUID, sent.encode())
    async with asyncio.timeout(TIMEOUT_S):
        assert HeartRateMeasurement.decode(await received.get()) == sent


def serve_hash(peripheral: Any, read: Any) -> None:
    """Replace what the device's Database Hash characteristic answers."""
    characteristic = peripheral.device.gatt_service.database_hash_characteristic
    characteristic.value = CharacteristicValue(read=read)


async def test_the_second_vest_of_a_model_connects_without_discovery(
    bench: Bench, requests: Counter[str]
) -> None:
    second = await add_peripheral(bench.radio, VEST, "BW-Vest-T0002", SECOND_VEST)
    cache = GattCache()
    async with connected(bench, VEST_ADDRESS, cache) as client:
        await streams_heart_rate(client, bench.vest)
    first = Counter(requests)
    assert set(first) >= DISCOVERY
    assert len(cache) == 1  # the layout had the hash the vest served
    requests.clear()
    async with connected(bench, SECOND_VEST, cache) as client:
        # What the gateway uses is there, from the cache: services and their characteristics.
        for spec in VEST.characteristics():
            assert client.services.get_characteristic(spec.uuid) is not None, spec.codec.NAME
        await streams_heart_rate(client, second)
    assert not DISCOVERY & set(requests)
    # The hash read, and the subscription's CCCD write: no descriptor discovery either.
    assert requests["ATT_Read_By_Type_Request"] == 1
    assert sum(requests.values()) < sum(first.values()) / 3
    assert (cache.misses, cache.hits) == (1, 1)


async def test_a_layout_seen_on_a_link_without_a_bond_is_not_learned(
    bench: Bench, requests: Counter[str]
) -> None:
    """Whoever answers at a roster address can discover; only a bonded link teaches the cache,
    so a device posing as a bonded vest cannot plant a layout for the genuine ones."""
    cache = GattCache()
    async with connected(bench, VEST_ADDRESS, cache, pair=False) as client:
        await streams_heart_rate(client, bench.vest)
    assert len(cache) == 0
    requests.clear()
    async with connected(bench, VEST_ADDRESS, cache) as client:  # bonds this time
        await streams_heart_rate(client, bench.vest)
    assert set(requests) >= DISCOVERY
    assert len(cache) == 1


def stale_hash(_connection: Any) -> bytes:
    """A firmware that forgot to update its hash: its layout does not have it."""
    return bytes(16)


def no_hash(_connection: Any) -> bytes:
    """Before Core 5.1 there is no hash: the read is answered Attribute Not Found."""
    raise att.ATT_Error(att.ErrorCode.ATTRIBUTE_NOT_FOUND)


@pytest.mark.parametrize("served", [stale_hash, no_hash])
async def test_a_vest_without_a_hash_it_can_be_trusted_with_is_discovered_every_time(
    bench: Bench, requests: Counter[str], served: Any
) -> None:
    """Never served from the cache, and it still streams."""
    serve_hash(bench.vest, served)
    cache = GattCache()
    for _ in range(2):
        requests.clear()
        async with connected(bench, VEST_ADDRESS, cache) as client:
            await streams_heart_rate(client, bench.vest)
        assert set(requests) >= DISCOVERY
    assert len(cache) == 0


async def test_vests_bonding_together_discover_their_model_once(
    bench: Bench, requests: Counter[str]
) -> None:
    """The first to read the hash discovers; the others wait for its layout."""
    addresses = [VEST_ADDRESS] + [f"F1:00:00:00:00:1{i}" for i in range(3)]
    for index, address in enumerate(addresses[1:]):
        await add_peripheral(bench.radio, VEST, f"BW-Vest-T001{index}", address)
    async with connected(bench, VEST_ADDRESS, GattCache()):
        pass
    one_discovery = requests["ATT_Read_By_Group_Type_Request"]
    assert one_discovery
    requests.clear()
    cache = GattCache()
    async with contextlib.AsyncExitStack() as stack:
        clients = await asyncio.gather(
            *(stack.enter_async_context(connected(bench, a, cache)) for a in addresses)
        )
        assert all(c.services.get_characteristic(HeartRateMeasurement.UUID) for c in clients)
    assert requests["ATT_Read_By_Group_Type_Request"] == one_discovery
    assert cache.hits == len(addresses) - 1
