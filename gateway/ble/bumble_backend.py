"""A bleak backend (scanner and client) over a Bumble host, for bleak 3.1's `backend=` hook.

Use it as bleak's own: `BleakScanner(backend=BumbleScanner, bumble_stack=stack)`,
`BleakClient(device, backend=BumbleClient, bumble_stack=stack)`, or through
bleak-retry-connector's `establish_connection(BleakClient, device, name, backend=BumbleClient,
bumble_stack=stack)`, whose extra keyword arguments reach the client. Everything above this
module sees only bleak types, so the gateway runs the same code on BlueZ.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, hci
from bumble.core import UUID, ProtocolError
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt import GATT_DATABASE_HASH_CHARACTERISTIC, Characteristic
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

from gateway.ble.advertisement import parse_advertisement, uuid_from_le_bytes
from gateway.ble.bonds import BondRefusedError
from gateway.ble.bumble_stack import BumbleConnectError, BumbleDeviceDetails, BumbleStack
from gateway.ble.gatt_cache import GattCache
from gateway.ble.gatt_layout import (
    CharacteristicLayout,
    DescriptorLayout,
    GattLayout,
    ServiceLayout,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Bumble stays at the default ATT_MTU of 23 unless asked; 247 lets one notification carry a
# full IMU batch (docs/gatt-profile.md) and is what phones and BlueZ negotiate with wearables.
DEFAULT_MTU = 247
# A GATT request that gets no answer (a peer that ignores it) must not hang the caller forever;
# ATT's own transaction timeout is 30 s (Core Vol 3 F 3.3.3), far longer than a gateway can wait.
DEFAULT_GATT_TIMEOUT_S = 10.0

# A Database Hash is a 128-bit AES-CMAC (Core Vol 3 G 7.3).
_DATABASE_HASH_OCTETS = 16

# The link ends so when the two ends encrypted with different keys (Core Vol 6 B 5.1.3.1).
_MIC_FAILURE = hci.HCI_ErrorCode.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE_ERROR

_PROPERTY_NAMES: tuple[tuple[Characteristic.Properties, str], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


def bleak_uuid(uuid: UUID) -> str:
    """bleak's lower-case 128-bit text for a Bumble UUID (whose `str()` is `UUID-16:2A37 (...)`)."""
    return uuid_from_le_bytes(uuid.to_bytes(force_128=True))


def _stack_from(kwargs: dict[str, Any], device: BLEDevice | str) -> BumbleStack:
    stack = kwargs.get("bumble_stack")
    if (
        stack is None
        and isinstance(device, BLEDevice)
        and isinstance(device.details, BumbleDeviceDetails)
    ):
        stack = device.details.stack
    if not isinstance(stack, BumbleStack):
        raise BleakError("the Bumble backend needs bumble_stack=<BumbleStack>")
    return stack


class BumbleScanner(BaseBleakScanner):
    """Turns the shared stack's advertisements into bleak's BLEDevice and AdvertisementData."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._stack = _stack_from(kwargs, "")
        del scanning_mode  # the stack always scans actively: names come in scan responses

    async def start(self) -> None:
        self.seen_devices = {}
        await self._stack.add_listener(self._on_advertisement)

    async def stop(self) -> None:
        await self._stack.remove_listener(self._on_advertisement)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        # `data` is the advertisement merged with its scan response; `data_bytes` is one PDU.
        parsed = parse_advertisement(bytes(advertisement.data))
        if not self.is_allowed_uuid(parsed.service_uuids):
            return
        address = advertisement.address.to_string(False)
        # An advertisement without its scan response lacks the name: keep what was heard before,
        # as BlueZ does, rather than forget a device's name every other report.
        previous = self.seen_devices.get(address)
        name = parsed.local_name or (previous[1].local_name if previous else None)
        uuids = list(previous[1].service_uuids) if previous else []
        uuids += [uuid for uuid in parsed.service_uuids if uuid not in uuids]
        data = AdvertisementData(
            local_name=name,
            manufacturer_data=parsed.manufacturer_data,
            service_data=parsed.service_data,
            service_uuids=uuids,
            tx_power=parsed.tx_power,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(
            address, address, name, BumbleDeviceDetails(advertisement.address, self._stack), data
        )
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """A GATT client on one Bumble LE connection, speaking bleak's backend interface."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._stack = _stack_from(kwargs, address_or_ble_device)
        self._device_name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._wanted_services = services
        # Layouts by Database Hash, shared with every client of the gateway; None: discover
        # every server on every connection.
        gatt_cache = kwargs.get("gatt_cache")
        self._gatt_cache = gatt_cache if isinstance(gatt_cache, GattCache) else None
        # Whether the caller encrypts the link with a bond once connected (`pair`): only such
        # a link may teach the cache a layout, so only such a device waits for one.
        self._bonding = bool(kwargs.get("bonding", False))
        # A layout discovered on this link under the Database Hash it reported, until the link
        # is encrypted with a bond and the cache has been offered it.
        self._candidate: tuple[bytes, GattLayout] | None = None
        # The hash this client told the cache it is learning, so that others wait for it.
        self._claimed: bytes | None = None
        self._mtu = int(kwargs.get("mtu", DEFAULT_MTU))
        self._gatt_timeout = float(kwargs.get("gatt_timeout", DEFAULT_GATT_TIMEOUT_S))
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        # One Bumble subscriber per characteristic handle: subscribing twice must replace, not
        # add, or every notification would reach the application twice.
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        # Why the last link ended (an HCI error code), to tell a refused bond from a lost link.
        self._disconnect_reason: int | None = None

    @property
    def name(self) -> str:
        return self._device_name or self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = float(kwargs.get("timeout", self._timeout))
        self._bonding = self._bonding or pair
        address = self._stack.address_for(self.address)
        try:
            connection = await self._stack.connect(address, timeout)
        except BumbleConnectError as exc:
            raise BleakError(str(exc)) from exc
        self._connection = connection
        self._peer = Peer(connection)
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            async with asyncio.timeout(timeout):
                if self._mtu > att.ATT_DEFAULT_MTU:
                    await self._gatt("MTU exchange", self._peer.request_mtu(self._mtu))
                if pair:
                    await self.pair()
                self.services = await self._discover(self._peer)
        except BaseException:
            # A half-made connection (discovery timed out or failed) is closed, not leaked.
            await self._drop()
            raise

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        """The server's services: from the GATT cache when the server reports a Database Hash
        the cache knows, else discovered. A bonding device whose hash another one is learning
        waits for that; one that learns it discovers everything (the hash covers it all) and
        offers the layout once its link is encrypted with the bond (`_learn_once_bonded`)."""
        cache = self._gatt_cache
        digest = await self._database_hash(peer) if cache is not None else None
        if cache is None or digest is None or cache.untrusted(digest):
            return self._install(peer, await self._discover_layout(peer, self._wanted_services))
        layout = cache.get(digest)
        if layout is None and not self._bonding:  # it would never prove itself: what is used
            return self._install(peer, await self._discover_layout(peer, self._wanted_services))
        if layout is None and not self._claim(digest):
            layout = await cache.learned(digest)  # another device of the model is learning it
            if layout is None:  # its learner gave up, or is slow
                self._claim(digest)
        if layout is None:
            layout = await self._discover_layout(peer, None)
            self._candidate = (digest, layout)
            await self._learn_once_bonded()
        return self._install(peer, layout)

    async def _learn_once_bonded(self) -> None:
        """Offer the layout discovered on this link to the cache once the link is encrypted
        with a bond: a device posing under a bonded device's address cannot encrypt, so it
        cannot put a layout of its making before the genuine devices of a model."""
        connection, candidate, cache = self._connection, self._candidate, self._gatt_cache
        if candidate is None or cache is None or connection is None:
            return
        if not connection.is_encrypted:
            return
        self._candidate = self._claimed = None
        await cache.learn(*candidate)

    def _claim(self, digest: bytes) -> bool:
        """Tell the cache this client learns `digest`, unless another one does."""
        if self._gatt_cache is None or not self._gatt_cache.claim(digest):
            return False
        self._claimed = digest
        return True

    def _abandon_claim(self) -> None:
        claimed, self._claimed = self._claimed, None
        if claimed is not None and self._gatt_cache is not None:
            self._gatt_cache.abandon(claimed)

    async def _database_hash(self, peer: Peer) -> bytes | None:
        """The server's Database Hash, in one request; None when it serves none."""
        response = await self._gatt(
            "database hash read",
            peer.gatt_client.send_request(
                att.ATT_Read_By_Type_Request(
                    starting_handle=0x0001,
                    ending_handle=0xFFFF,
                    attribute_type=GATT_DATABASE_HASH_CHARACTERISTIC,
                )
            ),
        )
        if not isinstance(response, att.ATT_Read_By_Type_Response) or not response.attributes:
            return None  # an error response: the server has no hash (before Core 5.1)
        value: bytes = response.attributes[0][1]
        return value if len(value) == _DATABASE_HASH_OCTETS else None

    async def _discover_layout(self, peer: Peer, wanted: set[str] | None) -> GattLayout:
        """Discover the server's services (only `wanted` ones, unless None), their
        characteristics and descriptors."""
        services: list[ServiceLayout] = []
        # Bumble's discover_services(uuids) ignores its argument, so the filter is applied here.
        for service in await self._gatt("service discovery", peer.discover_services()):
            if wanted and bleak_uuid(service.uuid) not in wanted:
                continue
            characteristics: list[CharacteristicLayout] = []
            for proxy in await self._gatt(
                "characteristic discovery", service.discover_characteristics()
            ):
                descriptors = await self._gatt("descriptor discovery", proxy.discover_descriptors())
                characteristics.append(
                    CharacteristicLayout(
                        proxy.handle,
                        proxy.end_group_handle,
                        proxy.uuid.to_bytes(),
                        int(proxy.properties),
                        tuple(DescriptorLayout(d.handle, d.type.to_bytes()) for d in descriptors),
                    )
                )
            services.append(
                ServiceLayout(
                    service.handle,
                    service.end_group_handle,
                    service.uuid.to_bytes(),
                    tuple(characteristics),
                )
            )
        return GattLayout(tuple(services))

    def _install(self, peer: Peer, layout: GattLayout) -> BleakGATTServiceCollection:
        """Give Bumble's client the layout's proxies (with their descriptors marked known, so
        that subscribing does not discover them again) and bleak the wanted services."""
        client = peer.gatt_client
        collection = BleakGATTServiceCollection()
        proxies: list[ServiceProxy] = []
        for service in layout.services:
            service_proxy = ServiceProxy(  # type: ignore[no-untyped-call]
                client, service.handle, service.end_handle, UUID.from_bytes(service.uuid), True
            )
            proxies.append(service_proxy)
            characteristic_proxies: list[CharacteristicProxy[bytes]] = []
            for spec in service.characteristics:
                proxy = CharacteristicProxy[bytes](
                    client, spec.handle, spec.end_handle, UUID.from_bytes(spec.uuid),
                    spec.properties,
                )  # fmt: skip
                proxy.descriptors = [
                    DescriptorProxy(client, d.handle, UUID.from_bytes(d.uuid))
                    for d in spec.descriptors
                ]
                proxy.descriptors_discovered = True
                characteristic_proxies.append(proxy)
            service_proxy.characteristics = characteristic_proxies
            service_uuid = bleak_uuid(service_proxy.uuid)
            if self._wanted_services and service_uuid not in self._wanted_services:
                continue
            self._add_service(collection, service_proxy, service_uuid)
        client.services = proxies
        return collection

    def _add_service(
        self, collection: BleakGATTServiceCollection, service: ServiceProxy, uuid: str
    ) -> None:
        bleak_service = BleakGATTService(service, service.handle, uuid)
        collection.add_service(bleak_service)
        for proxy in service.characteristics:
            characteristic = BleakGATTCharacteristic(
                proxy,
                proxy.handle,
                bleak_uuid(proxy.uuid),
                [name for flag, name in _PROPERTY_NAMES if proxy.properties & flag],  # type: ignore[misc]
                lambda: self.mtu_size - 3,
                bleak_service,
            )
            collection.add_characteristic(characteristic)
            for descriptor in proxy.descriptors:
                collection.add_descriptor(
                    BleakGATTDescriptor(
                        descriptor, descriptor.handle, bleak_uuid(descriptor.type), characteristic
                    )
                )

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_gone(*_: object) -> None:
            if not gone.done():
                gone.set_result(None)

        connection.once(connection.EVENT_DISCONNECTION, on_gone)
        try:
            # Bumble's disconnect waits for the controller's answer without a deadline: a link
            # torn down from both ends at once may never get one, and a stop must not hang.
            async with asyncio.timeout(self._gatt_timeout):
                await connection.disconnect()
                await gone
        except Exception:  # the link is going either way; bleak's disconnect does not raise
            logger.debug("%s: disconnect did not complete cleanly", self.address, exc_info=True)
            self._forget()

    async def _drop(self) -> None:
        try:
            await self.disconnect()
        finally:
            self._forget()

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s: disconnected (reason 0x%02X)", self.address, reason)
        self._disconnect_reason = reason
        was_connected = self._connection is not None
        self._forget()
        if was_connected and self._disconnected_callback is not None:
            # Scheduled, as bleak's backends do, so a callback's error cannot break Bumble's
            # event dispatch and the callback may await whatever it likes.
            asyncio.get_running_loop().call_soon(self._disconnected_callback)

    def _forget(self) -> None:
        self._connection = None
        self._peer = None
        self._candidate = None
        self._abandon_claim()
        self._subscribers.clear()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Encrypt the link with the stored bond, or bond now (LE Secure Connections) if there
        is none, as BlueZ's pairing of an already paired device just uses its keys.

        Raises BondRefusedError when the device at a bonded address has no key for us, or
        another one (the link then ends with a MIC failure): it is never paired again here, or
        whoever copies a wearable's address would get the bond.
        """
        del args, kwargs
        try:
            await self._pair()
        except BaseException:
            self._abandon_claim()  # devices waiting for this one's layout go on without it
            raise
        await self._learn_once_bonded()

    async def _pair(self) -> None:
        connection = self._require_connection()
        keystore = self._stack.device.keystore
        bonded = keystore is not None and await keystore.get(str(connection.peer_address))
        self._disconnect_reason = None
        try:
            if bonded:
                await self._gatt("encryption", connection.encrypt())
            else:
                await self._gatt("pairing", connection.pair())
        except BleakError as exc:
            if self._disconnect_reason == _MIC_FAILURE:
                raise BondRefusedError(
                    f"{self.address}: bonded, but the device's key is not this gateway's"
                ) from exc
            raise
        except hci.HCI_Error as exc:
            if exc.error_code == hci.HCI_ErrorCode.PIN_OR_KEY_MISSING_ERROR:
                raise BondRefusedError(
                    f"{self.address}: bonded, but the device has no key for this gateway"
                ) from exc
            raise BleakError(f"{self.address}: encryption failed: {exc}") from exc
        except ProtocolError as exc:
            raise BleakError(f"{self.address}: pairing failed: {exc}") from exc
        if not connection.is_encrypted:
            raise BleakError(f"{self.address}: link not encrypted after pairing")

    async def unpair(self) -> None:
        keystore = self._stack.device.keystore
        if keystore is not None:
            await keystore.delete(self._stack.address_for(self.address).to_string(False))
        await self.disconnect()

    # --- GATT operations -------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        del use_cached, kwargs
        peer = self._require_peer()
        return bytearray(await self._gatt("read", peer.read_value(characteristic.obj)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        del use_cached, kwargs
        peer = self._require_peer()
        return bytearray(await self._gatt("descriptor read", peer.read_value(descriptor.obj)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._gatt(
            "write", peer.write_value(characteristic.obj, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._gatt(
            "descriptor write", peer.write_value(descriptor.obj, bytes(data), with_response=True)
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        del kwargs
        self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        previous = self._subscribers.pop(characteristic.handle, None)
        if previous is not None:
            await self._gatt("unsubscribe", proxy.unsubscribe(previous))

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._gatt("subscribe", proxy.subscribe(on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if subscriber is not None:
            proxy: CharacteristicProxy[bytes] = characteristic.obj
            await self._gatt("unsubscribe", proxy.unsubscribe(subscriber))

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        return self._connection

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def _gatt(self, what: str, operation: Awaitable[T]) -> T:
        """Run one GATT request with a timeout, in bleak's error vocabulary."""
        try:
            async with asyncio.timeout(self._gatt_timeout):
                return await operation
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(int(exc.error_code)) from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our caller is being cancelled: let it be
            # Bumble cancels a pending request when the link drops under it.
            raise BleakError(f"{self.address}: link lost during {what}") from None
        except TimeoutError:
            raise TimeoutError(
                f"{self.address}: no answer to {what} within {self._gatt_timeout:g} s"
            ) from None
