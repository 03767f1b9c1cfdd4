"""`[vehicle]`: the vehicle's id (the unit's by default), gpsd's address, the track's cadence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway.config import ConfigError, config_hash, load_config, summarise


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bluewatch.toml"
    path.write_text('agency = "metro-pd"\nunit = "unit-7"\n' + text)
    return path


def test_without_a_section_there_is_no_vehicle_and_the_hash_is_unchanged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.vehicle is None
    assert config.vehicle_id == "unit-7"
    assert summarise(config)["vehicle"] is None
    # The hash of a configuration without [vehicle] (or [[pool]], or a quarantine cap of its
    # own) is what it was before the section existed.
    before = config.model_dump(
        mode="json", exclude={"dispatch_api", "influx", "mqtt", "webhooks", "vehicle", "pool"}
    )
    del before["outbox"]["quarantine_max_bytes"]
    expected = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    assert config_hash(config) == expected


def test_the_section_with_its_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[vehicle]\n"))
    assert config.vehicle is not None
    assert (config.vehicle.gpsd_host, config.vehicle.gpsd_port) == ("127.0.0.1", 2947)
    assert config.vehicle_id == "unit-7"
    assert config.vehicle.parked_interval_s == 30.0


def test_an_id_and_a_port(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[vehicle]\nid = "car-12"\ngpsd_port = 2948\nparked_interval_s = 60\n')
    )
    assert config.vehicle_id == "car-12"
    assert summarise(config)["vehicle"]["gpsd_port"] == 2948
    assert config_hash(config) != config_hash(load_config(write(tmp_path, "")))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[vehicle]\nid = "Car 12"\n', "vehicle.id"),
        ("[vehicle]\ngpsd_port = 0\n", "vehicle.gpsd_port"),
        ("[vehicle]\nmoving_above_mps = 0\n", "vehicle.moving_above_mps"),
        ("[vehicle]\nspeed = 3\n", "vehicle.speed"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, text))
