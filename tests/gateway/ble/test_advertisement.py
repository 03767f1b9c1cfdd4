"""Advertising-data parsing into bleak's shapes, from byte literals."""

from __future__ import annotations

from gateway.ble.advertisement import parse_advertisement, uuid_from_le_bytes

# Flags; incomplete 16-bit list (180D); complete 128-bit list (the Officer Safety service);
# then a scan response with the complete name "BW-Vest-0001".
VEST_ADV = bytes.fromhex(
    "020106" "03020d18" "1107" "00fe5acef10f1ea10d4cfe5a0100e5b1" "0d09" "42572d566573742d30303031"
)  # fmt: skip


def test_vest_advertisement() -> None:
    parsed = parse_advertisement(VEST_ADV)
    assert parsed.local_name == "BW-Vest-0001"
    assert parsed.service_uuids == [
        "0000180d-0000-1000-8000-00805f9b34fb",
        "b1e50001-5afe-4c0d-a11e-0ff1ce5afe00",
    ]


def test_duplicates_are_listed_once() -> None:
    parsed = parse_advertisement(bytes.fromhex("03020d1803030d18050318180f18"))
    assert parsed.service_uuids == [
        "0000180d-0000-1000-8000-00805f9b34fb",
        "00001818-0000-1000-8000-00805f9b34fb",
        "0000180f-0000-1000-8000-00805f9b34fb",
    ]


def test_complete_name_wins_over_shortened() -> None:
    assert parse_advertisement(bytes.fromhex("030842570409425731")).local_name == "BW1"


def test_tx_power_service_and_manufacturer_data() -> None:
    parsed = parse_advertisement(bytes.fromhex("020af805160f1857aa06ff59000102ff"))
    assert parsed.tx_power == -8
    assert parsed.service_data == {"0000180f-0000-1000-8000-00805f9b34fb": bytes.fromhex("57aa")}
    assert parsed.manufacturer_data == {0x0059: bytes.fromhex("0102ff")}


def test_malformed_structures_stop_parsing_without_raising() -> None:
    assert parse_advertisement(bytes.fromhex("0509")).local_name is None  # overruns the end
    assert parse_advertisement(
        bytes.fromhex("03020d18 00 ffff".replace(" ", ""))
    ).service_uuids == ["0000180d-0000-1000-8000-00805f9b34fb"]
    assert parse_advertisement(b"").service_uuids == []


def test_uuid_byte_orders() -> None:
    assert uuid_from_le_bytes(bytes.fromhex("372a")) == "00002a37-0000-1000-8000-00805f9b34fb"
    assert uuid_from_le_bytes(bytes.fromhex("78563412")) == "12345678-0000-1000-8000-00805f9b34fb"
