"""Connecting through the controller's filter accept list, over the virtual radio.

The gateway's Bumble stack connects every device waiting on a controller with one LE Create
Connection over the accept list (gateway/ble/accept_list.py); the virtual controller keeps the
list as a real one does (firmware_mocks/radio.py, mend 6).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from bumble import hci

from firmware_mocks.devices.peripheral import Peripheral
from firmware_mocks.radio import VirtualController, VirtualRadio
from gateway.ble.bumble_stack import BumbleConnectError, BumbleStack
from sensors import VEST
from tests.integration.ble_fixtures import add_peripheral

TIMEOUT_S = 10.0


@dataclass
class Rig:
    radio: VirtualRadio
    controller: VirtualController
    stack: BumbleStack
    # How many devices the controller's list held at each LE Create Connection.
    listed_at_connect: list[int]


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    radio = VirtualRadio()
    controller, sink = radio.host_pipe()
    listed: list[int] = []
    for name in (
        "on_hci_le_create_connection_command",
        "on_hci_le_extended_create_connection_command",
    ):
        create = getattr(controller, name)

        def noted(
            command: hci.HCI_Command, create: Callable[[hci.HCI_Command], None] = create
        ) -> None:
            listed.append(len(controller._accept_list))
            create(command)

        setattr(controller, name, noted)
    stack = await BumbleStack.attach(controller, sink)
    try:
        yield Rig(radio, controller, stack, listed)
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await stack.close()


async def vests(rig: Rig, count: int, first: int = 0) -> list[Peripheral]:
    return [
        await add_peripheral(rig.radio, VEST, f"BW-Vest-A{i:04d}", f"F1:00:00:00:01:{i:02X}")
        for i in range(first, first + count)
    ]


async def connect_all(rig: Rig, peripherals: list[Peripheral]) -> list[object]:
    return await asyncio.gather(
        *(
            rig.stack.connect(hci.Address(p.address, hci.Address.RANDOM_DEVICE_ADDRESS), TIMEOUT_S)
            for p in peripherals
        ),
        return_exceptions=True,
    )


async def test_devices_waiting_together_are_connected_over_one_list(rig: Rig) -> None:
    peripherals = await vests(rig, 6)
    connections = await connect_all(rig, peripherals)
    for peripheral, connection in zip(peripherals, connections, strict=True):
        assert not isinstance(connection, BaseException), connection
        assert connection.peer_address.to_string(False) == peripheral.address  # type: ignore[attr-defined]
        assert peripheral.connections
    # One connect took whichever of several listed devices advertised first.
    assert max(rig.listed_at_connect) > 1
    assert len(rig.listed_at_connect) < 2 * len(peripherals)


async def test_more_devices_than_the_list_holds_all_connect(rig: Rig) -> None:
    size = rig.controller.filter_accept_list_size
    peripherals = await vests(rig, size + 3)
    connections = await connect_all(rig, peripherals)
    assert not [c for c in connections if isinstance(c, BaseException)]
    assert max(rig.listed_at_connect) == size


async def test_a_device_not_there_times_out_by_name_and_holds_nobody_up(rig: Rig) -> None:
    present = await vests(rig, 2)
    absent = hci.Address("F1:00:00:00:0F:FF", hci.Address.RANDOM_DEVICE_ADDRESS)
    missing = asyncio.create_task(rig.stack.connect(absent, 0.5))
    connections = await connect_all(rig, present)
    assert not [c for c in connections if isinstance(c, BaseException)]
    with pytest.raises(TimeoutError, match=r"F1:00:00:00:0F:FF: no connection within 0\.5 s"):
        await missing
    # Nobody waits any more: no connect is left pending on the controller.
    async with asyncio.timeout(TIMEOUT_S):
        while rig.controller.pending_le_connection is not None:
            await asyncio.sleep(0.01)


async def test_a_device_heard_after_its_connect_gave_up_is_not_left_linked(rig: Rig) -> None:
    (late,) = await vests(rig, 1)
    await late.go_offline()
    address = hci.Address(late.address, hci.Address.RANDOM_DEVICE_ADDRESS)
    with pytest.raises(TimeoutError):
        await rig.stack.connect(address, 0.3)
    await late.go_online()
    (other,) = await vests(rig, 1, first=1)
    await connect_all(rig, [other])  # the list has moved on: the late one is not in it
    await asyncio.sleep(0.5)  # several of its advertising intervals
    assert not late.connections
    assert other.connections


async def test_the_virtual_controller_keeps_the_list_as_a_real_one_does() -> None:
    radio = VirtualRadio()
    controller = radio.controller("c")
    first = hci.Address("F1:00:00:00:00:01", hci.Address.RANDOM_DEVICE_ADDRESS)

    def add(address: hci.Address) -> int:
        command = hci.HCI_LE_Add_Device_To_Filter_Accept_List_Command(
            address_type=address.address_type, address=address
        )
        return int(controller.on_hci_le_add_device_to_filter_accept_list_command(command).status)

    assert add(first) == hci.HCI_ErrorCode.SUCCESS
    for index in range(2, controller.filter_accept_list_size + 1):
        add(hci.Address(f"F1:00:00:00:00:{index:02X}", hci.Address.RANDOM_DEVICE_ADDRESS))
    full = hci.Address("F1:00:00:00:00:FF", hci.Address.RANDOM_DEVICE_ADDRESS)
    assert add(full) == hci.HCI_ErrorCode.MEMORY_CAPACITY_EXCEEDED_ERROR
    # Not while a connect over the list is pending (Core Vol 4 E 7.8.16).
    controller.pending_le_connection = hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=96, le_scan_window=96, initiator_filter_policy=1,
        peer_address_type=1, peer_address=hci.Address.ANY_RANDOM, own_address_type=1,
        connection_interval_min=12, connection_interval_max=24, max_latency=0,
        supervision_timeout=400, min_ce_length=0, max_ce_length=0,
    )  # fmt: skip
    clear = controller.on_hci_le_clear_filter_accept_list_command(
        hci.HCI_LE_Clear_Filter_Accept_List_Command()
    )
    assert clear.status == hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR


async def test_closing_fails_a_waiting_connect_and_leaves_no_connect_pending() -> None:
    """Else a device heard after the close would complete a connect nobody awaits."""
    radio = VirtualRadio()
    controller, sink = radio.host_pipe()
    stack = await BumbleStack.attach(controller, sink)
    absent = hci.Address("F1:00:00:00:0F:FE", hci.Address.RANDOM_DEVICE_ADDRESS)
    waiting = asyncio.create_task(stack.connect(absent, TIMEOUT_S))
    async with asyncio.timeout(TIMEOUT_S):
        while controller.pending_le_connection is None:
            await asyncio.sleep(0.01)
    async with asyncio.timeout(TIMEOUT_S):
        await stack.close()
    with pytest.raises(BumbleConnectError, match="the controller is closing"):
        await waiting
    assert controller.pending_le_connection is None
