"""BlueZ adapters watched on D-Bus: an adapter whose object goes (a dongle pulled, a controller
reset that failed) or a bluetoothd that goes is marked lost, as a Bumble adapter is when its
transport ends.

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
    f"type='signal',sender='{DBUS_SERVICE}',interface='{DBUS_SERVICE}',"
    f"member='NameOwnerChanged',arg0='{BLUEZ_SERVICE}'",
)


def adapter_path(name: str) -> str:
    """BlueZ's object path of the adapter named `name` (`hci0`)."""
    return f"/org/bluez/{name}"


class BlueZAdapterWatch:
    """Sets an adapter's event when BlueZ removes the adapter or bluetoothd leaves the bus."""

    def __init__(self, bus: MessageBus, lost: Mapping[str, asyncio.Event]) -> None:
        """`lost`: BlueZ adapter name (`hci0`) -> the event to set when it goes."""
        self._bus = bus
        self._lost = {adapter_path(name): (name, event) for name, event in lost.items()}

    @classmethod
    async def open(cls, lost: Mapping[str, asyncio.Event]) -> BlueZAdapterWatch:
        """Connect to the system bus and start watching the adapters named in `lost`."""
        bus = MessageBus(bus_type=BusType.SYSTEM, auth=get_dbus_authenticator())
        try:
            try:
                await bus.connect()
            except OSError as exc:
                # `bluewatch run` reports an OSError in one line: it should name the bus.
                raise ConnectionError(f"cannot reach BlueZ's system bus (D-Bus): {exc}") from exc
            watch = cls(bus, lost)
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
            if path in self._lost and ADAPTER_INTERFACE in interfaces:
                self._lose(*self._lost[path], "BlueZ removed it")
        elif message.member == "NameOwnerChanged" and message.interface == DBUS_SERVICE:
            name, _, new_owner = message.body
            if name == BLUEZ_SERVICE and not new_owner:
                for adapter, event in self._lost.values():
                    self._lose(adapter, event, "bluetoothd left the system bus")

    @staticmethod
    def _lose(name: str, event: asyncio.Event, why: str) -> None:
        if not event.is_set():
            logger.warning("BlueZ adapter %s: %s", name, why)
            event.set()

    def close(self) -> None:
        self._bus.disconnect()
