"""Connecting many devices through one controller at once, by its filter accept list.

A controller initiates one LE connection at a time (Core Vol 4 E 7.8.12). Connecting to one
address waits for that device's next advertisement, up to a full advertising interval (100 ms
to over a second on wearables), so a controller connecting sixteen devices one address at a
time spends seconds waiting. With the waiting devices in the controller's filter accept list
and the initiator filter policy set (Core Vol 6 B 4.3.5), one LE Create Connection takes
whichever of them advertises first, as BlueZ's kernel connects its pending devices. The list
cannot change while such a connect is pending (Core Vol 4 E 7.8.16), so a device that starts
waiting is listed when the next link comes up (or at once, cancelling the pending connect, if
no listed device still waits); the list is then brought up to date, only what changed, since
each HCI command is a round trip to the controller. A device that stops waiting stays listed
until then; should it connect, its link is closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from bumble import core, hci
from bumble.device import (
    DEVICE_DEFAULT_CONNECT_SCAN_INTERVAL,
    DEVICE_DEFAULT_CONNECT_SCAN_WINDOW,
    Connection,
    ConnectionParametersPreferences,
    Device,
)

logger = logging.getLogger(__name__)

# Core Vol 4 E 7.8.12/7.8.66: connect to any device of the filter accept list.
_USE_ACCEPT_LIST: Final = 1
# The status of the Connection Complete that follows a cancelled connect (Core Vol 4 E 7.8.13).
_CANCELLED: Final = hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
# After a cancel, the controller's Connection Complete comes within milliseconds; past this, a
# controller that never sends it is taken to have no connect pending, rather than stall every
# connect behind it.
CANCEL_ANSWER_S: Final = 2.0


class AcceptListConnector:
    """Every `connect` waiting on a controller served by one initiator (`_initiate`)."""

    def __init__(self, device: Device, list_size: int) -> None:
        """`list_size`: the controller's filter accept list size (HCI_LE_Read_Filter_Accept_
        List_Size); more devices than that wait their turn, first come first served."""
        self._device = device
        self._list_size = max(1, list_size)
        self._waiting: dict[hci.Address, asyncio.Future[Connection]] = {}
        # What the controller's list holds, as last written; None after a refused write, when
        # nobody knows: the next write clears it first.
        self._listed: list[hci.Address] | None = []
        # Set when a device starts waiting and no listed device still waits: the pending
        # connect is cancelled and the list brought up to date. While a listed device waits,
        # a newcomer waits for the next link instead: one comes within an advertising
        # interval, and a cancel and rewrite for every newcomer would leave the controller
        # not connecting for most of the time.
        self._changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, device: Device) -> AcceptListConnector:
        response = await device.send_sync_command(hci.HCI_LE_Read_Filter_Accept_List_Size_Command())
        return cls(device, response.filter_accept_list_size)

    async def connect(self, address: hci.Address, timeout: float) -> Connection:  # noqa: ASYNC109
        """The LE link to `address`, as central. Raises TimeoutError when the device is not
        heard within `timeout`, core.ConnectionError when the controller refuses it."""
        if address in self._waiting:
            raise core.InvalidStateError(f"{address.to_string(False)}: already connecting")
        connected = asyncio.get_running_loop().create_future()
        self._waiting[address] = connected
        if not self._listed_and_waiting():
            self._changed.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(
                self._run(), name=f"{self._device.name}-accept-list-connect"
            )
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(connected)
        finally:
            if self._waiting.get(address) is connected:
                del self._waiting[address]
                if not self._waiting:
                    self._changed.set()  # nobody waits: the pending connect is cancelled
            if not connected.done():
                connected.cancel()

    def _listed_and_waiting(self) -> int:
        """How many of the listed devices still wait (the others leave at the next write)."""
        return sum(address in self._waiting for address in self._listed or ())

    async def close(self, *, answered: bool = True) -> None:
        """Fail every waiting connect and end the pending one. `answered`: whether the
        controller still answers; a gone one is not asked to cancel (it would never say so)."""
        self._fail(list(self._waiting), core.InvalidStateError("the controller is closing"))
        self._changed.set()
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if answered:
            # The runner cancels the pending connect itself, so that no link completes after
            # Bumble has been told nobody is connecting.
            await asyncio.wait({runner}, timeout=CANCEL_ANSWER_S + 1.0)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while self._waiting:
                self._changed.clear()
                batch = list(self._waiting)[: self._list_size]
                try:
                    await self._write_list(batch)
                    await self._initiate()
                except (core.BaseBumbleError, hci.HCI_Error) as exc:
                    # The controller refused: every device of this round hears why.
                    self._listed = None
                    self._fail(batch, exc)
        except Exception as exc:  # the next connect starts another runner
            logger.exception("connecting through the filter accept list failed")
            self._listed = None
            self._fail(list(self._waiting), core.InvalidStateError(f"connecting failed: {exc}"))

    def _fail(self, addresses: list[hci.Address], error: Exception) -> None:
        """End the connects to `addresses` with `error`."""
        for address in addresses:
            waiter = self._waiting.pop(address, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    async def _write_list(self, batch: list[hci.Address]) -> None:
        """Bring the controller's list to `batch`, removing and adding only what changed."""
        if self._listed is None:
            await self._device.send_sync_command(hci.HCI_LE_Clear_Filter_Accept_List_Command())
            self._listed = []
        for address in [a for a in self._listed if a not in batch]:
            self._listed.remove(address)
            await self._device.send_sync_command(
                hci.HCI_LE_Remove_Device_From_Filter_Accept_List_Command(
                    address_type=address.address_type, address=address
                )
            )
        for address in [a for a in batch if a not in self._listed]:
            await self._device.send_sync_command(
                hci.HCI_LE_Add_Device_To_Filter_Accept_List_Command(
                    address_type=address.address_type, address=address
                )
            )
            self._listed.append(address)

    async def _initiate(self) -> None:
        """One LE Create Connection over the list, until a link comes up, the attempt fails or
        the waiting devices change (then cancelled)."""
        device = self._device
        outcome: asyncio.Future[Connection | core.ConnectionError] = (
            asyncio.get_running_loop().create_future()
        )

        def on_connection(connection: Connection) -> None:
            if connection.role == hci.Role.CENTRAL and not outcome.done():
                outcome.set_result(connection)

        def on_failure(error: core.ConnectionError) -> None:
            if not outcome.done():
                outcome.set_result(error)

        device.on(device.EVENT_CONNECTION, on_connection)
        device.on(device.EVENT_CONNECTION_FAILURE, on_failure)
        # Bumble's own connect sets these; its handler of the Connection Complete needs them.
        device.connect_own_address_type = hci.OwnAddressType.RANDOM
        device.le_connecting = True
        try:
            await device.send_async_command(self._create_connection())
            changed = asyncio.ensure_future(self._changed.wait())
            either: set[asyncio.Future[Any]] = {outcome, changed}
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
            if not outcome.done():
                # Refused (Command Disallowed) when a link has just come up: its Connection
                # Complete is on its way, as the cancel's own would be.
                await device.send_sync_command_raw(hci.HCI_LE_Create_Connection_Cancel_Command())
                try:
                    async with asyncio.timeout(CANCEL_ANSWER_S):
                        await asyncio.shield(outcome)
                except TimeoutError:
                    logger.warning("no Connection Complete after a cancelled connect")
                    return
        finally:
            device.remove_listener(device.EVENT_CONNECTION, on_connection)
            device.remove_listener(device.EVENT_CONNECTION_FAILURE, on_failure)
            device.le_connecting = False
            device.connect_own_address_type = None
        self._settle(outcome.result())

    def _settle(self, result: Connection | core.ConnectionError) -> None:
        if isinstance(result, Connection):
            # Listed under the address it advertised: its identity's once Bumble resolved it.
            heard = result.peer_resolvable_address or result.peer_address
            waiter = self._waiting.pop(heard, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(result)
                return
            # Its waiter gave up while the link was being made: nobody will use it.
            logger.debug("%s: link up after its connect gave up; closing", result.peer_address)
            asyncio.get_running_loop().create_task(result.disconnect())
            return
        if result.error_code == _CANCELLED:
            return
        failed = self._waiting.pop(result.peer_address, None) if result.peer_address else None
        if failed is not None and not failed.done():
            failed.set_exception(result)

    def _create_connection(self) -> hci.HCI_AsyncCommand:
        preferences = ConnectionParametersPreferences.default
        if self._device.host.supports_command(hci.HCI_LE_EXTENDED_CREATE_CONNECTION_COMMAND):
            return hci.HCI_LE_Extended_Create_Connection_Command(
                initiator_filter_policy=_USE_ACCEPT_LIST,
                own_address_type=hci.OwnAddressType.RANDOM,
                peer_address_type=hci.Address.RANDOM_DEVICE_ADDRESS,
                peer_address=hci.Address.ANY_RANDOM,  # ignored with the accept list
                initiating_phys=hci.phy_list_to_bits([hci.HCI_LE_1M_PHY]),
                scan_intervals=(int(DEVICE_DEFAULT_CONNECT_SCAN_INTERVAL / 0.625),),
                scan_windows=(int(DEVICE_DEFAULT_CONNECT_SCAN_WINDOW / 0.625),),
                connection_interval_mins=(int(preferences.connection_interval_min / 1.25),),
                connection_interval_maxs=(int(preferences.connection_interval_max / 1.25),),
                max_latencies=(preferences.max_latency,),
                supervision_timeouts=(int(preferences.supervision_timeout / 10),),
                min_ce_lengths=(int(preferences.min_ce_length / 0.625),),
                max_ce_lengths=(int(preferences.max_ce_length / 0.625),),
            )
        return hci.HCI_LE_Create_Connection_Command(
            le_scan_interval=int(DEVICE_DEFAULT_CONNECT_SCAN_INTERVAL / 0.625),
            le_scan_window=int(DEVICE_DEFAULT_CONNECT_SCAN_WINDOW / 0.625),
            initiator_filter_policy=_USE_ACCEPT_LIST,
            peer_address_type=hci.Address.RANDOM_DEVICE_ADDRESS,
            peer_address=hci.Address.ANY_RANDOM,
            own_address_type=hci.OwnAddressType.RANDOM,
            connection_interval_min=int(preferences.connection_interval_min / 1.25),
            connection_interval_max=int(preferences.connection_interval_max / 1.25),
            max_latency=preferences.max_latency,
            supervision_timeout=int(preferences.supervision_timeout / 10),
            min_ce_length=int(preferences.min_ce_length / 0.625),
            max_ce_length=int(preferences.max_ce_length / 0.625),
        )
