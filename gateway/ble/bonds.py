"""The gateway's BLE bonds on disk: its identity address, each bonded device's keys, and the
address each name-only roster device was bound to.

The key store is one JSON file in Bumble's `JsonKeyStore` layout, under the state directory,
mode 0600 whatever the umask: the keys would let whoever reads them pose as the gateway to its
wearables. Its one namespace is the gateway's identity address (random static), kept across
restarts because each wearable stored its bond under that address: a new address would be a
stranger to them all. Every Bumble adapter of the gateway runs under it (gateway/ble/factory.py).
The bindings (device id -> address) are a second file beside it, for any backend: a name-only
device stays bound to its address across restarts.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Self

from bleak.exc import BleakError
from bumble import hci
from bumble.keys import JsonKeyStore

from gateway.private_file import write_private


class BondRefusedError(BleakError):
    """A device at a bonded address could not prove the bond (it has no key for the gateway, or
    another one): a replaced or reset unit, or a spoofer. The gateway never re-pairs by itself."""


class KeyStoreError(OSError):
    """The key store file cannot be used; the message names the file and why."""


def random_static_address() -> hci.Address:
    """A random static address: the two most significant bits set (Core Vol 6 B 1.3.2.1)."""
    octets = bytearray(secrets.token_bytes(6))
    octets[0] |= 0xC0
    return hci.Address(":".join(f"{o:02X}" for o in octets), hci.Address.RANDOM_DEVICE_ADDRESS)


class PrivateKeyStore(JsonKeyStore):
    """Bumble's JSON key store, written 0600, whose namespace is the gateway's identity."""

    def __init__(self, path: Path, identity: hci.Address) -> None:
        super().__init__(namespace=identity.to_string(False), filename=str(path))
        self.identity = identity

    @classmethod
    def open(cls, path: Path) -> Self:
        """The store at `path`, made (with a new identity address) when there is none yet."""
        try:
            db = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            store = cls(path, random_static_address())
            store.write({store.namespace: {}})
            return store
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"{path}: cannot read the BLE key store: {exc}") from None
        if not isinstance(db, dict) or len(db) != 1:
            raise KeyStoreError(f"{path}: a BLE key store holds exactly one gateway identity")
        (namespace,) = db
        try:
            identity = hci.Address(namespace, hci.Address.RANDOM_DEVICE_ADDRESS)
        except ValueError:
            raise KeyStoreError(f"{path}: {namespace!r} is not a BLE address") from None
        store = cls(path, identity)
        store.write(db)  # a file left readable by hand or by an older version is made 0600
        return store

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.write(db)

    def write(self, db: dict[str, Any]) -> None:
        write_private_json(self.filename, db)


class Bindings:
    """Which address each name-only roster device is bound to (device id -> address), kept so
    that after a restart the first advertiser of its name is not taken as it again."""

    def __init__(self, path: Path, addresses: dict[str, str]) -> None:
        self.path = path
        self.addresses = addresses

    @classmethod
    def open(cls, path: Path) -> Self:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"{path}: cannot read the BLE bindings: {exc}") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise KeyStoreError(f"{path}: BLE bindings are an object of device id -> address")
        return cls(path, data)

    def bind(self, device_id: str, address: str) -> None:
        self.addresses[device_id] = address
        write_private_json(self.path, self.addresses)


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically with `data`, readable by the daemon's user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, [json.dumps(data, sort_keys=True, indent=4)])
