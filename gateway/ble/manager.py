"""The device manager: finds roster devices, keeps them connected and subscribed, grades links.

Only devices on the roster are ever connected (an allowlist): anything else advertising the
vest's or helmet's services is counted and ignored. A roster device is bound to one address:
the roster's, or for a `name_only` entry the first advertiser of its name that connected. Another
advertiser of a bound device's name, or a device at its address that cannot prove the bond, is
never connected in its place: it is counted and logged once as a possible spoof. Devices whose
model serves a service only encrypted are bonded on first use and encrypted on every link
before anything is read from them. Connections go through bleak-retry-connector with a
limited number of connection slots per adapter; devices that were lost get the next free slot
before devices never seen, so an officer's vest comes back first.

With several adapters, every adapter scans, and each device connects through the one with a
free link slot that hears it best (gateway/ble/placement.py). When an adapter goes, its devices'
links are dropped at once and they connect again through the others. When it comes back (see
`Adapter.wait_until_back`), it scans again and takes devices as they are placed: new ones and
those whose link dropped. Devices streaming through another adapter stay there: moving one
costs a disconnect, seconds without its data, to gain only signal or load.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, TypeVar

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from gateway.backoff import BLE_HELD_ELSEWHERE, BLE_RECONNECT, BackoffPolicy
from gateway.ble.bonds import Bindings, BondRefusedError
from gateway.ble.factory import Adapter, BleakFactory
from gateway.ble.link import LinkHealth, LinkState
from gateway.ble.placement import AdapterLoad, Heard, choose_adapter, heard_recently, settled
from gateway.ble.pmd_link import PmdLink
from gateway.ble.pmd_session import PmdSession, Problem, SessionState, StartedStream, WantedStream
from gateway.ble.strangers import PossibleSpoofs, UnknownAdvertisers
from gateway.domain import DeviceRef
from sensors import (
    BroadcastUse,
    Characteristic,
    DeviceProfile,
    DeviceStatus,
    ImuBatch,
    normalize_uuid,
    profile_for_services,
)
from sensors.pmd import PMD_DATA_UUID, MeasurementType
from sensors.profiles import Property

logger = logging.getLogger(__name__)
T = TypeVar("T")

# bleak-retry-connector retries within one call; a few attempts there, then our own backoff.
CONNECT_ATTEMPTS_PER_ROUND = 2
# Connection attempts (connect, discovery, pairing) in progress at once through one adapter.
DEFAULT_CONNECT_SLOTS: Final = 5
# How soon a device that no adapter can take (every one that hears it is full) looks again: a
# slot frees when another device's link drops, which nothing announces to the waiting device.
PLACEMENT_RETRY_S = 0.25
# How often a gone Bumble controller's transport is tried again: a dongle plugged back in is
# used within seconds; trying costs one failed connect or open.
ADAPTER_RETRY = BackoffPolicy(first_s=0.5, cap_s=5.0)


# (device, characteristic uuid, payload, gateway receive time in ns since the epoch)
NotificationHandler = Callable[[DeviceRef, str, bytes, int], None]
# Called when a device's link state changes (connecting -> ok -> stale -> lost and back).
LinkChangeHandler = Callable[[DeviceRef, LinkState], None]
# Link states follow silence, so they are graded on a timer. Once a second: device-lost then
# fires within a second of `lost_after_s`, the resolution the alert rules promise.
LINK_GRADE_INTERVAL_S = 1.0


# How long a removed device's task gets to end after it is cancelled.
REMOVE_WAIT_S = 5.0
# How long releasing a client through a gone BlueZ adapter may take: bluetoothd, or the bus
# when bluetoothd is gone, refuses at once; a bluetoothd that hangs must not hold up failover.
GONE_DISCONNECT_S = 2.0


# (device, manufacturer data after the company identifier, receive time in ns since the epoch)
BroadcastHandler = Callable[[DeviceRef, bytes, int], None]
# A device advertises about ten times a second; its broadcast reading is taken once a second.
BROADCAST_INTERVAL_S = 1.0


def _ignore_link_change(device: DeviceRef, state: LinkState) -> None:
    del device, state


def _ignore_broadcast(device: DeviceRef, data: bytes, received_ns: int) -> None:
    del device, data, received_ns


class PmdSessionError(BleakError):
    """The PMD handshake could not complete on this link (MTU refused, no answer): reconnect."""


class AdapterLostError(BleakError):
    """The adapter went away while a device was connecting through it: try another."""


class PrioritySlots:
    """A semaphore whose waiters are served by priority (lower first), then in arrival order."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def acquire(self, priority: int) -> AsyncIterator[None]:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (priority, next(self._order), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # we were handed a slot as we were cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class AdapterSlots:
    """Connection slots per adapter, each served by priority: a controller connects, and its
    new links discover, pair and subscribe, independently of the others, so one adapter's
    queue must not hold up another's (with one pool for all, four adapters connected no faster
    than one: docs/performance.md)."""

    def __init__(self, adapters: Sequence[str], per_adapter: int) -> None:
        self._slots = {name: PrioritySlots(per_adapter) for name in adapters}

    def acquire(self, adapter: str, priority: int) -> AbstractAsyncContextManager[None]:
        """One of `adapter`'s slots (lower `priority` first), held for the `async with`."""
        return self._slots[adapter].acquire(priority)


@dataclass
class ManagedDevice:
    ref: DeviceRef
    health: LinkHealth
    seen: asyncio.Event = field(default_factory=asyncio.Event)
    # The last advertisement heard of it, by any adapter.
    ble_device: BLEDevice | None = None
    # Each adapter's own view of it: bleak's device (on BlueZ, a D-Bus path under that adapter)
    # and its signal there.
    seen_by: dict[str, BLEDevice] = field(default_factory=dict)
    heard: dict[str, Heard] = field(default_factory=dict)
    # When the first of `heard`'s readings came (None while it is empty).
    first_heard_at: float | None = None
    # The adapter whose link slot it holds (connecting or connected), and the one it last held.
    adapter: str | None = None
    previous_adapter: str | None = None
    # Set when the current link is gone: the peer or the stack said so, or the adapter went.
    link_gone: asyncio.Event | None = None
    client: BleakClient | None = None
    ever_connected: bool = False
    boot_count: int | None = None
    broadcast_at: float | None = None
    pmd: PmdLink | None = None
    # Reads the sensor's unprompted control-point messages while connected.
    follow: asyncio.Task[None] | None = None
    # PMD problems by name (`error_invalid_mtu`, `stopped_by_sensor`, ...), for /metrics.
    pmd_problems: Counter[str] = field(default_factory=Counter)
    # The one address this device is connected at: the roster's, or (name-only roster entry)
    # the first advertiser of its name that connected; None until then.
    address: str | None = None
    # The name it advertises (the roster's, or heard from its address): another advertiser
    # of this name is a possible spoof once the device is bound.
    name: str | None = None

    def __post_init__(self) -> None:
        self.address = None if self.ref.address is None else self.ref.address.upper()
        self.name = self.ref.name

    def recognises(self, address: str, name: str | None) -> bool:
        """Whether an advertiser is this device: at its bound address; or, while a name-only
        device is not bound yet, by its name."""
        if self.address is not None:
            return address == self.address
        return name is not None and name == self.name


class DeviceManager:
    """Runs one supervised task per roster device plus the scanner, until cancelled."""

    def __init__(
        self,
        devices: Sequence[DeviceRef],
        factory: BleakFactory,
        on_notification: NotificationHandler,
        *,
        stale_after_s: float,
        lost_after_s: float,
        max_concurrent_connects: int = DEFAULT_CONNECT_SLOTS,
        clock_ns: Callable[[], int],
        monotonic: Callable[[], float],
        on_link_change: LinkChangeHandler = _ignore_link_change,
        on_broadcast: BroadcastHandler = _ignore_broadcast,
        backoff: BackoffPolicy = BLE_RECONNECT,
        held_elsewhere_backoff: BackoffPolicy = BLE_HELD_ELSEWHERE,
        rng: random.Random | None = None,
        pool: Sequence[DeviceProfile] = (),
        bindings: Bindings | None = None,
    ) -> None:
        """`max_concurrent_connects`: connection attempts in progress at once through each
        adapter. `pool`: the profiles of devices that may be added while running (`add`), so
        that the scanner listens for their models from the start."""
        self._factory = factory
        # Where name-only devices' bindings are kept across restarts (None: for this run only).
        self._bindings = bindings
        self._on_notification = on_notification
        self._on_link_change = on_link_change
        self._on_broadcast = on_broadcast
        self._link_states: dict[str, LinkState] = {}
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._backoff = backoff
        self._held_elsewhere_backoff = held_elsewhere_backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._random = (rng or random.Random()).random  # noqa: S311 - jitter, not secrecy
        self._slots = AdapterSlots([a.name for a in factory.adapters], max_concurrent_connects)
        self._stale_after_s = stale_after_s
        self._lost_after_s = lost_after_s
        self._pool = tuple(pool)
        self._group: asyncio.TaskGroup | None = None
        self.adapters = {adapter.name: adapter for adapter in factory.adapters}
        # Link slots held per adapter, by devices connecting or connected through it.
        self.links: Counter[str] = Counter()
        self.devices = {
            ref.device_id: ManagedDevice(ref, LinkHealth(stale_after_s, lost_after_s))
            for ref in devices
        }
        if bindings is not None:
            for managed in self.devices.values():
                if managed.address is None:
                    managed.address = bindings.addresses.get(managed.ref.device_id)
        self.unknown_advertisers = UnknownAdvertisers()
        # Advertisers posing as a bound roster device (its name at another address, or its
        # address without its bond): address -> the device id they claim to be; bounded as
        # the unknown advertisers are, since a spoofer may change its address at will.
        self.possible_spoofs = PossibleSpoofs()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for adapter in self.adapters.values():
                group.create_task(self._scan(adapter), name=f"ble-scanner-{adapter.name}")
            group.create_task(self._grade_links(), name="link-grader")
            for managed in self.devices.values():
                self._start(group, managed)
            self._group = group
            try:
                await asyncio.Event().wait()  # devices come and go until cancelled
            finally:
                self._group = None

    def _start(self, group: asyncio.TaskGroup, managed: ManagedDevice) -> None:
        device_id = managed.ref.device_id
        self._tasks[device_id] = group.create_task(
            self._keep_connected(managed), name=f"device-{device_id}"
        )

    def add(self, ref: DeviceRef) -> None:
        """Put a device on the roster while running: it is connected as soon as it is heard."""
        if ref.device_id in self.devices:
            raise ValueError(f"{ref.device_id} is already on the roster")
        managed = ManagedDevice(ref, LinkHealth(self._stale_after_s, self._lost_after_s))
        self.devices[ref.device_id] = managed
        if self._group is not None:
            self._start(self._group, managed)
        # Before run(), run() starts it with the others.

    async def remove(self, device_id: str) -> None:
        """Take a device off the roster: stop its streams, disconnect, stop reconnecting.

        A Polar sensor left streaming to nobody drains its battery (polar-ble-sdk
        KnownIssues.md): its PMD streams are stopped before the link is closed.
        """
        managed = self.devices.pop(device_id, None)
        self._link_states.pop(device_id, None)
        task = self._tasks.pop(device_id, None)
        if task is not None:
            task.cancel()
            # Its end (cancelled, or the error it was failing with) is not ours to raise, but
            # its link must be settled before the streams are stopped; bounded, so a BLE call
            # that ignores the cancellation cannot hold the release up for good.
            _, pending = await asyncio.wait({task}, timeout=REMOVE_WAIT_S)
            if pending:
                logger.warning("%s: still settling its link; stopping it anyway", device_id)
        if managed is not None:
            await self._stop_streams(managed)
            await self._disconnect(managed)

    async def _grade_links(self) -> None:
        while True:
            self.grade_links()
            await asyncio.sleep(LINK_GRADE_INTERVAL_S)

    def grade_links(self) -> None:
        """Tell the link-change handler of every device whose state changed since last time."""
        now = self._monotonic()
        for device_id, managed in self.devices.items():
            state = managed.health.state(now)
            if state is self._link_states.get(device_id):
                continue
            self._link_states[device_id] = state
            try:
                self._on_link_change(managed.ref, state)
            except Exception:  # a rule's failure must not stop link grading for the fleet
                logger.exception("%s: link change handler failed", device_id)

    # --- discovery --------------------------------------------------------------------------

    def adapter_loads(self) -> list[AdapterLoad]:
        """Every adapter with the link slots it holds, in configuration order."""
        return [
            AdapterLoad(a.name, self.links[a.name], a.link_limit, not a.lost.is_set())
            for a in self.adapters.values()
        ]

    async def _scan(self, adapter: Adapter) -> None:
        """Scan through one adapter while it is there; when it goes, drop its links, wait for
        it to come back and scan again; until cancelled."""
        while True:
            await self._scan_until_lost(adapter)
            self._on_adapter_lost(adapter)
            await adapter.wait_until_back(lambda n: ADAPTER_RETRY.delay_s(n, self._random))
            logger.warning(
                "adapter %s is back: devices not streaming are placed on it too", adapter.name
            )

    async def _scan_until_lost(self, adapter: Adapter) -> None:
        """Scan through one adapter until it goes."""
        # Only advertisers of the roster's models are reported: a vehicle parked at a gym hears
        # dozens of straps, and the scanner filters them in the controller where it can.
        profiles = [m.ref.profile for m in self.devices.values()] + list(self._pool)
        advertised = sorted({uuid for profile in profiles for uuid in profile.advertised_services})

        def on_advertisement(device: BLEDevice, advertisement: AdvertisementData) -> None:
            self._on_advertisement(adapter.name, device, advertisement)

        scanner = adapter.scanner(detection_callback=on_advertisement, service_uuids=advertised)
        if not adapter.lost.is_set():
            await scanner.start()
            try:
                await adapter.lost.wait()
            except asyncio.CancelledError:
                await scanner.stop()
                raise
        # A gone adapter's scanner is not stopped: nothing would answer the command.

    def _on_adapter_lost(self, adapter: Adapter) -> None:
        moving = [m for m in self.devices.values() if m.adapter == adapter.name]
        logger.error(
            "adapter %s is gone; %d device(s) connect again through the others",
            adapter.name, len(moving),
        )  # fmt: skip
        for managed in self.devices.values():
            # What it heard no longer counts for placement.
            managed.heard.pop(adapter.name, None)
            managed.seen_by.pop(adapter.name, None)
        for managed in moving:
            if managed.link_gone is not None:
                managed.link_gone.set()

    def _on_advertisement(
        self, adapter: str, device: BLEDevice, advertisement: AdvertisementData
    ) -> None:
        address, name = device.address.upper(), advertisement.local_name
        for managed in self.devices.values():
            if managed.recognises(address, name):
                if managed.name is None:
                    managed.name = name
                managed.ble_device = device
                managed.seen_by[adapter] = device
                now = self._monotonic()
                if not managed.heard:
                    managed.first_heard_at = now
                managed.heard[adapter] = Heard(advertisement.rssi, now)
                if managed.adapter in (None, adapter):
                    # The signal of the link it has, or of the best chance of one.
                    managed.health.rssi_dbm = advertisement.rssi
                managed.seen.set()
                self._broadcast(managed, advertisement)
                return
        claimed = next(
            (m for m in self.devices.values() if m.address is not None and name == m.name), None
        )
        if name is not None and claimed is not None:
            self._possible_spoof(address, claimed, f"advertises its name {name!r}")
            return
        if profile_for_services(advertisement.service_uuids) is None:
            return
        # Somebody else's vest (or a spoofer): never connected, but visible in metrics.
        if new := self.unknown_advertisers.hear(device.address, self._monotonic()):
            logger.info(
                "ignoring unknown %s advertising as a wearable (%d new unknown advertiser(s)"
                " since the last such line)",
                device.address,
                new,
            )

    def _possible_spoof(self, address: str, managed: ManagedDevice, how: str) -> None:
        """Count an advertiser posing as `managed`; said once per address, never connected."""
        if not self.possible_spoofs.claim(address, managed.ref.device_id, self._monotonic()):
            return
        logger.warning(
            "%s: possible spoof: %s %s; it is not connected (more are counted, not logged)",
            managed.ref.device_id, address, how,
        )  # fmt: skip

    def _broadcast(self, managed: ManagedDevice, advertisement: AdvertisementData) -> None:
        """Hand on the reading a device broadcasts when its profile says to use it (a CORE's
        core temperature while no link brings it, a Polar sensor's heart rate while another
        central holds it: `BroadcastUse`): once a second at most, as a connected device would
        notify it. The pipeline decodes it (gateway/stand_ins.py)."""
        spec = managed.ref.profile.broadcast
        if spec is None:
            return
        health = managed.health
        wanted = (
            health.held_elsewhere
            if spec.use is BroadcastUse.HELD_ELSEWHERE
            else not health.connected
        )
        if not wanted:
            return
        data = advertisement.manufacturer_data.get(spec.company_id)
        now = self._monotonic()
        if data is None or (
            managed.broadcast_at is not None and now - managed.broadcast_at < BROADCAST_INTERVAL_S
        ):
            return
        managed.broadcast_at = now
        try:
            self._on_broadcast(managed.ref, data, self._clock_ns())
        except Exception:  # the pipeline's failure must not kill the scanner's callback
            logger.exception("%s: broadcast handler failed", managed.ref.device_id)

    # --- connections ------------------------------------------------------------------------

    async def _keep_connected(self, managed: ManagedDevice) -> None:
        attempt = 0
        while True:
            await managed.seen.wait()
            managed.seen.clear()
            now = self._monotonic()
            loads = self.adapter_loads()
            present = [load.name for load in loads if load.present]
            if not settled(managed.heard, present, managed.first_heard_at, now):
                continue  # until heard again (by another adapter, or later)
            name = choose_adapter(managed.heard, loads, now, managed.previous_adapter)
            if name is None:
                if heard_recently(managed.heard, now):
                    await asyncio.sleep(PLACEMENT_RETRY_S)  # for a free slot
                    managed.seen.set()
                continue  # otherwise until it is heard again
            adapter = self.adapters[name]
            # The slot is taken before the first await: two devices cannot both take the last.
            self.links[name] += 1
            managed.adapter = name
            try:
                delay = await self._connect_and_stream(managed, adapter, attempt + 1)
            finally:
                self.links[name] -= 1
                managed.adapter = None
                managed.previous_adapter = name
                managed.link_gone = None
            if delay is None:
                attempt = 0
            else:
                attempt += 1
                await asyncio.sleep(delay)
            if managed.ble_device is not None:
                # Retry the device last heard (or try it again at once after a drop) without
                # waiting to hear it.
                managed.seen.set()

    async def _connect_and_stream(
        self, managed: ManagedDevice, adapter: Adapter, attempt: int
    ) -> float | None:
        """Connect through `adapter` and stream until the link drops; on a failure, the delay
        before the next try."""
        lost = asyncio.Event()
        managed.link_gone = lost
        try:
            priority = 0 if managed.ever_connected else 1
            async with self._slots.acquire(adapter.name, priority):
                client = await self._unless_gone(adapter, self._connect(managed, adapter, lost))
            await self._unless_gone(adapter, self._subscribe(managed, client))
            await self._unless_gone(adapter, self._start_streams(managed, client))
        except AdapterLostError as exc:
            logger.warning("%s: %s; connecting through another", managed.ref.device_id, exc)
            await self._disconnect(managed)
            return 0.0  # not the device's fault: no backoff
        except (BleakError, TimeoutError, OSError) as exc:
            if isinstance(exc, BondRefusedError) and managed.ble_device is not None:
                self._possible_spoof(
                    managed.ble_device.address.upper(), managed, "cannot prove its bond"
                )
            delay = self._retry_delay(managed, exc, attempt)
            await self._disconnect(managed)
            return delay
        if managed.health.held_elsewhere:
            managed.health.held_elsewhere = False
            logger.info("%s: connected; no longer held by another central", managed.ref.device_id)
        if managed.address is None and managed.ble_device is not None:
            self._bind(managed, managed.ble_device.address.upper())
        if managed.ever_connected:
            managed.health.reconnects += 1
        managed.ever_connected = True
        logger.info("%s: connected and subscribed through %s", managed.ref.device_id, adapter.name)
        await self._while_connected(managed, lost)
        # The link is gone, but the client still holds what it opened for it (on BlueZ, a D-Bus
        # connection of its own, kept until disconnect() is called).
        await self._disconnect(managed)
        if managed.pmd is not None:
            managed.pmd.link_lost()
            managed.pmd = None
        logger.warning("%s: disconnected", managed.ref.device_id)
        # What was heard before the link says nothing of where the device is now: it is placed
        # again when next heard, so a device gone for good does not take back its slot from one
        # waiting for it.
        managed.heard.clear()
        managed.first_heard_at = None
        return None

    @staticmethod
    async def _unless_gone(adapter: Adapter, work: Awaitable[T]) -> T:
        """`work`'s result, unless the adapter goes first: then AdapterLostError, `work`
        cancelled (a request to a vanished controller would wait for its full timeout)."""
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(adapter.lost.wait())
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise AdapterLostError(f"adapter {adapter.name} is gone")
        return task.result()

    def _bind(self, managed: ManagedDevice, address: str) -> None:
        """Bind a name-only device to the address it connected at, for good."""
        managed.address = address
        logger.info("%s: bound to %s", managed.ref.device_id, address)
        if self._bindings is not None:
            try:
                self._bindings.bind(managed.ref.device_id, address)
            except OSError:  # bound for this run still; said, not fatal to the device's link
                logger.exception("%s: binding not saved", managed.ref.device_id)

    def _retry_delay(self, managed: ManagedDevice, exc: Exception, attempt: int) -> float:
        """How long to wait after a failed connect; says "held elsewhere" once, not per try.

        A single-connection sensor that advertises yet cannot be connected is held by another
        central: a real Polar sensor keeps broadcasting while connected, but not connectably, so
        the connect attempt times out (polar-ble-sdk #164, #284). Those are retried slowly.
        """
        ref = managed.ref
        connect_failed = not isinstance(exc, PmdSessionError) and managed.client is None
        if ref.profile.single_connection and connect_failed and managed.ble_device is not None:
            delay = self._held_elsewhere_backoff.delay_s(attempt, self._random)
            if not managed.health.held_elsewhere:
                managed.health.held_elsewhere = True
                logger.warning(
                    "%s: advertising but not connectable: another central holds its one "
                    "connection; using its advertised heart rate, retrying every %.0f-%.0f s",
                    ref.device_id, delay, self._held_elsewhere_backoff.cap_s,
                )  # fmt: skip
            return delay
        delay = self._backoff.delay_s(attempt, self._random)
        logger.warning(
            "%s: connect failed (%s); retry %d in %.1f s", ref.device_id, exc, attempt, delay
        )
        return delay

    async def _while_connected(self, managed: ManagedDevice, lost: asyncio.Event) -> None:
        """Wait for the link to drop, answering the sensor's unprompted PMD messages."""
        if managed.pmd is not None:
            managed.follow = asyncio.create_task(
                managed.pmd.follow(), name=f"pmd-{managed.ref.device_id}"
            )
        try:
            await lost.wait()
        finally:
            await self._stop_following(managed)

    @staticmethod
    async def _stop_following(managed: ManagedDevice) -> None:
        follow, managed.follow = managed.follow, None
        if follow is None:
            return
        follow.cancel()
        # The follower's own end (cancelled, or a link error) is not this task's concern.
        await asyncio.gather(follow, return_exceptions=True)

    async def _start_streams(self, managed: ManagedDevice, client: BleakClient) -> None:
        """The PMD session of a device that has one: MTU, subscriptions, start (docs/pmd.md)."""
        ref = managed.ref
        if not ref.pmd_streams:
            return
        wanted = [
            WantedStream(stream.measurement, stream.selection(ref.accelerometer))
            for stream in ref.pmd_streams
        ]

        def on_data(data: bytes) -> None:
            self._deliver(managed, PMD_DATA_UUID, data)

        def on_problem(problem: Problem) -> None:
            managed.pmd_problems[problem.reason] += 1
            logger.warning(
                "%s: PMD %s: %s (%s)",
                ref.device_id, problem.measurement or "session", problem.reason, problem.detail,
            )  # fmt: skip

        link = PmdLink(client, PmdSession(wanted), on_data, on_problem)
        managed.pmd = link
        await link.start()
        if link.session.state is SessionState.FAILED:
            if link.session.started:
                await link.stop()  # what did start must not be left draining the battery
            managed.pmd = None
            raise PmdSessionError(f"PMD session failed: {', '.join(link.session.counts)}")

    async def _stop_streams(self, managed: ManagedDevice) -> None:
        # The follower would read the stop's answers: it goes first.
        await self._stop_following(managed)
        link, managed.pmd = managed.pmd, None
        if link is not None and managed.client is not None and managed.client.is_connected:
            await link.stop()

    def pmd_stream(self, device_id: str, measurement: MeasurementType) -> StartedStream | None:
        """A device's started PMD stream (its settings and FACTOR), for the pipeline."""
        managed = self.devices.get(device_id)
        if managed is None or managed.pmd is None:
            return None
        return managed.pmd.session.started.get(measurement)

    async def _connect(
        self, managed: ManagedDevice, adapter: Adapter, lost: asyncio.Event
    ) -> BleakClient:
        ble_device = managed.seen_by.get(adapter.name)
        if ble_device is None:
            raise AdapterLostError(f"adapter {adapter.name} no longer hears the device")
        client = await establish_connection(
            BleakClient,
            ble_device,
            managed.ref.device_id,
            disconnected_callback=lambda _: lost.set(),
            max_attempts=CONNECT_ATTEMPTS_PER_ROUND,
            services=list(managed.ref.profile.service_uuids),
            **adapter.backend_kwargs(client=True, bonding=managed.ref.profile.bonds),
        )
        managed.client = client
        if managed.ref.profile.bonds:
            # Bond on first use, encrypt with the bond after; nothing is read before.
            await client.pair()
        managed.health.connected = True
        return client

    async def _subscribe(self, managed: ManagedDevice, client: BleakClient) -> None:
        """Subscribe to every notified characteristic, then read what is readable once, of
        those the unit serves that its profile uses (optional services and stand-ins:
        `DeviceProfile.in_use`).

        Subscriptions first: a panic or a heart rate is not held back behind a device's
        information strings (nine reads on a vest), and nothing notified between a read and
        its subscription is missed; a value read after may repeat one just notified."""
        ref = managed.ref
        served = [
            normalize_uuid(characteristic.uuid)
            for service in client.services
            for characteristic in service.characteristics
        ]
        used = ref.profile.in_use(served)

        def on_notification(characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            self._deliver(managed, characteristic.uuid, bytes(data))

        for spec in used:
            if Property.NOTIFY in spec.properties:
                await client.start_notify(spec.uuid, on_notification)
        for spec in used:
            if Property.READ in spec.properties:
                data = await client.read_gatt_char(spec.uuid)
                self._deliver(managed, spec.uuid, bytes(data))

    def _deliver(self, managed: ManagedDevice, uuid: str, data: bytes) -> None:
        managed.health.on_notification(self._monotonic())
        try:
            self._on_notification(managed.ref, uuid, data, self._clock_ns())
        except Exception:  # the pipeline's failure must not kill the BLE stack's callback
            logger.exception("%s: notification handler failed", managed.ref.device_id)

    async def _disconnect(self, managed: ManagedDevice) -> None:
        client, managed.client = managed.client, None
        managed.health.connected = False
        if client is None:
            return
        # The client belongs to the adapter the device holds, or held last. Through a gone
        # adapter the link is already gone: a disconnect only releases the client, and only
        # where something still answers it (BlueZ), within a deadline.
        name = managed.adapter or managed.previous_adapter
        adapter = None if name is None else self.adapters[name]
        gone = adapter is not None and adapter.lost.is_set()
        if gone and not (adapter is not None and adapter.answers_when_lost):
            return
        try:
            async with asyncio.timeout(GONE_DISCONNECT_S if gone else None):
                await client.disconnect()
        except (BleakError, TimeoutError, OSError):
            logger.debug("%s: disconnect failed", managed.ref.device_id, exc_info=True)

    def observe(self, device: DeviceRef, reading: Characteristic, received_ns: int) -> None:
        """Pipeline observer: sample gaps and clock drift from IMU batches, restarts from status."""
        del received_ns
        managed = self.devices.get(device.device_id)
        if managed is None:
            return
        if isinstance(reading, ImuBatch):
            managed.health.on_imu_batch(
                reading.first_sample_index,
                len(reading.samples_g),
                reading.sample_rate_hz,
                self._monotonic(),
            )
        elif isinstance(reading, DeviceStatus):
            if managed.boot_count is not None and reading.boot_count != managed.boot_count:
                logger.warning(
                    "%s: device restarted (boot %d)", device.device_id, reading.boot_count
                )
                managed.health.on_restart()
            managed.boot_count = reading.boot_count

    async def close(self) -> None:
        """Stop every device's PMD streams (a Polar sensor left streaming drains its battery,
        polar-ble-sdk KnownIssues.md), then disconnect."""
        for managed in self.devices.values():
            await self._stop_streams(managed)
            await self._disconnect(managed)
