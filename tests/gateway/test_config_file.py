"""Writing configuration files: what render_toml writes, tomllib and load_config read back."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import load_config
from gateway.config_file import SimulatedOfficer, TomlValue, render_toml, simulated_officers

# As `bluewatch simulate` announces it: officer 1 in a vest and a helmet, officer 2 in a strap
# and a CORE.
ROSTER: list[SimulatedOfficer] = [
    {
        "officer_id": "officer-01",
        "devices": [
            {"model": "bluewatch-vest", "address": "C4:00:00:00:00:01", "name": "BW-Vest-B0001"},
            {
                "model": "bluewatch-helmet",
                "address": "C8:00:00:00:00:01",
                "name": "BW-Helmet-B0001",
            },
        ],
    },
    {
        "officer_id": "officer-02",
        "devices": [
            {"model": "generic-hrs", "address": "C4:00:00:00:00:02", "name": "HRM-G0002"},
            {"model": "core", "address": "C8:00:00:00:00:02", "name": "CORE-C0002"},
        ],
    },
]

_scalars = (
    st.text()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)  # nan is written, but never equals what is read back
)
_plain = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


def _tables(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(st.text(max_size=6), values, max_size=4)


_documents = _tables(
    st.recursive(
        _plain,
        lambda inner: _tables(inner) | st.lists(_tables(inner), min_size=1, max_size=3),
        max_leaves=12,
    )
)


@given(_documents)
def test_what_is_written_reads_back_the_same(document: dict[str, TomlValue]) -> None:
    assert tomllib.loads(render_toml(document)) == document


def test_names_and_strings_that_need_quoting_and_escapes() -> None:
    document: dict[str, TomlValue] = {
        "plain_key-1": 'a "quoted" \\ back\\slash\n\ttab \x00\x7f é🚀',
        "a key.with dots": {"": [1, 2.5, True, "x"], "deeper table": {"k": -0.0}},
    }
    text = render_toml(document)
    assert text.startswith("plain_key-1 = ")
    assert '\n["a key.with dots"]\n' in text
    assert tomllib.loads(text) == document


def test_a_path_is_written_as_its_text(tmp_path: Path) -> None:
    assert tomllib.loads(render_toml({"outbox": {"path": tmp_path / "o b"}})) == {
        "outbox": {"path": str(tmp_path / "o b")}
    }


def test_an_array_mixing_tables_and_plain_values_is_refused() -> None:
    with pytest.raises(TypeError, match="mixes tables and plain values"):
        render_toml({"mixed": [{"a": 1}, 2]})


def test_a_simulated_roster_configures_each_officers_vest_and_helmet(tmp_path: Path) -> None:
    officers = simulated_officers(ROSTER)
    officers[1] = {**officers[1], "max_hr_bpm": 120}
    path = tmp_path / "gateway.toml"
    path.write_text(render_toml({"agency": "test-pd", "unit": "car-7", "officers": officers}))
    config = load_config(path)
    assert [
        (officer.id, officer.max_hr_bpm, [(d.model.value, d.address) for d in officer.devices])
        for officer in config.officers
    ] == [
        (
            entry["officer_id"],
            120 if entry is ROSTER[1] else None,
            [(device["model"], device["address"]) for device in entry["devices"]],
        )
        for entry in ROSTER
    ]
