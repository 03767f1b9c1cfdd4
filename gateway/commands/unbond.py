"""`bluewatch unbond ADDRESS... --config FILE`: forget the bonds of wearables the agency holds.

A vest or helmet that was reset or replaced has lost its bond, and the gateway refuses it at its
bonded address as a possible spoof; it never pairs with it again by itself (docs/security.md).
Taking the bond out of the key store (Bumble backend) lets the device pair again, Just Works, at
its next link. The store is re-read at every link, so this holds with the gateway running too.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gateway.ble.bonds import KeyStoreError, PrivateKeyStore
from gateway.commands import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, Streams
from gateway.config import ConfigError, load_config


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "unbond", help="forget wearables' bonds, so that a reset unit pairs again"
    )
    parser.add_argument("address", nargs="+", help="a bonded device's address")
    parser.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, io: Streams) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        io.stderr.write(f"bluewatch unbond: {exc}\n")
        return EXIT_USAGE
    if config.ble.backend == "bluez":
        io.stderr.write(
            "bluewatch unbond: on BlueZ, bluetoothd keeps the bonds: remove the device from "
            "each adapter with `bluetoothctl`, `select` the adapter, then `remove ADDRESS`\n"
        )
        return EXIT_USAGE
    path = config.key_store_path
    if not path.exists():
        io.stderr.write(f"bluewatch unbond: {path}: no key store, so nothing is bonded\n")
        return EXIT_BAD_INPUT
    try:
        return asyncio.run(_unbond(PrivateKeyStore.open(path), path, args.address, io))
    except KeyStoreError as exc:
        io.stderr.write(f"bluewatch unbond: {exc}\n")
        return EXIT_BAD_INPUT


async def _unbond(store: PrivateKeyStore, path: Path, addresses: list[str], io: Streams) -> int:
    # Bumble names a public address's entry with a "/P" suffix; the address alone is enough.
    names = {name.removesuffix("/P").upper(): name for name, _ in await store.get_all()}
    status = EXIT_OK
    for address in addresses:
        name = names.get(address.strip().upper())
        if name is None:
            io.stderr.write(f"bluewatch unbond: {address}: no bond in {path}\n")
            status = EXIT_BAD_INPUT
            continue
        await store.delete(name)
        io.stdout.write(f"{address}: bond removed; the device pairs again at its next link\n")
    return status
