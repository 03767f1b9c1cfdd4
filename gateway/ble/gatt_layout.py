"""A GATT server's layout (services, characteristics, descriptors and their handles) as data.

A client that knows a server's layout can skip discovery: about twenty ATT round trips per
wearable, each at least one connection interval on air. GATT Caching (Core Vol 3 G 2.5.2, 7.3)
names a layout by its Database Hash, an AES-CMAC over exactly the attributes discovery finds, so
a layout discovered once can be checked against the hash the server reports
(`GattLayout.database_hash`) and then serve every device with the same firmware.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bumble.crypto.cryptography import aes_cmac

# Attribute types the Database Hash covers (Core Vol 3 G 7.3.1), as served: 16-bit, LE.
_PRIMARY_SERVICE: Final = struct.pack("<H", 0x2800)
_CHARACTERISTIC: Final = struct.pack("<H", 0x2803)
_EXTENDED_PROPERTIES: Final = 0x2900
# Descriptors counted by handle and type only; any other type is left out of the hash.
_HASHED_DESCRIPTORS: Final = frozenset({0x2901, 0x2902, 0x2903, 0x2904, 0x2905})
# A UUID is served as 2 or 16 octets (32-bit UUIDs are never on the air in ATT).
_UUID_LENGTHS: Final = (2, 16)


class LayoutError(ValueError):
    """A stored or discovered layout that cannot be right; the message says what and where."""


@dataclass(frozen=True)
class DescriptorLayout:
    handle: int
    uuid: bytes  # the attribute type as served, little-endian


@dataclass(frozen=True)
class CharacteristicLayout:
    """`handle` is the value's; its declaration is the attribute just before it."""

    handle: int
    end_handle: int
    uuid: bytes
    properties: int
    descriptors: tuple[DescriptorLayout, ...] = ()

    @property
    def declaration_handle(self) -> int:
        return self.handle - 1


@dataclass(frozen=True)
class ServiceLayout:
    handle: int
    end_handle: int
    uuid: bytes
    characteristics: tuple[CharacteristicLayout, ...] = ()


@dataclass(frozen=True)
class GattLayout:
    """Every primary service of a server, in handle order."""

    services: tuple[ServiceLayout, ...]

    def database_hash(self) -> bytes | None:
        """The Database Hash of a server with exactly this layout, as its characteristic
        serves it (least significant octet first); None when the layout holds an attribute
        whose value the hash covers but discovery does not read (Characteristic Extended
        Properties), so no hash of it can be checked."""
        message = bytearray()
        for service in self.services:
            message += struct.pack("<H", service.handle) + _PRIMARY_SERVICE + service.uuid
            for characteristic in service.characteristics:
                message += struct.pack("<H", characteristic.declaration_handle) + _CHARACTERISTIC
                message += struct.pack("<BH", characteristic.properties, characteristic.handle)
                message += characteristic.uuid
                for descriptor in characteristic.descriptors:
                    kind = _uuid16(descriptor.uuid)
                    if kind == _EXTENDED_PROPERTIES:
                        return None
                    if kind in _HASHED_DESCRIPTORS:
                        message += struct.pack("<H", descriptor.handle) + descriptor.uuid
        return aes_cmac(m=bytes(message), k=bytes(16))[::-1]

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "handle": s.handle,
                "end": s.end_handle,
                "uuid": s.uuid.hex(),
                "characteristics": [
                    {
                        "handle": c.handle,
                        "end": c.end_handle,
                        "uuid": c.uuid.hex(),
                        "properties": c.properties,
                        "descriptors": [[d.handle, d.uuid.hex()] for d in c.descriptors],
                    }
                    for c in s.characteristics
                ],
            }
            for s in self.services
        ]

    @classmethod
    def from_json(cls, data: object) -> GattLayout:
        """The layout `to_json` wrote; raises LayoutError naming the first thing wrong."""
        if not isinstance(data, list):
            raise LayoutError("a layout is a list of services")
        return cls(tuple(_service(s, f"service {i}") for i, s in enumerate(data)))


def _uuid16(uuid: bytes) -> int | None:
    return int.from_bytes(uuid, "little") if len(uuid) == 2 else None


def _handle(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 0xFFFF:
        raise LayoutError(f"{where}: {value!r} is not an attribute handle (1-65535)")
    return value


def _uuid(value: object, where: str) -> bytes:
    try:
        uuid = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        uuid = None
    if uuid is None or len(uuid) not in _UUID_LENGTHS:
        raise LayoutError(f"{where}: {value!r} is not a 2- or 16-octet UUID in hex")
    return uuid


def _fields(value: object, where: str, keys: tuple[str, ...]) -> Mapping[str, object]:
    if not isinstance(value, dict) or not all(key in value for key in keys):
        raise LayoutError(f"{where}: expected an object with {', '.join(keys)}")
    return value


def _service(value: object, where: str) -> ServiceLayout:
    fields = _fields(value, where, ("handle", "end", "uuid", "characteristics"))
    characteristics = fields["characteristics"]
    if not isinstance(characteristics, list):
        raise LayoutError(f"{where}: characteristics is not a list")
    return ServiceLayout(
        _handle(fields["handle"], where),
        _handle(fields["end"], where),
        _uuid(fields["uuid"], where),
        tuple(
            _characteristic(c, f"{where}, characteristic {i}")
            for i, c in enumerate(characteristics)
        ),
    )


def _characteristic(value: object, where: str) -> CharacteristicLayout:
    fields = _fields(value, where, ("handle", "end", "uuid", "properties", "descriptors"))
    properties, descriptors = fields["properties"], fields["descriptors"]
    if not isinstance(properties, int) or not 0 <= properties <= 0xFF:
        raise LayoutError(f"{where}: {properties!r} is not a properties octet")
    if not isinstance(descriptors, list) or not all(
        isinstance(d, list) and len(d) == 2 for d in descriptors
    ):
        raise LayoutError(f"{where}: descriptors is not a list of [handle, uuid] pairs")
    handle = _handle(fields["handle"], where)
    if handle < 2:
        raise LayoutError(f"{where}: a value handle follows its declaration, so is at least 2")
    return CharacteristicLayout(
        handle,
        _handle(fields["end"], where),
        _uuid(fields["uuid"], where),
        properties,
        tuple(
            DescriptorLayout(_handle(h, f"{where}, descriptor"), _uuid(u, f"{where}, descriptor"))
            for h, u in descriptors
        ),
    )
