"""Writes gateway configuration files (the schema is `GatewayConfig` in gateway/config.py).

For the tools that generate a configuration rather than read one: the demo and the end-to-end
tests, which configure a gateway for a simulated fleet. The standard library reads TOML but
does not write it, and the configuration needs only tables, arrays of tables and plain values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict, TypeGuard

# What a configuration holds; a Path is written as its text.
TomlValue = str | bool | int | float | Path | Sequence["TomlValue"] | Mapping[str, "TomlValue"]
TomlTable = Mapping[str, TomlValue]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def render_toml(document: TomlTable) -> str:
    """`document` as TOML text that `tomllib` reads back as the same data (Paths as strings)."""
    return "\n".join(_table((), document)).lstrip("\n") + "\n"


class SimulatedDevice(TypedDict):
    """One device of an officer in the roster `bluewatch simulate` announces."""

    model: str
    address: str
    name: str


class SimulatedOfficer(TypedDict):
    """One officer of that roster: their kit, device by device."""

    officer_id: str
    devices: list[SimulatedDevice]


def simulated_officers(roster: Iterable[SimulatedOfficer]) -> list[dict[str, TomlValue]]:
    """`[[officers]]` tables for the roster `bluewatch simulate` announces on its first line.

    Each officer is assigned each device of their simulated kit by model and address.
    """
    return [
        {
            "id": entry["officer_id"],
            "devices": [
                {"model": device["model"], "address": device["address"]}
                for device in entry["devices"]
            ],
        }
        for entry in roster
    ]


def _table(path: tuple[str, ...], table: TomlTable) -> list[str]:
    # A table's own values come before its sub-tables: TOML gives every line after a
    # [header] to that header's table.
    lines: list[str] = []
    nested: list[str] = []
    for name, value in table.items():
        inner = (*path, name)
        if isinstance(value, Mapping):
            nested += ["", f"[{_dotted(inner)}]", *_table(inner, value)]
        elif _array_of_tables(value):
            for item in value:
                nested += ["", f"[[{_dotted(inner)}]]", *_table(inner, item)]
        else:
            lines.append(f"{_key(name)} = {_value(value)}")
    return lines + nested


def _array_of_tables(value: TomlValue) -> TypeGuard[Sequence[TomlTable]]:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
    )


def _value(value: TomlValue) -> str:
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # round-trips exactly; inf and -inf are TOML's spellings too
    if isinstance(value, str | Path):
        return _string(str(value))
    if isinstance(value, Sequence):
        if any(isinstance(item, Mapping) for item in value):
            raise TypeError("an array mixes tables and plain values; TOML cannot write it")
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _string(text: str) -> str:
    # JSON's escapes are all TOML escapes; DEL is the one control character JSON leaves bare.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key(name) for name in path)
