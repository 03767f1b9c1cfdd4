"""BlueZ adapters watched on D-Bus: an adapter whose object goes (a dongle pulled, a controller
reset that failed) or a bluetoothd that goes is marked lost, as a Bumble adapter is when its
transport ends; a lost adapter whose object bluetoothd adds again (the dongle plugged back in,
bluetoothd restarted) is marked back.

bleak's BlueZ manager tracks the same object tree but offers no callback for an adapter's
removal (only for devices, and only while scanning), so the watch holds its own connection to
the system bus, with dbus-fast as bleak does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from bleak.backends.bluezdbus.utils import get_dbus_authenticator
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

logger = logging.getLogger(__name__)

BLUEZ_SERVICE = "org.bluez"
ADAPTER_INTERFACE = "org.bluez.Adapter1"
OBJECT_MANAGER_INTERFACE = "org.freedesktop.DBus.ObjectManager"
DBUS_SERVICE = "org.freedesktop.DBus"

# Only bluetoothd's own removals count (`sender`: the daemon matches the name's current owner),
# and the name's owner changing: bluetoothd exiting takes every adapter with it, and it sends no
# InterfacesRemoved when it crashes.
MATCH_RULES = (
    f"type='signal',sender='{BLUEZ_SERVICE}',interface='{OBJECT_MANAGER_INTERFACE}',"
    "member='InterfacesRemoved',arg0path='/org/bluez/'",
    f"type='signal',sender='{BLUEZ_SERVICE}',interface='{OBJECT_MANAGER_INTERFACE}',"
    "member='InterfacesAdded',arg0path='/org/bluez/'",
    f"type='signal',sender='{DBUS_SERVICE}',interface='{DBUS_SERVICE}',"
    f"member='NameOwnerChanged',arg0='{BLUEZ_SERVICE}'",
)


def adapter_path(name: str) -> str:
    """BlueZ's object path of the adapter named `name` (`hci0`)."""
    return f"/org/bluez/{name}"


# An adapter's two events: set when it goes (lost), and when it is there again after that (back).
LostAndBack = tuple[asyncio.Event, asyncio.Event]


class BlueZAdapterWatch:
    """Sets an adapter's lost event when BlueZ removes the adapter or bluetoothd leaves the bus,
    and its back event when BlueZ adds a lost adapter again."""

    def __init__(self, bus: MessageBus, adapters: Mapping[str, LostAndBack]) -> None:
        """`adapters`: BlueZ adapter name (`hci0`) -> its lost and back events."""
        self._bus = bus
        self._adapters = {adapter_path(name): (name, *events) for name, events in adapters.items()}

    @classmethod
    async def open(cls, adapters: Mapping[str, LostAndBack]) -> BlueZAdapterWatch:
        """Connect to the system bus and start watching the adapters named in `adapters`."""
        bus = MessageBus(bus_type=BusType.SYSTEM, auth=get_dbus_authenticator())
        try:
            try:
                await bus.connect()
            except OSError as exc:
                # `bluewatch run` reports an OSError in one line: it should name the bus.
                raise ConnectionError(f"cannot reach BlueZ's system bus (D-Bus): {exc}") from exc
            watch = cls(bus, adapters)
            bus.add_message_handler(watch.on_message)
            for rule in MATCH_RULES:
                reply = await bus.call(
                    Message(
                        destination=DBUS_SERVICE,
                        path="/org/freedesktop/DBus",
                        interface=DBUS_SERVICE,
                        member="AddMatch",
                        signature="s",
                        body=[rule],
                    )
                )
                if reply.message_type is MessageType.ERROR:
                    raise ConnectionError(f"D-Bus refused a match rule: {reply.error_name}")
        except BaseException:
            bus.disconnect()
            raise
        return watch

    def on_message(self, message: Message) -> None:
        """dbus-fast's message handler: every message the connection receives passes here."""
        if message.message_type is not MessageType.SIGNAL:
            return
        if message.member == "InterfacesRemoved" and message.interface == OBJECT_MANAGER_INTERFACE:
            path, interfaces = message.body
            if path in self._adapters and ADAPTER_INTERFACE in interfaces:
                name, lost, back = self._adapters[path]
                back.clear()  # gone again before its return was taken up
                self._lose(name, lost, "BlueZ removed it")
        elif message.member == "InterfacesAdded" and message.interface == OBJECT_MANAGER_INTERFACE:
            # The body's second item is a dict of interfaces (with their properties).
            path, interfaces = message.body
            if path in self._adapters and ADAPTER_INTERFACE in interfaces:
                name, lost, back = self._adapters[path]
                if lost.is_set() and not back.is_set():
                    logger.warning("BlueZ adapter %s: BlueZ added it again", name)
                    back.set()
        elif message.member == "NameOwnerChanged" and message.interface == DBUS_SERVICE:
            name, _, new_owner = message.body
            if name == BLUEZ_SERVICE and not new_owner:
                for adapter, lost, _ in self._adapters.values():
                    self._lose(adapter, lost, "bluetoothd left the system bus")

    @staticmethod
    def _lose(name: str, lost: asyncio.Event, why: str) -> None:
        if not lost.is_set():
            logger.warning("BlueZ adapter %s: %s", name, why)
            lost.set()

    def close(self) -> None:
        self._bus.disconnect()
