"""A mock BlueZ for bleak's BlueZ backend: python-dbusmock's `bluez5` template on a private
system bus, run by a real dbus-daemon, and what the template lacks added from here.

The template adds and removes adapters. Devices are added here rather than by its AddDevice,
whose ManufacturerData and ServiceData are arrays where bluetoothd sends dictionaries (bleak's
scanner fails on them) and whose Connect sets only Connected: here Connect and Disconnect set
ServicesResolved too, as bluetoothd does once discovery ends. It has no advertisement data (a
device's UUIDs and RSSI are set after it is added, which BlueZ reports as a PropertiesChanged,
as for a new advertisement) and no GATT objects: here a GattService1 and a GattCharacteristic1
per characteristic, with ReadValue, StartNotify and StopNotify; a notification is a
PropertiesChanged of "Value", as bluetoothd sends it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dbus
import pytest
from dbusmock.testcase import BusType, PrivateDBus, SpawnedMock

BLUEZ = "org.bluez"
MOCK = "org.freedesktop.DBus.Mock"
BLUEZ_MOCK = "org.bluez.Mock"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
SERVICE = "org.bluez.GattService1"
CHARACTERISTIC = "org.bluez.GattCharacteristic1"

# Python run inside the mock's process (dbusmock's method bodies): `self` is the mock object.
_SET_LINK = (
    "self.UpdateProperties('org.bluez.Device1',"
    " {{'Connected': dbus.Boolean({0}), 'ServicesResolved': dbus.Boolean({0})}})"
)
_READ_VALUE = "ret = self.props['org.bluez.GattCharacteristic1']['Value']"
_SET_NOTIFYING = (
    "self.UpdateProperties('org.bluez.GattCharacteristic1', {{'Notifying': dbus.Boolean({0})}})"
)


@dataclass(frozen=True)
class GattCharacteristic:
    uuid: str
    flags: tuple[str, ...]
    value: bytes = b""


def _bytes(value: bytes) -> dbus.Array:
    return dbus.Array(list(value), signature="y")


class MockBlueZ:
    """The mock bluetoothd's object tree, driven from the test."""

    def __init__(self, bus: dbus.bus.BusConnection, server: SpawnedMock) -> None:
        self._bus = bus
        self.server = server

    def _mock(self, path: str) -> dbus.Interface:
        return dbus.Interface(self._bus.get_object(BLUEZ, path), MOCK)

    def add_adapter(self, name: str) -> str:
        return str(self.server.obj.AddAdapter(name, f"gateway {name}", dbus_interface=BLUEZ_MOCK))

    def discovering(self, adapter: str) -> bool:
        """Whether a scan runs on `adapter` (bleak's scanner has called StartDiscovery)."""
        props = dbus.Interface(self._bus.get_object(BLUEZ, f"/org/bluez/{adapter}"), PROPERTIES)
        return bool(props.Get(ADAPTER, "Discovering"))

    def remove_adapter(self, name: str) -> None:
        """As bluetoothd does when a dongle is pulled: its devices' InterfacesRemoved, then the
        adapter's. (The template's RemoveAdapter leaves the devices, still connected: then
        bleak-retry-connector, which reuses any connected object of the address whatever its
        adapter, would reconnect to the gone adapter's stale object.)"""
        self.server.obj.RemoveAdapterWithDevices(name, dbus_interface=BLUEZ_MOCK)

    def add_device(self, adapter: str, address: str, name: str) -> str:
        """A device `adapter` has found, not yet advertising anything the scanner wants.

        Not the template's AddDevice: it types ManufacturerData and ServiceData as arrays
        (bluetoothd sends dictionaries, and bleak's scanner fails on its InterfacesAdded), and
        its Connect never resolves services."""
        adapter_path = f"/org/bluez/{adapter}"
        path = f"{adapter_path}/dev_{address.replace(':', '_').upper()}"
        props = {
            "Address": address,
            "AddressType": "public",
            "Name": name,
            "Alias": name,
            "Adapter": dbus.ObjectPath(adapter_path),
            "UUIDs": dbus.Array([], signature="s"),
            "Paired": False,
            "Bonded": False,
            "Trusted": False,
            "Blocked": False,
            "Connected": False,
            "ServicesResolved": False,
            "LegacyPairing": False,
            "RSSI": dbus.Int16(-127),
            "ManufacturerData": dbus.Dictionary({}, signature="qv"),
            "ServiceData": dbus.Dictionary({}, signature="sv"),
        }
        methods = [
            ("Connect", "", "", _SET_LINK.format(True)),
            ("Disconnect", "", "", _SET_LINK.format(False)),
        ]
        self._add(path, DEVICE, props, methods)
        return path

    def advertise(self, device_path: str, service_uuids: Sequence[str], rssi: int) -> None:
        """An advertisement heard: BlueZ updates the device's UUIDs and RSSI."""
        self._mock(device_path).UpdateProperties(
            DEVICE,
            {"UUIDs": dbus.Array(service_uuids, signature="s"), "RSSI": dbus.Int16(rssi)},
        )

    def add_service(
        self,
        device_path: str,
        handle: int,
        uuid: str,
        characteristics: Sequence[GattCharacteristic],
    ) -> dict[str, str]:
        """A primary service and its characteristics (handles after the service's); returns
        each characteristic's object path by UUID."""
        service_path = f"{device_path}/service{handle:04x}"
        self._add(
            service_path,
            SERVICE,
            {"UUID": uuid, "Device": dbus.ObjectPath(device_path), "Primary": True},
            [],
        )
        paths: dict[str, str] = {}
        for offset, char in enumerate(characteristics, start=1):
            path = f"{service_path}/char{handle + 2 * offset:04x}"
            props = {
                "UUID": char.uuid,
                "Service": dbus.ObjectPath(service_path),
                "Flags": dbus.Array(char.flags, signature="s"),
                "Value": _bytes(char.value),
                "Notifying": False,
            }
            methods = [
                ("ReadValue", "a{sv}", "ay", _READ_VALUE),
                ("StartNotify", "", "", _SET_NOTIFYING.format(True)),
                ("StopNotify", "", "", _SET_NOTIFYING.format(False)),
            ]
            self._add(path, CHARACTERISTIC, props, methods)
            paths[char.uuid] = path
        return paths

    def drop(self, device_path: str) -> None:
        """The peer ends the link (out of range, switched off)."""
        self._mock(device_path).UpdateProperties(
            DEVICE, {"Connected": dbus.Boolean(False), "ServicesResolved": dbus.Boolean(False)}
        )

    def connections(self) -> int:
        """How many connections the bus has (the mock's, the test's, and the gateway's: bleak's
        manager, the adapter watch, one per connected client)."""
        daemon = dbus.Interface(
            self._bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"),
            "org.freedesktop.DBus",
        )
        return sum(1 for name in daemon.ListNames() if name.startswith(":"))

    def notifying(self, characteristic_path: str) -> bool:
        """Whether a client has subscribed to the characteristic (StartNotify)."""
        props = dbus.Interface(self._bus.get_object(BLUEZ, characteristic_path), PROPERTIES)
        return bool(props.Get(CHARACTERISTIC, "Notifying"))

    def notify(self, characteristic_path: str, value: bytes) -> None:
        self._mock(characteristic_path).UpdateProperties(CHARACTERISTIC, {"Value": _bytes(value)})

    def _add(
        self,
        path: str,
        interface: str,
        props: dict[str, object],
        methods: list[tuple[str, str, str, str]],
    ) -> None:
        self.server.obj.AddObject(path, interface, props, methods, dbus_interface=MOCK)
        # dbusmock leaves InterfacesAdded to the caller (an ObjectManager's own choice).
        self.server.obj.EmitSignal(
            OBJECT_MANAGER,
            "InterfacesAdded",
            "oa{sa{sv}}",
            [
                dbus.ObjectPath(path),
                dbus.Dictionary(
                    {interface: dbus.Dictionary(props, signature="sv")}, signature="sa{sv}"
                ),
            ],
            dbus_interface=MOCK,
        )

    def stop(self) -> None:
        """bluetoothd exits: org.bluez leaves the bus without removing anything."""
        self.server.terminate()


@pytest.fixture
def bluez(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockBlueZ]:
    """A private system bus with the mock bluetoothd on it, and no adapters yet; bleak and the
    gateway reach it through DBUS_SYSTEM_BUS_ADDRESS."""
    # PrivateDBus sets the variable in os.environ itself; this restores it afterwards.
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    with PrivateDBus(BusType.SYSTEM):
        server = SpawnedMock.spawn_with_template("bluez5", bustype=BusType.SYSTEM)
        connection = BusType.SYSTEM.get_connection()
        try:
            yield MockBlueZ(connection, server)
        finally:
            connection.close()
            server.terminate()
