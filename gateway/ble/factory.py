"""Build bleak scanners and clients for the configured backend and adapters: BlueZ, or Bumble."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

from bleak import BleakScanner
from bumble.transport.common import TransportInitError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.ble.bluez_adapters import BlueZAdapterWatch
from gateway.ble.bonds import PrivateKeyStore
from gateway.ble.bumble_backend import BumbleClient, BumbleScanner
from gateway.ble.bumble_stack import BumbleStack
from gateway.ble.gatt_cache import GattCache

# No HCI command reports how many LE links a controller holds: it refuses the next one with
# "Connection Limit Exceeded" (0x09), and the Core specification sets no number for LE. Seven,
# the BR/EDR piconet's active peripherals (Core Vol 2 B 1.1), is too few for one car: four
# officers with a vest and a helmet each are eight links. Sixteen holds a van's crew and is
# what the adapter bench gives each controller (docs/performance.md); set yours from the
# controller's datasheet or from where it starts refusing.
DEFAULT_LINKS_PER_ADAPTER = 16


class BleSettings(BaseModel):
    """`ble.*` configuration: which stack bleak runs on, through which adapters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["bluez", "bumble"] = "bluez"
    # A Bumble transport: `tcp-client:127.0.0.1:9002` (a simulated fleet), `usb:0` (a USB HCI
    # dongle on a machine without BlueZ), `unix:/path`... The one-adapter form of `adapters`.
    bumble_transport: str | None = None
    # Several adapters: BlueZ adapter names (`hci0`, `hci1`), or Bumble transports. Empty on
    # BlueZ: BlueZ's default adapter.
    adapters: tuple[str, ...] = ()
    links_per_adapter: int = Field(default=DEFAULT_LINKS_PER_ADAPTER, ge=1, le=64)

    @model_validator(mode="after")
    def _transport_for_bumble(self) -> Self:
        if self.backend == "bumble" and not (self.bumble_transport or self.adapters):
            raise ValueError(
                "ble.backend = 'bumble' needs ble.bumble_transport (e.g. tcp-client:127.0.0.1:9002)"
                " or ble.adapters (a list of transports)"
            )
        if self.bumble_transport and self.adapters:
            raise ValueError("give ble.bumble_transport or ble.adapters, not both")
        if self.backend == "bluez" and self.bumble_transport:
            raise ValueError("ble.bumble_transport is for ble.backend = 'bumble'")
        if len(set(self.adapters)) != len(self.adapters):
            raise ValueError("ble.adapters lists an adapter twice")
        return self

    def adapter_names(self) -> tuple[str, ...]:
        """The adapters to open: names on BlueZ (none: the default), transports on Bumble."""
        if self.bumble_transport:
            return (self.bumble_transport,)
        return self.adapters


@dataclass
class Adapter:
    """One controller the gateway connects through, and whether it is still there."""

    name: str
    link_limit: int = DEFAULT_LINKS_PER_ADAPTER
    # None on BlueZ: bleak selects the adapter by name (`bluez_name`, or BlueZ's default).
    stack: BumbleStack | None = None
    bluez_name: str | None = None
    # Set once the controller has gone: a USB dongle pulled, its Bumble transport closed, its
    # BlueZ adapter removed or bluetoothd gone (gateway/ble/bluez_adapters.py); cleared when it
    # is back (`wait_until_back`).
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a lost BlueZ adapter's object is on D-Bus again (gateway/ble/bluez_adapters.py).
    back: asyncio.Event = field(default_factory=asyncio.Event)
    # Servers' layouts by Database Hash, one for every Bumble adapter (BlueZ keeps its own).
    gatt_cache: GattCache | None = None

    @property
    def answers_when_lost(self) -> bool:
        """Whether a request through this adapter is still answered once it is lost: on BlueZ
        bluetoothd (or the bus, when bluetoothd is gone) refuses it at once; a gone Bumble
        controller never answers."""
        return self.stack is None

    def backend_kwargs(self, *, client: bool, bonding: bool = False) -> dict[str, Any]:
        """Keyword arguments for BleakScanner, BleakClient or bleak-retry-connector;
        `bonding`: the client's link is to be encrypted with a bond once connected."""
        if self.stack is not None:
            if client:
                return {
                    "backend": BumbleClient,
                    "bumble_stack": self.stack,
                    "gatt_cache": self.gatt_cache,
                    "bonding": bonding,
                }
            return {"backend": BumbleScanner, "bumble_stack": self.stack}
        if self.bluez_name is not None:
            return {"bluez": {"adapter": self.bluez_name}}
        return {}

    def scanner(self, **kwargs: Any) -> BleakScanner:
        return BleakScanner(**kwargs, **self.backend_kwargs(client=False))

    async def wait_until_back(self, retry_s: Callable[[int], float]) -> None:
        """Return once the lost controller is usable again, `lost` cleared.

        On Bumble its transport is opened again, tried after `retry_s(attempt)` seconds while
        nothing answers: a USB dongle or a TCP controller gives no sign of its return. On BlueZ
        bluetoothd announces the adapter's object (`back`, set by the D-Bus watch).
        """
        if self.stack is None:
            await self.back.wait()
            self.back.clear()
            self.lost.clear()
            return
        attempt = 0
        while True:
            try:
                stack = await self.stack.reopen()
                break
            except (OSError, TransportInitError):
                attempt += 1
                await asyncio.sleep(retry_s(attempt))
        gone, self.stack = self.stack, stack
        await gone.close()  # its transport, already ended
        self.lost.clear()
        stack.on_lost(self.lost.set)  # after the clear: a transport that ends at once counts


class BleakFactory:
    """Owns the process's adapters (a Bumble stack each on Bumble) and hands bleak the backend."""

    def __init__(
        self, adapters: Sequence[Adapter], bluez_watch: BlueZAdapterWatch | None = None
    ) -> None:
        """`bluez_watch`: what sets the named BlueZ adapters' `lost`; closed with the factory."""
        if not adapters:
            raise ValueError("at least one adapter")
        self.adapters = tuple(adapters)
        self._bluez_watch = bluez_watch

    @classmethod
    def bluez(cls) -> BleakFactory:
        """BlueZ's default adapter, whichever it is."""
        return cls([Adapter("default")])

    @classmethod
    def bumble(
        cls,
        *stacks: BumbleStack,
        link_limit: int = DEFAULT_LINKS_PER_ADAPTER,
        gatt_cache: GattCache | None = None,
    ) -> BleakFactory:
        """Stacks already attached, named `bumble0`, `bumble1`..., each watched for its loss;
        with `gatt_cache`, or one in memory."""
        cache = GattCache() if gatt_cache is None else gatt_cache
        return cls(
            [
                _watched(Adapter(f"bumble{index}", link_limit, stack, gatt_cache=cache))
                for index, stack in enumerate(stacks)
            ]
        )

    @classmethod
    async def open(
        cls,
        settings: BleSettings,
        key_store: Path | None = None,
        gatt_cache: Path | None = None,
    ) -> BleakFactory:
        """The factory for `settings`; on Bumble, every adapter under the one identity and
        bonds of the key store at `key_store` (in memory only when None), so a device bonded
        through one adapter encrypts with its bond through any other, and with one GATT cache,
        kept at `gatt_cache` (in memory only when None). BlueZ keeps its bonds and GATT cache
        itself (/var/lib/bluetooth), per adapter (docs/install.md, "Several adapters")."""
        limit = settings.links_per_adapter
        names = settings.adapter_names()
        if settings.backend == "bluez":
            if not names:
                # BlueZ's default adapter may be any of them from one scan to the next: there
                # is no one adapter to watch, and no other to fail over to.
                return cls([Adapter("default", limit)])
            named = [Adapter(name, limit, bluez_name=name) for name in names]
            watch = await BlueZAdapterWatch.open({a.name: (a.lost, a.back) for a in named})
            return cls(named, watch)
        # A wearable keeps its bond under the central's identity address: with one identity
        # for every controller, moving to another adapter is no new central to it. Each
        # controller still holds its own links; on air a link is its access address, so two
        # controllers sharing an address do not mix their links up.
        keys = None if key_store is None else PrivateKeyStore.open(key_store)
        cache = GattCache() if gatt_cache is None else GattCache.open(gatt_cache)
        adapters: list[Adapter] = []
        try:
            for name in names:
                stack = await BumbleStack.open(name, key_store=keys)
                adapters.append(_watched(Adapter(name, limit, stack, gatt_cache=cache)))
        except BaseException:
            await cls._close_all(adapters)
            raise
        return cls(adapters)

    @property
    def first(self) -> Adapter:
        """The adapter for one-off work (`bluewatch read`): the first configured."""
        return self.adapters[0]

    async def close(self) -> None:
        if self._bluez_watch is not None:
            self._bluez_watch.close()
        await self._close_all(self.adapters)

    @staticmethod
    async def _close_all(adapters: Sequence[Adapter]) -> None:
        for adapter in adapters:
            if adapter.stack is not None:
                await adapter.stack.close()


def _watched(adapter: Adapter) -> Adapter:
    """Mark `adapter` lost when its Bumble transport ends (the dongle or the link went away)."""
    assert adapter.stack is not None
    adapter.stack.on_lost(adapter.lost.set)
    return adapter
