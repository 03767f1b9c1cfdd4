"""The bleak edge of a PMD session: carries `PmdSession`'s commands and the sensor's answers.

The order is the 2021 specification's "Prerequisite" diagram (p. 7): the ATT MTU first, then
indications on the control point, then notifications on the data characteristic, then the
session's feature read and commands. Everything the session decides is in
`gateway/ble/pmd_session.py`; this module only moves bytes, waits with a timeout, and logs
each problem the session reports by name.

The MTU is read from the control point's `max_write_without_response_size` (ATT_MTU - 3), which
bleak fills on every backend: BlueZ exchanges the MTU by itself when it connects and exposes it
as the characteristic's `MTU` property (BlueZ 5.62 and later), whereas bleak's `client.mtu_size`
reads 23 on BlueZ until a private `_acquire_mtu()` is called (bleak #1497). Our Bumble backend
exchanges 247 on connect (`gateway/ble/bumble_backend.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from gateway.ble.pmd_session import Action, PmdSession, Problem, ReadFeatures
from sensors.pmd import PMD_CONTROL_POINT_UUID, PMD_DATA_UUID

logger = logging.getLogger(__name__)

# How long a command waits for its indication. The H10 answers within one connection event
# (tens of ms); a sensor that has not answered in 5 s will not.
ANSWER_TIMEOUT_S: Final = 5.0
# How long a stop may take on the way out (shutdown must not hang on a sensor gone silent).
STOP_TIMEOUT_S: Final = 3.0
_ATT_WRITE_HEADER: Final = 3

ProblemHandler = Callable[[Problem], None]


def att_mtu(client: BleakClient) -> int:
    """The link's ATT MTU as bleak reports it on every backend (see the module docstring)."""
    characteristic = client.services.get_characteristic(PMD_CONTROL_POINT_UUID)
    if characteristic is None:
        raise BleakError("the device has no PMD control point")
    return characteristic.max_write_without_response_size + _ATT_WRITE_HEADER


class PmdLink:
    """One connection's PMD session over bleak; `run` until the link ends, `stop` on the way out."""

    def __init__(
        self,
        client: BleakClient,
        session: PmdSession,
        on_data: Callable[[bytes], None],
        on_problem: ProblemHandler,
        *,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self._client = client
        self.session = session
        self._on_data = on_data
        self._on_problem = on_problem
        self._answer_timeout_s = answer_timeout_s
        self._indications: asyncio.Queue[bytes] = asyncio.Queue()
        self._reported = 0

    async def start(self) -> None:
        """MTU check, subscriptions, then the session's handshake (returns when it is done)."""
        actions = self.session.begin(att_mtu(self._client))
        if actions:

            def on_indication(_: BleakGATTCharacteristic, data: bytearray) -> None:
                self._indications.put_nowait(bytes(data))

            def on_data(_: BleakGATTCharacteristic, data: bytearray) -> None:
                self._on_data(bytes(data))

            await self._client.start_notify(PMD_CONTROL_POINT_UUID, on_indication)
            await self._client.start_notify(PMD_DATA_UUID, on_data)
        await self._execute(actions)

    async def follow(self) -> None:
        """Answer what the sensor says unprompted (its stop notices) until cancelled."""
        while True:
            data = await self._indications.get()
            await self._execute(self.session.on_indication(data))

    async def stop(self) -> None:
        """Stop every started stream, waiting a bounded time; never raises for a dead link."""
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await self._execute(self.session.stop())
        except (BleakError, TimeoutError, OSError) as exc:
            logger.info("PMD stop not confirmed: %s", exc)

    def link_lost(self) -> None:
        self.session.on_link_lost()

    async def _execute(self, actions: list[Action]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, ReadFeatures):
                data = await self._client.read_gatt_char(PMD_CONTROL_POINT_UUID)
                pending += self.session.on_features(bytes(data))
            else:
                await self._client.write_gatt_char(
                    PMD_CONTROL_POINT_UUID, action.command.encode(), response=True
                )
                pending += await self._answer()
            self._report()
        self._report()

    async def _answer(self) -> list[Action]:
        """Indications until the pending command is answered (or the answer is overdue)."""
        while True:
            try:
                async with asyncio.timeout(self._answer_timeout_s):
                    data = await self._indications.get()
            except TimeoutError:
                return self.session.on_no_answer()
            actions = self.session.on_indication(data)
            if actions or not self.session.waiting:
                return actions

    def _report(self) -> None:
        problems = self.session.problems
        for problem in problems[self._reported :]:
            self._on_problem(problem)
        self._reported = len(problems)
