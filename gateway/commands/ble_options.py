"""The BLE options every field command shares: which backend, which transport or adapters."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from gateway.ble.factory import BleSettings


def add_ble_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("BLE")
    group.add_argument(
        "--ble-backend", choices=("bluez", "bumble"), default="bluez", help="bleak backend"
    )
    group.add_argument(
        "--bumble-transport",
        metavar="SPEC",
        help="Bumble HCI transport, e.g. tcp-client:127.0.0.1:9002 or usb:0",
    )
    group.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME",
        dest="adapters",
        help="an adapter to use, repeatable: a BlueZ name (hci1) or a Bumble transport",
    )


def ble_settings(args: argparse.Namespace) -> BleSettings:
    """Settings from the options; raises ValueError with the problem in words."""
    try:
        return BleSettings(
            backend=args.ble_backend,
            bumble_transport=args.bumble_transport,
            adapters=tuple(args.adapters),
        )
    except ValidationError as exc:
        raise ValueError("; ".join(error["msg"] for error in exc.errors())) from None
