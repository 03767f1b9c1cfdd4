"""A device is who it says it is: bonding on first use, the key store, and spoofers refused.

The device manager on the virtual radio against simulated vests whose Officer Safety service is
served encrypted only, with the gateway's bonds in a key store file as `bluewatch run` keeps them.
"""

from __future__ import annotations

import asyncio
import io
import json
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from bumble.device import Connection
from bumble.keys import PairingKeys

from firmware_mocks.radio import PluggableController, VirtualRadio
from gateway.ble.bonds import Bindings, PrivateKeyStore
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.factory import BleakFactory, BleSettings
from gateway.ble.link import LinkState
from gateway.ble.manager import DeviceManager
from gateway.cli import run
from gateway.commands import EXIT_OK
from gateway.domain import DeviceRef, UnitRef
from sensors import VEST, DeviceModel, SafetyEvent, SafetyEventKind
from tests.integration.ble_fixtures import add_peripheral
from tests.support.managers import quick_manager

TIMEOUT_S = 15
UNIT = UnitRef("pd", "car-1")
VEST_ADDRESS = "C1:00:00:00:00:01"
SPOOF_ADDRESS = "C9:00:00:00:00:09"
NAME = "BW-Vest-V0001"

Received = list[tuple[str, str, bytes]]


async def wait_for(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while not condition():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def managing(
    factory: BleakFactory,
    roster: list[DeviceRef],
    received: Received,
    bindings: Path | None = None,
) -> AsyncIterator[DeviceManager]:
    """A manager running over `factory`, recording what it hands on; closes both after."""
    manager = quick_manager(
        roster,
        factory,
        lambda ref, uuid, data, t: received.append((ref.device_id, uuid, data)),
        bindings=None if bindings is None else Bindings.open(bindings),
    )
    task = asyncio.create_task(manager.run())
    try:
        yield manager
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await manager.close()
        await factory.close()


@asynccontextmanager
async def running(
    radio: VirtualRadio,
    roster: list[DeviceRef],
    received: Received,
    keys: Path | None = None,
    bindings: Path | None = None,
) -> AsyncIterator[DeviceManager]:
    """A manager over one Bumble stack on `radio` (the gateway's one adapter)."""
    store = None if keys is None else PrivateKeyStore.open(keys)
    stack = await BumbleStack.attach(*radio.host_pipe(), key_store=store)
    async with managing(BleakFactory.bumble(stack), roster, received, bindings) as manager:
        yield manager


@asynccontextmanager
async def through_adapters(
    controllers: Sequence[PluggableController],
    roster: list[DeviceRef],
    received: Received,
    keys: Path,
) -> AsyncIterator[DeviceManager]:
    """A manager over one Bumble stack per controller (the gateway's adapters)."""
    names = tuple(c.transport_spec for c in controllers)
    factory = await BleakFactory.open(BleSettings(backend="bumble", adapters=names), keys)
    try:
        async with managing(factory, roster, received) as manager:
            yield manager
    finally:
        for controller in controllers:
            await controller.close()


def vest_ref(address: str | None = None, name: str | None = None) -> DeviceRef:
    return DeviceRef(UNIT, "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST, address, name)


async def test_bonds_persist_0600_and_a_restarted_gateway_encrypts_without_pairing_again(
    tmp_path: Path,
) -> None:
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, NAME, VEST_ADDRESS)
    pairings: list[Connection] = []
    vest.device.on("pairing_start", pairings.append)
    keys = tmp_path / "state" / "ble-keys.json"
    received: Received = []
    async with running(radio, [vest_ref(address=VEST_ADDRESS)], received, keys) as manager:
        await wait_for(lambda: manager.devices["o1-vest"].ever_connected)
        (link,) = vest.connections
        assert link.is_encrypted
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        (identity,) = json.loads(keys.read_text())
        assert VEST_ADDRESS in json.loads(keys.read_text())[identity]
        await vest.go_offline()
        await wait_for(lambda: not manager.devices["o1-vest"].health.connected)
        await vest.go_online()
        await wait_for(lambda: manager.devices["o1-vest"].health.reconnects == 1)
        (link,) = vest.connections
        assert link.is_encrypted
    # The daemon restarts (a new host, the same key store): the vest knows it by its identity.
    async with running(radio, [vest_ref(address=VEST_ADDRESS)], received, keys) as manager:
        await wait_for(lambda: manager.devices["o1-vest"].ever_connected)
        (link,) = vest.connections
        assert link.is_encrypted
        assert str(link.peer_address) == identity
    assert len(pairings) == 1  # bonded once; every later link was encrypted with the bond


def test_the_key_store_is_made_0600_whatever_the_umask_and_keeps_its_identity(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ble-keys.json"
    first = PrivateKeyStore.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # left readable by hand
    again = PrivateKeyStore.open(path)
    assert again.identity == first.identity
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_spoofer_advertising_a_bound_vests_name_is_never_connected_and_is_counted() -> None:
    """A name-only vest is bound to the first advertiser that connected; a second advertiser
    of its name never takes its place, not even while the vest is away."""
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, NAME, VEST_ADDRESS)
    received: Received = []
    async with running(radio, [vest_ref(name=NAME)], received) as manager:
        managed = manager.devices["o1-vest"]
        await wait_for(lambda: managed.ever_connected)  # connected, bonded, subscribed
        assert managed.address == VEST_ADDRESS
        spoofer = await add_peripheral(radio, VEST, NAME, SPOOF_ADDRESS)
        await vest.go_offline()  # the vest reconnects to whoever has its name, before the fix
        await wait_for(lambda: SPOOF_ADDRESS in manager.possible_spoofs)
        await asyncio.sleep(1.0)
        assert not spoofer.connections
        assert manager.possible_spoofs == {SPOOF_ADDRESS: "o1-vest"}
        # "I'm OK" from the spoofer cancels nothing: it never reaches the gateway.
        ok = SafetyEvent(event=SafetyEventKind.IM_OK_PRESS, sequence=1, device_ticks_ms=5)
        await spoofer.notify(ok.UUID, ok.encode())
        await vest.go_online()
        await wait_for(lambda: managed.health.reconnects == 1)
        assert vest.connections
        assert not spoofer.connections


@pytest.mark.parametrize("held", ["no key", "another key"])
async def test_a_device_at_a_bonded_address_without_the_bond_is_refused_and_counted(
    held: str,
) -> None:
    """Whoever copies a bonded vest's address has no key for the gateway (or another one): the
    link is never used (nothing read, the link never ok, so device-lost still fires) and never
    re-paired."""
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, NAME, VEST_ADDRESS)
    received: Received = []
    async with running(radio, [vest_ref(address=VEST_ADDRESS)], received) as manager:
        managed = manager.devices["o1-vest"]
        await wait_for(lambda: managed.ever_connected)
        await vest.go_offline()
        await wait_for(lambda: not managed.health.connected)
        assert vest.device.keystore is not None
        if held == "no key":
            await vest.device.keystore.delete_all()  # the unit at this address has no bond now
        else:
            ((gateway, keys),) = await vest.device.keystore.get_all()
            assert keys.ltk is not None
            keys.ltk = PairingKeys.Key(value=bytes(16), authenticated=False)
            await vest.device.keystore.update(gateway, keys)
        before = len(received)
        await vest.go_online()
        await wait_for(lambda: VEST_ADDRESS in manager.possible_spoofs)
        await asyncio.sleep(1.0)
        assert not managed.health.connected
        assert len(received) == before
        assert managed.health.state(asyncio.get_running_loop().time()) is not LinkState.OK
        assert manager.possible_spoofs == {VEST_ADDRESS: "o1-vest"}


async def test_a_name_only_vest_stays_bound_to_its_address_across_a_restart(tmp_path: Path) -> None:
    """After a restart the first advertiser of the name is not taken as the vest again: the
    binding is kept (0600) beside the key store."""
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, NAME, VEST_ADDRESS)
    bindings = tmp_path / "ble-bindings.json"
    received: Received = []
    async with running(radio, [vest_ref(name=NAME)], received, bindings=bindings) as manager:
        await wait_for(lambda: manager.devices["o1-vest"].ever_connected)
    assert json.loads(bindings.read_text()) == {"o1-vest": VEST_ADDRESS}
    assert stat.S_IMODE(bindings.stat().st_mode) == 0o600
    await vest.go_offline()
    spoofer = await add_peripheral(radio, VEST, NAME, SPOOF_ADDRESS)
    async with running(radio, [vest_ref(name=NAME)], received, bindings=bindings) as manager:
        await wait_for(lambda: SPOOF_ADDRESS in manager.possible_spoofs)
        await asyncio.sleep(1.0)
        assert not spoofer.connections
        await vest.go_online()
        await wait_for(lambda: manager.devices["o1-vest"].ever_connected)
        assert vest.connections
        assert not spoofer.connections


async def test_a_vest_bonded_through_one_adapter_encrypts_through_another_without_pairing(
    tmp_path: Path,
) -> None:
    """Every Bumble adapter of the gateway is the one central the vest bonded with: after
    failover the link is encrypted with the bond, not paired again."""
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, NAME, VEST_ADDRESS)
    pairings: list[Connection] = []
    vest.device.on("pairing_start", pairings.append)
    controllers = [await radio.pluggable(f"adapter{a}") for a in range(2)]
    for controller, rssi in zip(controllers, (-40, -70), strict=True):
        controller.controller.rssi_from = {VEST_ADDRESS: rssi}
    names = tuple(c.transport_spec for c in controllers)
    keys = tmp_path / "state" / "ble-keys.json"
    received: Received = []
    roster = [vest_ref(address=VEST_ADDRESS)]
    async with through_adapters(controllers, roster, received, keys) as manager:
        managed = manager.devices["o1-vest"]
        await wait_for(lambda: managed.ever_connected)
        assert managed.adapter == names[0]  # heard best there
        (link,) = vest.connections
        assert link.is_encrypted
        await controllers[0].unplug()
        await wait_for(lambda: managed.health.connected and managed.adapter == names[1])
        (link,) = vest.connections
        assert link.is_encrypted
        await asyncio.sleep(0.3)  # subscriptions complete after the link is up
        before = len(received)
        ok = SafetyEvent(event=SafetyEventKind.IM_OK_PRESS, sequence=1, device_ticks_ms=5)
        await vest.notify(ok.UUID, ok.encode())  # served encrypted only
        await wait_for(lambda: len(received) > before)
    assert len(pairings) == 1  # bonded once, through the first adapter
    assert [path.name for path in keys.parent.iterdir()] == ["ble-keys.json"]


async def test_adapters_sharing_the_identity_each_hold_their_own_vests_links(
    tmp_path: Path,
) -> None:
    """Two vests, each heard best by another adapter, both linked at once under the gateway's
    one identity: each link encrypted, each vest's encrypted notifications delivered."""
    radio = VirtualRadio()
    addresses = (VEST_ADDRESS, "C1:00:00:00:00:02")
    vests = [
        await add_peripheral(radio, VEST, f"BW-Vest-V000{i}", address)
        for i, address in enumerate(addresses, start=1)
    ]
    controllers = [await radio.pluggable(f"adapter{a}") for a in range(2)]
    controllers[0].controller.rssi_from = {addresses[0]: -40, addresses[1]: -80}
    controllers[1].controller.rssi_from = {addresses[0]: -80, addresses[1]: -40}
    names = tuple(c.transport_spec for c in controllers)
    roster = [
        DeviceRef(UNIT, f"o{i}", f"o{i}-vest", DeviceModel.BLUEWATCH_VEST, address)
        for i, address in enumerate(addresses, start=1)
    ]
    received: Received = []
    keys = tmp_path / "ble-keys.json"
    async with through_adapters(controllers, roster, received, keys) as manager:
        devices = list(manager.devices.values())
        await wait_for(lambda: all(m.ever_connected for m in devices))
        assert [m.adapter for m in devices] == list(names)
        links = [link for vest in vests for link in vest.connections]
        assert len(links) == 2
        assert len({str(link.peer_address) for link in links}) == 1  # one central to both
        assert all(link.is_encrypted for link in links)
        await asyncio.sleep(0.3)  # subscriptions complete after the link is up
        ok = SafetyEvent(event=SafetyEventKind.IM_OK_PRESS, sequence=1, device_ticks_ms=5)
        for vest in vests:
            await vest.notify(ok.UUID, ok.encode())
        await wait_for(
            lambda: {r[0] for r in received if r[1] == ok.UUID} == {"o1-vest", "o2-vest"}
        )


async def test_a_reset_vest_pairs_again_once_unbonded_with_the_gateway_running(
    tmp_path: Path,
) -> None:
    """A unit reset in the depot has no bond: refused as a possible spoof until IT runs
    `bluewatch unbond` for it; then, at its next link, it pairs again and streams."""
    radio = VirtualRadio()
    vest = await add_peripheral(radio, VEST, NAME, VEST_ADDRESS)
    keys = tmp_path / "ble-keys.json"
    config = tmp_path / "gateway.toml"
    config.write_text(
        'agency = "pd"\nunit = "car-1"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
        '[ble]\nbackend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9"\n'
    )
    received: Received = []
    async with running(radio, [vest_ref(address=VEST_ADDRESS)], received, keys) as manager:
        managed = manager.devices["o1-vest"]
        await wait_for(lambda: managed.ever_connected)
        await vest.go_offline()
        await wait_for(lambda: not managed.health.connected)
        assert vest.device.keystore is not None
        await vest.device.keystore.delete_all()  # reset: the unit forgot its bond
        await vest.go_online()
        await wait_for(lambda: VEST_ADDRESS in manager.possible_spoofs)
        assert not managed.health.connected

        out, err = io.StringIO(), io.StringIO()
        status = await asyncio.to_thread(
            run, ["unbond", VEST_ADDRESS, "--config", str(config)], io.StringIO(), out, err
        )
        assert (status, err.getvalue()) == (EXIT_OK, "")

        await wait_for(lambda: managed.health.connected)
        before = len(received)
        event = SafetyEvent(event=SafetyEventKind.PANIC_PRESS, sequence=1, device_ticks_ms=1)
        await vest.notify(SafetyEvent.UUID, event.encode())  # served on a bonded link only
        await wait_for(lambda: len(received) > before)
        assert len(await vest.device.keystore.get_all()) == 1  # bonded afresh
