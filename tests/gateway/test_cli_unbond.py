"""`bluewatch unbond`: a reset or replaced wearable's bond taken out of the key store, so that it
pairs again; nothing else in the store touched."""

from __future__ import annotations

import asyncio
import io
import json
import stat
from pathlib import Path

from bumble import hci
from bumble.keys import PairingKeys

from gateway.ble.bonds import PrivateKeyStore
from gateway.cli import run
from gateway.commands import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE

VEST = "F1:00:00:00:00:01"
HELMET = "F2:00:00:00:00:02"
PUBLIC = "00:11:22:33:44:55"


def config(tmp_path: Path, backend: str = "bumble") -> Path:
    path = tmp_path / "gateway.toml"
    transport = '\nbumble_transport = "tcp-client:127.0.0.1:9"' if backend == "bumble" else ""
    path.write_text(
        'agency = "pd"\nunit = "car-1"\n'
        f'[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
        f'[ble]\nbackend = "{backend}"{transport}\n'
    )
    return path


def bonded(tmp_path: Path, *names: str) -> PrivateKeyStore:
    """The gateway's key store with a bond for each name (its LTK only: enough to be one)."""
    store = PrivateKeyStore.open(tmp_path / "ble-keys.json")
    keys = PairingKeys(ltk=PairingKeys.Key(value=bytes(16)))
    for name in names:
        asyncio.run(store.update(name, keys))
    return store


def bluewatch(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(list(argv), io.StringIO(), out, err)
    return status, out.getvalue(), err.getvalue()


def names(store: PrivateKeyStore) -> set[str]:
    return {name for name, _ in asyncio.run(store.get_all())}


def test_a_bond_is_removed_and_the_others_kept(tmp_path: Path) -> None:
    public = str(hci.Address(PUBLIC, hci.Address.PUBLIC_DEVICE_ADDRESS))  # "…/P"
    store = bonded(tmp_path, VEST, HELMET, public)
    status, out, err = bluewatch("unbond", VEST.lower(), PUBLIC, "--config", str(config(tmp_path)))
    assert (status, err) == (EXIT_OK, "")
    assert f"{VEST.lower()}: bond removed" in out
    assert names(store) == {HELMET}
    path = tmp_path / "ble-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The gateway's identity, under which the wearables keep their bonds, is untouched.
    assert list(json.loads(path.read_text())) == [store.namespace]


def test_an_address_without_a_bond_is_named_and_the_rest_still_done(tmp_path: Path) -> None:
    store = bonded(tmp_path, VEST)
    status, _, err = bluewatch(
        "unbond", "F9:99:99:99:99:99", VEST, "--config", str(config(tmp_path))
    )
    assert status == EXIT_BAD_INPUT
    assert err == f"bluewatch unbond: F9:99:99:99:99:99: no bond in {tmp_path / 'ble-keys.json'}\n"
    assert names(store) == set()


def test_no_key_store_means_nothing_is_bonded(tmp_path: Path) -> None:
    status, _, err = bluewatch("unbond", VEST, "--config", str(config(tmp_path)))
    assert status == EXIT_BAD_INPUT
    assert "no key store, so nothing is bonded" in err
    assert not (tmp_path / "ble-keys.json").exists()


def test_on_bluez_it_points_to_bluetoothctl(tmp_path: Path) -> None:
    status, _, err = bluewatch("unbond", VEST, "--config", str(config(tmp_path, "bluez")))
    assert status == EXIT_USAGE
    assert "bluetoothctl" in err


def test_a_key_store_that_cannot_be_read_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "ble-keys.json").write_text("{not json")
    status, _, err = bluewatch("unbond", VEST, "--config", str(config(tmp_path)))
    assert status == EXIT_BAD_INPUT
    assert err.startswith(f"bluewatch unbond: {tmp_path / 'ble-keys.json'}: cannot read")
    assert "Traceback" not in err
