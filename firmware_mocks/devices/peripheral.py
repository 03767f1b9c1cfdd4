"""One simulated wearable on the virtual radio: advertising, connections and notifications."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import HCI_ErrorCode
from bumble.pairing import PairingConfig, PairingDelegate

from firmware_mocks.devices.gatt import DeviceIdentity, GattDatabase
from sensors import DeviceProfile
from sensors.uuids import SIG_BASE_SUFFIX

logger = logging.getLogger(__name__)

# Bluetooth Core Supplement Part A 1.3: LE General Discoverable, BR/EDR not supported.
_FLAGS_LE_GENERAL_NO_BREDR = bytes([0x06])
# 100 ms is a wearable's usual fast-advertising interval (a connection waits for the next
# advertisement, so this bounds connect latency); 20 ms is the minimum the Core allows.
ADVERTISING_INTERVAL_MS = 100.0
DEFAULT_ATT_MTU = 23


def wearable_pairing(connection: Connection) -> PairingConfig:
    """LE Secure Connections with bonding, as a wearable without display or keys offers it:
    Just Works (no MITM protection is possible without I/O), its random static address given
    as its identity so a bonded central finds it again."""
    del connection
    return PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=PairingDelegate(PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
        identity_address_type=PairingConfig.AddressType.RANDOM,
    )


def _uuid_bytes(uuid: str) -> tuple[int, bytes]:
    """The AD type and little-endian bytes that list one service UUID in an advertisement."""
    if uuid.endswith(SIG_BASE_SUFFIX) and uuid.startswith("0000"):
        return (
            AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            int(uuid[4:8], 16).to_bytes(2, "little"),
        )
    return AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, bytes(UUID(uuid))


def advertising_payloads(
    profile: DeviceProfile, name: str, manufacturer_data: tuple[int, bytes] | None = None
) -> tuple[bytes, bytes]:
    """Advertising data (flags and service UUIDs) and scan response (the name, and the
    manufacturer-specific data of a device that broadcasts a reading).

    A 128-bit UUID (18 bytes with its header) and a 16-bit one (4) fit the 31 bytes of legacy
    advertising data with the flags (3); the name and manufacturer data go to the scan response.
    """
    grouped: dict[int, bytes] = {}
    for uuid in sorted(profile.advertised_services):
        ad_type, data = _uuid_bytes(uuid)
        grouped[ad_type] = grouped.get(ad_type, b"") + data
    entries = [(AdvertisingData.FLAGS, _FLAGS_LE_GENERAL_NO_BREDR), *sorted(grouped.items())]
    advertising = bytes(AdvertisingData(entries))
    response = [(AdvertisingData.COMPLETE_LOCAL_NAME, name.encode())]
    if manufacturer_data is not None:
        company, data = manufacturer_data
        response.append(
            (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, company.to_bytes(2, "little") + data)
        )
    return advertising, bytes(AdvertisingData(response))


class Peripheral:
    """A Bumble device serving one profile's GATT database, advertising while unconnected."""

    def __init__(
        self,
        device: Device,
        profile: DeviceProfile,
        identity: DeviceIdentity,
        advertising_interval_ms: float = ADVERTISING_INTERVAL_MS,
    ) -> None:
        self.device = device
        self.advertising_interval_ms = advertising_interval_ms
        self.profile = profile
        self.gatt = GattDatabase(profile, identity, device.gatt_server.make_descriptor_value)
        self.name = device.name
        self.address = str(device.random_address)
        self._online = False
        self.connections: set[Connection] = set()
        # Set at the first connection: lets a fleet hold its scenario until a gateway listens.
        self.first_connected = asyncio.Event()
        for service in self.gatt.services:
            device.add_service(service)
        device.advertising_data, device.scan_response_data = advertising_payloads(
            profile, device.name
        )
        # Bonds are kept in the device's key store for the life of the process, as a wearable
        # keeps them in flash across power cycles.
        device.pairing_config_factory = wearable_pairing
        device.on(device.EVENT_CONNECTION, self._on_connection)

    @property
    def online(self) -> bool:
        return self._online

    @property
    def att_mtu(self) -> int:
        """The smallest ATT_MTU among current links (what one notification must fit)."""
        return min((c.att_mtu for c in self.connections), default=DEFAULT_ATT_MTU)

    async def power_on(self) -> None:
        await self.device.power_on()
        await self.go_online()

    async def go_online(self) -> None:
        self._online = True
        await self._advertise()

    async def go_offline(self) -> None:
        """Power off or drop out: links end, advertising stops, until `go_online`."""
        self._online = False
        if self.device.is_advertising:
            await self.device.stop_advertising()
        for connection in list(self.connections):
            try:
                await connection.disconnect(
                    HCI_ErrorCode.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
                )
            except Exception:  # a link that is already going is gone either way
                logger.debug("%s: disconnect of %s failed", self.name, connection, exc_info=True)

    def rebooted(self) -> None:
        """The unit booted again (after a power cycle): what its firmware keeps restarts. A
        plain peripheral keeps nothing; a sensor with a clock of its own resets it."""

    async def set_manufacturer_data(self, company: int, data: bytes) -> None:
        """Broadcast `data` under `company` from now on (a reading readable without a link)."""
        device = self.device
        device.advertising_data, device.scan_response_data = advertising_payloads(
            self.profile, self.name, (company, data)
        )
        if device.is_advertising:  # restarting is how legacy advertising takes new data
            await device.start_advertising(
                advertising_interval_min=self.advertising_interval_ms,
                advertising_interval_max=self.advertising_interval_ms,
            )

    async def notify(self, uuid: str, value: bytes) -> None:
        """Store the value for reads and send it to every subscribed client."""
        self.gatt.set_value(uuid, value)
        if not self.connections:
            return
        await self.device.notify_subscribers(self.gatt.characteristics[uuid], value)

    async def _advertise(self) -> None:
        if self._online and not self.connections and not self.device.is_advertising:
            await self.device.start_advertising(
                advertising_interval_min=self.advertising_interval_ms,
                advertising_interval_max=self.advertising_interval_ms,
            )

    def _on_connection(self, connection: Connection) -> None:
        self.connections.add(connection)
        self.first_connected.set()
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        self.connections.discard(connection)
        # A wearable advertises again as soon as it is free, so the gateway can find it.
        task = asyncio.get_running_loop().create_task(
            self._advertise(), name=f"{self.name}-advertise"
        )
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s failed", task.get_name(), exc_info=task.exception())
