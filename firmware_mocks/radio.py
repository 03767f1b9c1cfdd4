"""The virtual radio: Bumble controllers on one in-process link, and exporting one over HCI.

The simulated firmware owns the virtual radio, so the corrections that Bumble 0.0.236's virtual
controller needs to behave like a real one live here, in `VirtualController` (and one for speed
in its link, `VirtualLink`), each with the behaviour it corrects. The gateway never imports this
module: it reaches the radio either through an in-process HCI pipe that tests wire up, or
through an HCI transport (TCP, UNIX socket) that `export_controller` opens.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass

from bumble import controller as bumble_controller
from bumble import core, hci, ll
from bumble.controller import Controller
from bumble.device import Device
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, PacketParser, Transport

from bumble_mends import QuietHost

logger = logging.getLogger(__name__)

# Every advertiser is heard at a fixed RSSI unless the simulation says otherwise; -60 dBm is a
# wearable a few metres from the vehicle's antenna.
DEFAULT_RSSI_DBM = -60
_Report = hci.HCI_LE_Extended_Advertising_Report_Event.Report
_EventType = hci.HCI_LE_Extended_Advertising_Report_Event.EventType


# HCI LE Set Advertising Parameters: ADV_SCAN_IND (2) and ADV_NONCONN_IND (3) accept no connection.
_NON_CONNECTABLE_LEGACY_TYPES = frozenset({0x02, 0x03})
_EXTENDED_PROPERTIES = hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties
_CONNECTABLE_SET = _EXTENDED_PROPERTIES.CONNECTABLE_ADVERTISING
# LE Create Connection's initiator filter policy: connect to a device of the accept list.
_USE_ACCEPT_LIST = 1


class VirtualController(Controller):
    """Bumble's virtual controller with the corrections a faithful radio needs."""

    def __init__(self, name: str, link: LocalLink, rssi_dbm: int = DEFAULT_RSSI_DBM) -> None:
        super().__init__(name, link=link)
        self.rssi_dbm = rssi_dbm
        # How this controller hears particular advertisers (by address text), when not at the
        # advertiser's own RSSI: a gateway's adapters at different places in the vehicle.
        self.rssi_from: dict[str, int] = {}
        # The advertisers reported since scanning was last enabled (Mend 5's duplicate filter).
        self._reported: set[str] = set()
        # The filter accept list (Mend 6).
        self._accept_list: set[hci.Address] = set()

    # Mend 0 (speed). As for QuietHost: no eager per-packet debug formatting when debug is off.
    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if bumble_controller.logger.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        match packet:
            case hci.HCI_AclDataPacket():
                self.on_hci_acl_data_packet(packet)
            case hci.HCI_Command():
                self.on_hci_command_packet(packet)
            case _:
                super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if bumble_controller.logger.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.host:
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    # Mend 1. Stock LE Create Connection Cancel answers "success" and does nothing: the pending
    # connection stays, the host waits forever for the Connection Complete that must follow a
    # cancel (Core Vol 4 Part E 7.8.13), and every later connect is refused with "command
    # disallowed". Here the pending connect is dropped and completed with status 0x02.
    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        self.send_hci_packet(
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
        )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    # Mend 2. Stock HCI Reset keeps every link, advertiser and scan. A gateway that restarts and
    # attaches again therefore finds its devices still "connected" to its previous incarnation,
    # not advertising, and never sees them. A real controller's reset drops its links (the peers
    # see a supervision timeout); here the peers are told at once.
    def on_hci_reset_command(
        self, command: hci.HCI_Reset_Command
    ) -> hci.HCI_StatusReturnParameters:
        for connection in list(self.le_connections.values()):
            connection.send_ll_control_pdu(
                ll.TerminateInd(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
            )
        self.le_connections.clear()
        self.pending_le_connection = None
        self.le_scan_enable = False
        self.le_legacy_advertiser.stop()
        for advertising_set in self.advertising_sets.values():
            advertising_set.stop()
        self.advertising_sets.clear()
        return super().on_hci_reset_command(command)

    # Mend 3. Stock scanning reports the advertising data twice, once as the advertisement and
    # once as its "scan response", and never delivers the advertiser's real scan response. The
    # merged result lists every service UUID twice and loses the name that devices put in the
    # scan response (31 bytes of advertising data cannot hold a 128-bit UUID and a name). Here
    # the scan response is the advertiser's own, and the RSSI is the advertiser's simulated one.
    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        if self.le_scan_enable:
            self._report_advertisement(pdu)
        # Every controller hears every advertisement: the advertiser is looked up only by one
        # that is connecting, or a fleet's radio costs (devices)^3 per advertising interval.
        advertiser = (
            None if self.pending_le_connection is None else self._advertiser(pdu.advertiser_address)
        )
        pending = self.pending_le_connection
        if (
            pending is not None
            and pending.initiator_filter_policy == _USE_ACCEPT_LIST
            and pdu.advertiser_address in self._accept_list
        ):
            # Mend 6: the connect takes this advertiser, which the stock compares with the
            # command's peer address (ignored under the accept list).
            pending.peer_address = pdu.advertiser_address
            pending.peer_address_type = pdu.advertiser_address.address_type
        if advertiser is not None and not advertiser.connectable_as(pdu.advertiser_address):
            # Mend 4. Stock answers a pending connect with any advertisement it hears. A real
            # controller connects only on a connectable one (Core Vol 6 Part B 4.4.2): a
            # peripheral advertising non-connectably (a Polar sensor held by another central,
            # still broadcasting its heart rate) leaves the connect pending until it times out.
            return
        scanning, self.le_scan_enable = self.le_scan_enable, False
        try:
            # Periodic-advertising sync and pending-connection handling stay Bumble's.
            super().on_advertising_pdu(pdu)
        finally:
            self.le_scan_enable = scanning

    # Mend 6. Stock answers the filter accept list's commands and keeps no list: a connect with
    # the initiator filter policy set (connect whichever listed device advertises first, Core
    # Vol 6 B 4.3.5) never completes. Here the list is kept, and, as a real controller does,
    # not changed while such a connect is pending (Core Vol 4 E 7.8.15-7.8.17).
    def on_hci_le_clear_filter_accept_list_command(
        self, command: hci.HCI_LE_Clear_Filter_Accept_List_Command
    ) -> hci.HCI_StatusReturnParameters:
        if self._accept_list_in_use():
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self._accept_list.clear()
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_add_device_to_filter_accept_list_command(
        self, command: hci.HCI_LE_Add_Device_To_Filter_Accept_List_Command
    ) -> hci.HCI_StatusReturnParameters:
        if self._accept_list_in_use():
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        if len(self._accept_list) >= self.filter_accept_list_size:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.MEMORY_CAPACITY_EXCEEDED_ERROR)
        self._accept_list.add(command.address)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_remove_device_from_filter_accept_list_command(
        self, command: hci.HCI_LE_Remove_Device_From_Filter_Accept_List_Command
    ) -> hci.HCI_StatusReturnParameters:
        if self._accept_list_in_use():
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self._accept_list.discard(command.address)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def _accept_list_in_use(self) -> bool:
        pending = self.pending_le_connection
        return pending is not None and pending.initiator_filter_policy == _USE_ACCEPT_LIST

    # Mend 5. Stock records the host's duplicate filter and ignores it: every advertisement is
    # reported, so a fleet of advertisers floods every scanning host. A real controller with the
    # filter on reports an advertiser (with its scan response) once until scanning is enabled
    # again (Core Vol 4 Part E 7.8.11, 7.8.65), which is when the filter starts empty.
    def on_hci_le_set_scan_enable_command(
        self, command: hci.HCI_LE_Set_Scan_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        if command.le_scan_enable:
            self._reported.clear()
        return super().on_hci_le_set_scan_enable_command(command)

    def on_hci_le_set_extended_scan_enable_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Enable_Command
    ) -> hci.HCI_StatusReturnParameters:
        if command.enable:
            self._reported.clear()
        return super().on_hci_le_set_extended_scan_enable_command(command)

    def _report_advertisement(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        heard_as = pdu.advertiser_address.to_string(False)
        if self.filter_duplicates:
            if heard_as in self._reported:
                return
            self._reported.add(heard_as)
        advertiser = self._advertiser(pdu.advertiser_address)
        rssi = self.rssi_from.get(heard_as, advertiser.rssi_dbm if advertiser else DEFAULT_RSSI_DBM)
        scan_response = advertiser.scan_response_for(pdu.advertiser_address) if advertiser else b""
        reports = [self._report(pdu, _EventType.CONNECTABLE_ADVERTISING, bytes(pdu.data), rssi)]
        if scan_response:
            kind = _EventType.SCAN_RESPONSE | _EventType.CONNECTABLE_ADVERTISING
            reports.append(self._report(pdu, kind, scan_response, rssi))
        for report in reports:
            self.send_hci_packet(hci.HCI_LE_Extended_Advertising_Report_Event([report]))

    @staticmethod
    def _report(pdu: ll.AdvInd | ll.AdvExtInd, kind: int, data: bytes, rssi: int) -> _Report:
        return _Report(
            event_type=kind,
            address_type=pdu.advertiser_address.address_type,
            address=pdu.advertiser_address,
            primary_phy=hci.Phy.LE_1M,
            secondary_phy=hci.Phy.LE_1M,
            advertising_sid=0,
            tx_power=0,
            rssi=rssi,
            periodic_advertising_interval=0,
            direct_address_type=0,
            direct_address=hci.Address.ANY,
            data=data,
        )

    def _advertiser(self, address: hci.Address) -> VirtualController | None:
        for controller in self.link.controllers:
            if isinstance(controller, VirtualController) and controller.advertises_as(address):
                return controller
        return None

    def advertises_as(self, address: hci.Address) -> bool:
        return any(a == address for a in self._advertising_addresses())

    def _advertising_addresses(self) -> Iterator[hci.Address]:
        yield self.le_legacy_advertiser.address
        for advertising_set in self.advertising_sets.values():
            if advertising_set.address is not None:
                yield advertising_set.address

    def connectable_as(self, address: hci.Address) -> bool:
        """Whether this controller's advertising as `address` accepts connections."""
        for advertising_set in self.advertising_sets.values():
            if advertising_set.enabled and advertising_set.address == address:
                parameters = advertising_set.parameters
                return parameters is None or bool(
                    parameters.advertising_event_properties & _CONNECTABLE_SET
                )
        legacy = self.le_legacy_advertiser
        if legacy.enabled and legacy.address == address:
            return legacy.advertising_type not in _NON_CONNECTABLE_LEGACY_TYPES
        return True

    def scan_response_for(self, address: hci.Address) -> bytes:
        for advertising_set in self.advertising_sets.values():
            if advertising_set.enabled and advertising_set.address == address:
                return bytes(advertising_set.scan_response_data)
        if self.le_legacy_advertiser.enabled:
            return bytes(self.le_legacy_advertiser.scan_response_data)
        return b""


class VirtualLink(LocalLink):
    """Bumble's in-process link, delivering advertisements only to controllers that listen.

    Mend 6 (speed). Stock hands every advertising PDU to every other controller on the link,
    which schedules a callback each: a fleet of N devices costs N² callbacks per advertising
    interval (64 vests: about 27,000 a second), nearly all to peripherals' controllers that
    neither scan, connect nor sync, and so drop it. Here a controller gets an advertisement
    only while it scans, has a connection pending or syncs to periodic advertising (the states
    in which Bumble's controller reads one); connection requests still reach every controller.
    """

    def send_advertising_pdu(
        self, sender_controller: Controller, packet: ll.AdvertisingPdu
    ) -> None:
        if not isinstance(packet, ll.AdvInd | ll.AdvExtInd):
            super().send_advertising_pdu(sender_controller, packet)
            return
        loop = asyncio.get_running_loop()
        for controller in self.controllers:
            if controller is not sender_controller and _listens(controller):
                loop.call_soon(controller.on_ll_advertising_pdu, packet)


def _listens(controller: Controller) -> bool:
    """Whether `controller` does anything with an advertisement now (Bumble's
    `Controller.on_advertising_pdu` reads one only in these states)."""
    return bool(
        controller.le_scan_enable
        or controller.pending_le_connection is not None
        or controller.pending_periodic_advertising_syncs
        or controller.established_periodic_advertising_syncs
    )


@dataclass
class ExportedController:
    """A controller on the link whose host is another process, over an HCI transport."""

    controller: VirtualController
    transport: Transport

    async def close(self) -> None:
        await self.transport.close()


class _TcpHost(asyncio.Protocol):
    """The HCI stream of one host connected to a `PluggableController`, H4-framed."""

    def __init__(self, controller: VirtualController, connections: set[asyncio.Transport]):
        self._controller = controller
        self._connections = connections
        self._parser = PacketParser(controller)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._connections.add(transport)
        self._controller.host = _WriteTo(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.clear()

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)


@dataclass
class _WriteTo:
    transport: asyncio.Transport

    def on_packet(self, packet: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(packet)


@dataclass
class PluggableController:
    """A controller served over TCP that can be pulled out like a USB dongle (`unplug`)."""

    controller: VirtualController
    server: asyncio.Server
    port: int
    connections: set[asyncio.Transport]

    @property
    def transport_spec(self) -> str:
        """The gateway's side: a Bumble transport string."""
        return f"tcp-client:127.0.0.1:{self.port}"

    async def unplug(self) -> None:
        """The controller vanishes: its peers lose their links (a supervision timeout, told at
        once), it leaves the radio, and its host's connection closes, so the host sees its
        transport end."""
        controller = self.controller
        for connection in list(controller.le_connections.values()):
            connection.send_ll_control_pdu(
                ll.TerminateInd(hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
            )
        controller.le_connections.clear()
        controller.pending_le_connection = None
        controller.le_scan_enable = False
        if controller in controller.link.controllers:
            controller.link.remove_controller(controller)
        await self.close()

    async def close(self) -> None:
        self.server.close()
        for transport in list(self.connections):
            transport.close()
        self.connections.clear()
        await self.server.wait_closed()


class ConnectionLink(VirtualLink):
    """The virtual link delivering a link's data and control PDUs to the controller that holds
    that link, rather than to the first controller with the receiver's address.

    On air a link is its access address: two controllers of one host under one address (a
    gateway's adapters sharing its identity, gateway/ble/factory.py) each hold their own links.
    LocalLink finds the receiver by address alone, so a vest's answer could reach the wrong one.
    """

    def _holder(self, receiver: hci.Address, sender: hci.Address) -> Controller | None:
        """The controller holding the link, where several share `receiver`'s address; None
        where one alone has it (stock routing finds that one)."""
        sharing = [c for c in self.controllers if c.random_address == receiver]
        if len(sharing) < 2:
            return None
        for controller in sharing:
            for connection in controller.le_connections.values():
                if connection.self_address == receiver and connection.peer_address == sender:
                    return controller
        return None

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        source = sender_controller.random_address
        holder = self._holder(destination_address, source)
        if transport != core.PhysicalTransport.LE or holder is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        asyncio.get_running_loop().call_soon(holder.on_link_acl_data, source, transport, data)

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        holder = self._holder(receiver_address, sender_address)
        if holder is None:
            super().send_ll_control_pdu(sender_address, receiver_address, packet)
            return
        asyncio.get_running_loop().call_soon(holder.on_ll_control_pdu, sender_address, packet)


class VirtualRadio:
    """One virtual BLE link: controllers for simulated devices and for hosts that attach."""

    def __init__(self) -> None:
        self.link = ConnectionLink()  # type: ignore[no-untyped-call]
        self._count = 0

    def controller(
        self, name: str | None = None, rssi_dbm: int = DEFAULT_RSSI_DBM
    ) -> VirtualController:
        self._count += 1
        return VirtualController(name or f"vc{self._count}", self.link, rssi_dbm)

    def device(self, name: str, address: str, rssi_dbm: int = DEFAULT_RSSI_DBM) -> Device:
        """A Bumble device (host + controller) on this link, as firmware or a test peer uses."""
        controller = self.controller(name, rssi_dbm)
        host = QuietHost(controller, AsyncPipeSink(controller))
        return Device(name=name, address=hci.Address(address), host=host)

    def host_pipe(self, name: str = "gateway") -> tuple[VirtualController, AsyncPipeSink]:
        """An HCI (source, sink) pair for a host in this process: the gateway in tests."""
        controller = self.controller(name)
        return controller, AsyncPipeSink(controller)

    async def pluggable(self, name: str, port: int = 0) -> PluggableController:
        """Serve one controller of this link over TCP on loopback (H4, as Bumble's tcp-server),
        to be unplugged at will; port 0 picks a free one."""
        controller = self.controller(name)
        connections: set[asyncio.Transport] = set()
        server = await asyncio.get_running_loop().create_server(
            lambda: _TcpHost(controller, connections), "127.0.0.1", port
        )
        bound = server.sockets[0].getsockname()[1]
        return PluggableController(controller, server, bound, connections)

    async def export(self, spec: str, name: str = "exported") -> ExportedController:
        """Serve one controller of this link over an HCI transport, e.g. `tcp-server:_:9002`."""
        transport = await open_transport(spec)
        controller = self.controller(name)
        controller.host = transport.sink
        transport.source.set_packet_sink(controller)
        return ExportedController(controller, transport)


def random_static_address(rng: random.Random) -> str:
    """A random static device address: the two most significant bits set (Core Vol 6 B 1.3.2.1)."""
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] |= 0xC0
    return ":".join(f"{octet:02X}" for octet in octets)
