"""`QuietHost`: Bumble's host without the debug formatting it does for every HCI packet."""

from __future__ import annotations

import logging

from bumble import hci
from bumble import host as bumble_host
from bumble.host import Host


class QuietHost(Host):
    """Bumble's host without its eager per-packet debug formatting.

    Bumble 0.0.236 formats every HCI packet into a coloured f-string for `logger.debug` even
    when debug logging is off; profiling 20,000 notifications put half of all CPU time there
    (docs/performance.md). With debug logging on (or a snooper), Bumble's own methods are used.
    """

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper or bumble_host.logger.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        match packet:
            case hci.HCI_Event():
                self.on_hci_event_packet(packet)
            case hci.HCI_AclDataPacket():
                self.on_hci_acl_data_packet(packet)
            case _:
                super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper or bumble_host.logger.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.hci_sink:
            self.hci_sink.on_packet(bytes(packet))
