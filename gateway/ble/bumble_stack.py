"""One Bumble host per controller, shared by every bleak scanner and client that uses it.

A controller runs one scan and one pending LE connection at a time, so the stack multiplexes:
scanning is on while any scanner listens, and connection attempts share one initiator, which
connects whichever waiting device advertises first (gateway/ble/accept_list.py). Scanning asks
the controller to filter duplicates and starts afresh every `duplicate_period_s`, so each
advertiser is reported about once a period rather than at every advertisement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from bumble import core, hci
from bumble.device import Advertisement, Connection, Device
from bumble.transport import open_transport
from bumble.transport.common import Transport

from bumble_mends import QuietHost
from gateway.ble.accept_list import AcceptListConnector
from gateway.ble.bonds import PrivateKeyStore, random_static_address

# How long closing waits for each link's disconnection: a controller's answer takes milliseconds.
CLOSE_DISCONNECT_TIMEOUT_S: Final = 2.0
# How often the controller's duplicate filter starts empty, so that every advertiser in range is
# reported again: placement's signal readings, a device that dropped its link heard again, and
# broadcast readings (taken once a second) all need a report about this often, and no more.
DUPLICATE_PERIOD_S: Final = 1.0

logger = logging.getLogger(__name__)

AdvertisementListener = Callable[[Advertisement], None]


class BumbleConnectError(Exception):
    """The controller refused or failed a connection; the message names the address and why."""


def _device(name: str, source: Any, sink: Any, key_store: PrivateKeyStore | None) -> Device:
    """The gateway's host: with a key store, under the identity its bonds were made with;
    without one (a one-off `scan` or `read`, tests), a new address and bonds in memory."""
    address = key_store.identity if key_store is not None else random_static_address()
    device = Device(name=name, address=address, host=QuietHost(source, sink))
    device.keystore = key_store  # None: Bumble makes an in-memory one at power-on
    return device


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """`BLEDevice.details` for a device found through Bumble: its typed address and stack."""

    address: hci.Address
    stack: BumbleStack


class BumbleStack:
    """A powered-on Bumble host on an HCI transport (TCP, UNIX socket, USB) or in-process pipe."""

    def __init__(
        self,
        device: Device,
        connector: AcceptListConnector,
        transport: Transport | None = None,
        duplicate_period_s: float = DUPLICATE_PERIOD_S,
    ) -> None:
        self.device = device
        self._connector = connector
        self._transport = transport
        # The transport string it was opened with (`open`); None when attached in-process.
        self.transport_spec: str | None = None
        self._listeners: list[AdvertisementListener] = []
        self._scan_lock = asyncio.Lock()
        self._duplicate_period_s = duplicate_period_s
        # Restarts the scan each period while it is on; None while it is off.
        self._refresher: asyncio.Task[None] | None = None
        self._addresses: dict[str, hci.Address] = {}
        # True once the transport has ended: the controller is gone with every link it held.
        self.lost = False
        self._closing = False
        self._lost_callbacks: list[Callable[[], None]] = []
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        if transport is not None:
            transport.source.terminated.add_done_callback(self._on_terminated)

    @classmethod
    async def open(
        cls,
        transport_spec: str,
        name: str = "bluewatch-gateway",
        key_store: PrivateKeyStore | None = None,
        duplicate_period_s: float = DUPLICATE_PERIOD_S,
    ) -> BumbleStack:
        """Attach to a controller through a Bumble transport string, e.g. `tcp-client:host:port`.

        Raises OSError or TransportInitError while there is no controller to attach to.
        """
        transport = await open_transport(transport_spec)
        try:
            device = _device(name, transport.source, transport.sink, key_store)
            stack = await cls._power_on(device, duplicate_period_s, transport)
        except BaseException:
            await transport.close()
            raise
        stack.transport_spec = transport_spec
        return stack

    async def reopen(self) -> BumbleStack:
        """A new stack on the transport this one was opened with, under the same name, identity
        and key store: the controller back after its transport ended (a dongle plugged in
        again). Raises as `open` does while it is not back."""
        if self.transport_spec is None:
            raise ValueError("a stack attached in-process has no transport to open again")
        keys = self.device.keystore
        return await BumbleStack.open(
            self.transport_spec,
            self.device.name,
            keys if isinstance(keys, PrivateKeyStore) else None,
            self._duplicate_period_s,
        )

    @classmethod
    async def attach(
        cls,
        source: Any,
        sink: Any,
        name: str = "bluewatch-gateway",
        key_store: PrivateKeyStore | None = None,
        duplicate_period_s: float = DUPLICATE_PERIOD_S,
    ) -> BumbleStack:
        """Attach to an in-process controller through an HCI (source, sink) pair."""
        return await cls._power_on(_device(name, source, sink, key_store), duplicate_period_s)

    @classmethod
    async def _power_on(
        cls, device: Device, duplicate_period_s: float, transport: Transport | None = None
    ) -> BumbleStack:
        await device.power_on()
        connector = await AcceptListConnector.open(device)
        return cls(device, connector, transport, duplicate_period_s)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the controller is gone (at once if it already is)."""
        if self.lost:
            callback()
        else:
            self._lost_callbacks.append(callback)

    def _on_terminated(self, _: asyncio.Future[None]) -> None:
        if self._closing:
            return  # our own close, not a controller gone
        logger.warning("the controller's transport ended: its links are gone")
        self.lost = True
        callbacks, self._lost_callbacks = self._lost_callbacks, []
        for callback in callbacks:
            callback()

    async def close(self) -> None:
        self._closing = True
        await self._connector.close(answered=not self.lost)
        await self._stop_refresher()
        if self.lost:
            # Nothing answers HCI commands any more: a disconnect or reset would wait forever.
            if self._transport is not None:
                await self._transport.close()
            return
        for connection in list(self.device.connections.values()):
            try:
                # Bounded: Bumble waits for the controller's answer without a deadline.
                async with asyncio.timeout(CLOSE_DISCONNECT_TIMEOUT_S):
                    await connection.disconnect()
            except Exception:  # closing anyway: a link that fails to close is dropped with it
                logger.debug("disconnect of %s failed while closing", connection, exc_info=True)
        try:
            await self.device.power_off()
        finally:
            if self._transport is not None:
                await self._transport.close()

    # --- scanning ---------------------------------------------------------------------------

    async def add_listener(self, listener: AdvertisementListener) -> None:
        async with self._scan_lock:
            self._listeners.append(listener)
            if not self.device.is_scanning:
                await self._start_scanning()
                self._refresher = asyncio.create_task(
                    self._refresh_forever(), name=f"{self.device.name}-scan-refresh"
                )

    async def remove_listener(self, listener: AdvertisementListener) -> None:
        async with self._scan_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if not self._listeners and self.device.is_scanning:
                await self._stop_refresher()
                await self.device.stop_scanning()

    async def _start_scanning(self) -> None:
        # Active: wearables put their name in the scan response. The controller's duplicate
        # filter keeps every advertisement after an advertiser's first (and its scan response)
        # off the HCI link until the next period: without it, each scanning controller reports
        # every advertisement of every device, and connection events queue behind them.
        await self.device.start_scanning(active=True, filter_duplicates=True)

    async def _refresh_forever(self) -> None:
        """Start the scan afresh each period, which empties the controller's duplicate filter."""
        while not self.lost:
            await asyncio.sleep(self._duplicate_period_s)
            if self.lost or not self._listeners:
                return  # a gone controller answers no command
            try:
                await self._restart_scan()
            except Exception:  # the next period tries again
                # A controller gone while answering is said once, by the loss itself.
                if not self.lost:
                    logger.warning("restarting the scan failed", exc_info=True)

    async def _restart_scan(self) -> None:
        """Scan afresh if scanning (the controller's duplicate filter starts empty)."""
        async with self._scan_lock:
            if self._listeners and not self.lost:
                if self.device.is_scanning:
                    await self.device.stop_scanning()
                await self._start_scanning()

    async def _stop_refresher(self) -> None:
        refresher, self._refresher = self._refresher, None
        if refresher is not None and refresher is not asyncio.current_task():
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self._addresses[advertisement.address.to_string(False)] = advertisement.address
        for listener in list(self._listeners):
            try:
                listener(advertisement)
            except Exception:  # one broken scanner callback must not starve the others
                logger.exception("advertisement listener failed")

    # --- connections ------------------------------------------------------------------------

    def address_for(self, text: str) -> hci.Address:
        """The typed address last heard for `text`; a random address if never heard."""
        plain = text.removesuffix("/P")
        if known := self._addresses.get(plain):
            return known
        kind = (
            hci.Address.PUBLIC_DEVICE_ADDRESS
            if text.endswith("/P")
            else hci.Address.RANDOM_DEVICE_ADDRESS
        )
        return hci.Address(plain, kind)

    async def connect(self, address: hci.Address, timeout: float) -> Connection:  # noqa: ASYNC109
        """Connect as central, with every other device waiting on this controller, through its
        filter accept list (gateway/ble/accept_list.py). `address` is the one the device was
        heard under: a device that advertises resolvable private addresses is connected under
        the one it uses now, and Bumble resolves it to its identity once linked.

        Raises TimeoutError when the device is not there, BumbleConnectError when refused.
        """
        try:
            return await self._connector.connect(address, timeout)
        except (TimeoutError, core.TimeoutError):
            raise TimeoutError(
                f"{address.to_string(False)}: no connection within {timeout:g} s"
            ) from None
        except (core.ConnectionError, core.InvalidStateError, hci.HCI_Error) as exc:
            raise BumbleConnectError(
                f"{address.to_string(False)}: connection failed: {exc}"
            ) from exc
