"""Advertising data (AD structures, Core Supplement Part A) to bleak's field shapes. Pure."""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass, field

from bleak.uuids import normalize_uuid_str

# AD types (Bluetooth Assigned Numbers 2.3).
_UUID16 = (0x02, 0x03)
_UUID32 = (0x04, 0x05)
_UUID128 = (0x06, 0x07)
_NAMES = (0x09, 0x08)  # complete name preferred over shortened
_TX_POWER = 0x0A
_SERVICE_DATA = {0x16: 2, 0x20: 4, 0x21: 16}
_MANUFACTURER = 0xFF


def uuid_from_le_bytes(data: bytes) -> str:
    """bleak's lower-case 128-bit text for a 2-, 4- or 16-byte little-endian UUID."""
    if len(data) in (2, 4):
        return normalize_uuid_str(data[::-1].hex())
    return str(_uuid.UUID(bytes=data[::-1]))


@dataclass
class ParsedAdvertisement:
    local_name: str | None = None
    service_uuids: list[str] = field(default_factory=list)
    service_data: dict[str, bytes] = field(default_factory=dict)
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    tx_power: int | None = None


def parse_advertisement(data: bytes) -> ParsedAdvertisement:
    """Parse advertising and scan-response bytes (concatenated); stops at a malformed structure.

    Service UUIDs are de-duplicated in first-seen order: a scan response may repeat what the
    advertisement already listed.
    """
    parsed = ParsedAdvertisement()
    names: dict[int, str] = {}
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0 or offset + 1 + length > len(data):
            break  # zero padding, or a structure that overruns: nothing further can be trusted
        ad_type, value = data[offset + 1], data[offset + 2 : offset + 1 + length]
        offset += 1 + length
        if ad_type in (*_UUID16, *_UUID32, *_UUID128):
            size = 2 if ad_type in _UUID16 else 4 if ad_type in _UUID32 else 16
            for start in range(0, len(value) - size + 1, size):
                uuid = uuid_from_le_bytes(value[start : start + size])
                if uuid not in parsed.service_uuids:
                    parsed.service_uuids.append(uuid)
        elif ad_type in _NAMES:
            names.setdefault(ad_type, value.decode("utf-8", errors="replace"))
        elif ad_type == _TX_POWER and len(value) == 1:
            parsed.tx_power = int.from_bytes(value, "little", signed=True)
        elif ad_type in _SERVICE_DATA and len(value) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            parsed.service_data[uuid_from_le_bytes(value[:size])] = value[size:]
        elif ad_type == _MANUFACTURER and len(value) >= 2:
            parsed.manufacturer_data[int.from_bytes(value[:2], "little")] = value[2:]
    parsed.local_name = next((names[t] for t in _NAMES if t in names), None)
    return parsed
