"""The gateway's bleak backend over Bumble against simulated vests and helmets (real HCI/ATT).

In-process: the devices and the gateway's host share one virtual link; the bytes between them
are real HCI, L2CAP and ATT, exchanged by Bumble's stack on both sides.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bleak_retry_connector import establish_connection
from bumble.gatt import Characteristic, CharacteristicValue, Service

from gateway.ble.bumble_backend import BumbleClient, BumbleScanner
from gateway.ble.bumble_stack import BumbleStack
from sensors import (
    HELMET,
    OFFICER_SAFETY_SERVICE_UUID,
    VEST,
    BatteryLevel,
    DeviceModel,
    DeviceStatus,
    HeartRateMeasurement,
    ImuBatch,
    LocationAndSpeed,
    SafetyEvent,
    SafetyEventKind,
    decode,
    profile_for_services,
)
from tests.integration.ble_fixtures import HELMET_ADDRESS, VEST_ADDRESS, Bench, bench

__all__ = ["bench"]
TIMEOUT_S = 10


def scanner_kwargs(stack: BumbleStack) -> dict[str, Any]:
    return {"backend": BumbleScanner, "bumble_stack": stack}


def client_kwargs(stack: BumbleStack) -> dict[str, Any]:
    return {"backend": BumbleClient, "bumble_stack": stack}


async def find(stack: BumbleStack, address: str) -> Any:
    device = await BleakScanner.find_device_by_address(address, timeout=5, **scanner_kwargs(stack))
    assert device is not None, f"{address} not heard"
    return device


async def test_scan_reports_name_services_rssi_and_kind(bench: Bench) -> None:
    bench.radio.device("Other-HRM", "F3:00:00:00:00:03")  # not powered: never advertises
    async with BleakScanner(
        service_uuids=[OFFICER_SAFETY_SERVICE_UUID], **scanner_kwargs(bench.stack)
    ) as scanner:
        async with asyncio.timeout(TIMEOUT_S):
            while (
                len(
                    named := {
                        a.local_name
                        for _, a in scanner.discovered_devices_and_advertisement_data.values()
                    }
                    - {None}
                )
                < 2
            ):
                await asyncio.sleep(0.05)
        found = scanner.discovered_devices_and_advertisement_data
    assert named == {"BW-Vest-T0001", "BW-Helmet-T0001"}
    vest_device, vest_adv = found[VEST_ADDRESS]
    assert vest_device.name == "BW-Vest-T0001"
    assert vest_adv.rssi == -60
    # Each UUID once, in bleak's spelling, though advertisement and scan response are merged.
    assert sorted(vest_adv.service_uuids) == sorted(VEST.advertised_services)
    assert profile_for_services(vest_adv.service_uuids) is VEST
    assert profile_for_services(found[HELMET_ADDRESS][1].service_uuids) is HELMET


async def test_scan_filter_excludes_other_services(bench: Bench) -> None:
    async with BleakScanner(
        service_uuids=["0000feaa-0000-1000-8000-00805f9b34fb"], **scanner_kwargs(bench.stack)
    ) as scanner:
        await asyncio.sleep(0.5)
        assert scanner.discovered_devices == []


@pytest.mark.parametrize("kind", [DeviceModel.BLUEWATCH_VEST, DeviceModel.BLUEWATCH_HELMET])
async def test_connect_discover_subscribe_decode(bench: Bench, kind: DeviceModel) -> None:
    peripheral = bench.vest if kind is DeviceModel.BLUEWATCH_VEST else bench.helmet
    profile = VEST if kind is DeviceModel.BLUEWATCH_VEST else HELMET
    device = await find(bench.stack, peripheral.address)
    # Bonded: the Officer Safety service is served on an encrypted link only.
    client = await establish_connection(
        BleakClient, device, peripheral.name, pair=True, **client_kwargs(bench.stack)
    )
    try:
        assert client.mtu_size == 247
        discovered = {service.uuid for service in client.services}
        assert {service.uuid for service in profile.services} <= discovered
        for spec in profile.characteristics():
            characteristic = client.services.get_characteristic(spec.uuid)
            assert characteristic is not None, spec.codec.NAME
            assert set(characteristic.properties) == {p.value for p in spec.properties}

        received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        for spec in profile.notified():
            await client.start_notify(
                spec.uuid, lambda c, data: received.put_nowait((c.uuid, bytes(data)))
            )
        sent = [
            BatteryLevel(battery_pct=77),
            ImuBatch(sample_rate_hz=50, first_sample_index=9, samples_g=((0.0, -1.0, 0.02),) * 30),
            SafetyEvent(
                event=SafetyEventKind.IMPACT, sequence=1, device_ticks_ms=5, peak_accel_g=7.5
            ),
        ]
        sent.append(
            HeartRateMeasurement(heart_rate_bpm=71, rr_intervals_s=(0.84,))
            if kind is DeviceModel.BLUEWATCH_VEST
            else LocationAndSpeed(latitude_deg=40.1, longitude_deg=-75.2, speed_mps=1.3)
        )
        for reading in sent:
            await peripheral.notify(reading.UUID, reading.encode())
        async with asyncio.timeout(TIMEOUT_S):
            got = [await received.get() for _ in sent]
        assert [decode(uuid, data) for uuid, data in got] == sent
        # A full 30-sample IMU batch fits one notification at the negotiated MTU.
        assert len(sent[1].encode()) <= client.mtu_size - 3
        assert BatteryLevel.decode(await client.read_gatt_char(BatteryLevel.UUID)).battery_pct == 77
    finally:
        await client.disconnect()


async def test_service_filter_limits_discovery(bench: Bench) -> None:
    device = await find(bench.stack, VEST_ADDRESS)
    async with BleakClient(device, services=["180D"], **client_kwargs(bench.stack)) as client:
        assert [service.uuid for service in client.services] == [
            "0000180d-0000-1000-8000-00805f9b34fb"
        ]


async def test_drop_fires_callback_once_and_reconnect_resubscribes_without_duplicates(
    bench: Bench,
) -> None:
    device = await find(bench.stack, VEST_ADDRESS)
    drops: list[BleakClient] = []
    client = BleakClient(device, disconnected_callback=drops.append, **client_kwargs(bench.stack))
    received: list[bytes] = []

    def on_heart_rate(_: BleakGATTCharacteristic, data: bytearray) -> None:
        received.append(bytes(data))

    reading = HeartRateMeasurement(heart_rate_bpm=90).encode()
    await client.connect()
    await client.start_notify(HeartRateMeasurement.UUID, on_heart_rate)
    await client.start_notify(
        HeartRateMeasurement.UUID, on_heart_rate
    )  # subscribing twice replaces
    await bench.vest.go_offline()
    async with asyncio.timeout(TIMEOUT_S):
        while client.is_connected:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert drops == [client]

    await bench.vest.go_online()
    await client.connect()
    await client.start_notify(HeartRateMeasurement.UUID, on_heart_rate)
    await bench.vest.notify(HeartRateMeasurement.UUID, reading)
    await asyncio.sleep(0.2)
    assert received == [reading]
    await client.disconnect()
    await asyncio.sleep(0.05)
    assert len(drops) == 2  # a requested disconnect is reported too, as BlueZ does


async def test_connect_to_absent_device_times_out_and_radio_stays_usable(bench: Bench) -> None:
    absent = BleakClient("E0:00:00:00:00:0E", timeout=0.5, **client_kwargs(bench.stack))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await absent.connect()
    assert loop.time() - started < 3
    assert not absent.is_connected
    # The cancelled attempt must not block the next one (the controller mend).
    async with BleakClient(
        await find(bench.stack, VEST_ADDRESS), **client_kwargs(bench.stack)
    ) as client:
        assert client.is_connected


async def test_write_to_read_only_characteristic_is_refused(bench: Bench) -> None:
    async with BleakClient(
        await find(bench.stack, VEST_ADDRESS), **client_kwargs(bench.stack)
    ) as client:
        with pytest.raises(BleakGATTProtocolError) as caught:
            await client.write_gatt_char(BatteryLevel.UUID, b"\x01", response=True)
        assert caught.value.code is BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED


async def test_link_drop_during_a_request_raises_bleak_error(bench: Bench) -> None:
    release = asyncio.Event()

    async def slow_read(_: object) -> bytes:
        await release.wait()
        return b"\x01"

    slow = Characteristic(
        "b1e5ff01-5afe-4c0d-a11e-0ff1ce5afe00",
        Characteristic.Properties.READ,
        Characteristic.READABLE,
        CharacteristicValue(read=slow_read),
    )
    device = bench.radio.device("BW-Slow", "F4:00:00:00:00:04")
    device.add_service(Service("b1e5ff00-5afe-4c0d-a11e-0ff1ce5afe00", [slow]))
    await device.power_on()
    await device.start_advertising(advertising_interval_min=20, advertising_interval_max=20)
    async with BleakClient(
        await find(bench.stack, "F4:00:00:00:00:04"), **client_kwargs(bench.stack)
    ) as client:
        read = asyncio.ensure_future(client.read_gatt_char(slow.uuid.to_hex_str()))
        await asyncio.sleep(0.1)
        for connection in list(device.connections.values()):
            await connection.disconnect()
        with pytest.raises(BleakError, match="link lost during read"):
            await read
        release.set()


async def test_just_works_pairing(bench: Bench) -> None:
    device = await find(bench.stack, VEST_ADDRESS)
    async with BleakClient(device, pair=True, **client_kwargs(bench.stack)) as client:
        assert client.is_connected
        (connection,) = bench.vest.connections
        assert connection.is_encrypted


@pytest.mark.parametrize(
    "uuid", [ImuBatch.UUID, SafetyEvent.UUID, DeviceStatus.UUID], ids=["imu", "event", "status"]
)
async def test_officer_safety_is_refused_on_an_unencrypted_link(bench: Bench, uuid: str) -> None:
    """The firmware serves the vendor service only to a bonded, encrypted link: an "I'm OK" or
    motion from it cancels an officer-down pre-alert, so no unpaired central may subscribe."""
    async with BleakClient(
        await find(bench.stack, VEST_ADDRESS), **client_kwargs(bench.stack)
    ) as client:
        with pytest.raises(BleakGATTProtocolError) as subscribing:
            await client.start_notify(uuid, lambda c, data: None)
        assert subscribing.value.code is BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
        if uuid == DeviceStatus.UUID:
            with pytest.raises(BleakGATTProtocolError) as reading:
                await client.read_gatt_char(uuid)
            assert reading.value.code is BleakGATTProtocolErrorCode.INSUFFICIENT_ENCRYPTION
        # What a commodity strap would serve stays open: the Heart Rate Service.
        await client.start_notify(HeartRateMeasurement.UUID, lambda c, data: None)
