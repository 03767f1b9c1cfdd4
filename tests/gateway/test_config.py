"""Configuration: TOML plus environment overrides, errors naming file and key, no secrets shown."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from gateway.ble.factory import DEFAULT_LINKS_PER_ADAPTER
from gateway.cli import run
from gateway.config import (
    ConfigError,
    GatewayConfig,
    config_hash,
    insecure_warnings,
    load_config,
)
from sensors import DeviceModel

GOOD = """
agency = "metro-pd"
unit = "car-12"

[ble]
backend = "bumble"
bumble_transport = "tcp-client:127.0.0.1:9002"

[[officers]]
id = "officer-01"
age_years = 34
[[officers.devices]]
model = "bluewatch-vest"
address = "c4:00:00:00:00:01"
[[officers.devices]]
model = "bluewatch-helmet"
address = "c8:00:00:00:00:01"
"""


def hash_before_later_settings(config: GatewayConfig) -> str:
    """The hash as the gateway computed it before [vehicle], [[pool]], the quarantine's own cap
    and `name_only` existed: a configuration that uses none of them must keep it (alert rows
    record it)."""
    shape = config.model_dump(
        mode="json", exclude={"dispatch_api", "influx", "mqtt", "webhooks", "vehicle", "pool"}
    )
    del shape["outbox"]["quarantine_max_bytes"]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.agency == "metro-pd"
    assert config.officers[0].devices[0].address == "C4:00:00:00:00:01"
    assert config.ble.backend == "bumble"
    assert config.link.lost_after_s == 20


def test_devices_are_named_by_model_and_get_short_ids(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    refs = config.device_refs()
    assert [(r.device_id, r.model) for r in refs] == [
        ("officer-01-vest", DeviceModel.BLUEWATCH_VEST),
        ("officer-01-helmet", DeviceModel.BLUEWATCH_HELMET),
    ]
    assert refs[0].tags["model"] == "bluewatch-vest"
    assert refs[0].tags["placement"] == "torso"


def test_an_older_configuration_naming_kinds_keeps_working(tmp_path: Path) -> None:
    older = GOOD.replace('model = "bluewatch-vest"', 'kind = "vest"').replace(
        'model = "bluewatch-helmet"', 'kind = "helmet"'
    )
    config = load_config(write(tmp_path, older))
    assert [d.model for d in config.officers[0].devices] == [
        DeviceModel.BLUEWATCH_VEST,
        DeviceModel.BLUEWATCH_HELMET,
    ]
    assert [r.device_id for r in config.device_refs()] == ["officer-01-vest", "officer-01-helmet"]


def test_model_and_kind_together_are_refused(tmp_path: Path) -> None:
    both = GOOD.replace('model = "bluewatch-vest"', 'model = "bluewatch-vest"\nkind = "vest"')
    with pytest.raises(ConfigError, match="give model"):
        load_config(write(tmp_path, both))


def test_environment_overrides_nested_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEWATCH_LINK__STALE_AFTER_S", "7.5")
    monkeypatch.setenv("BLUEWATCH_UNIT", "car-99")
    config = load_config(write(tmp_path, GOOD))
    assert (config.link.stale_after_s, config.unit) == (7.5, "car-99")


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('"officer-01"', '"Officer/01"'), "officers.0.id", "pattern"),
        (
            ('address = "c4:00:00:00:00:01"', 'address = "c4:00"'),
            "officers.0.devices.0.address",
            "pattern",
        ),
        (
            ('model = "bluewatch-vest"', 'model = "boot"'),
            "officers.0.devices.0.model",
            "generic-hrs",
        ),
        (
            ('model = "bluewatch-vest"', 'kind = "boot"'),
            "officers.0.devices.0",
            "kind 'boot' is not known; write model = one of \"bluewatch-vest\"",
        ),
        (('backend = "bumble"', 'backend = "usb"'), "ble.backend", "bluez"),
        (("age_years = 34", "age_years = 5"), "officers.0.age_years", "greater than"),
        (('unit = "car-12"', 'unit = "car-12"\nsurprise = 1'), "surprise", "not permitted"),
    ],
)
def test_errors_name_the_file_the_key_and_the_problem(
    tmp_path: Path, change: tuple[str, str], key: str, problem: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert key in message
    assert problem.lower() in message.lower()


def test_a_device_known_by_name_only_is_refused_unless_the_roster_says_so(tmp_path: Path) -> None:
    """Anyone nearby can advertise a name: a roster entry without an address is accepted only
    with `name_only = true`, and then said at every start and by check-config."""
    by_name = GOOD.replace('address = "c8:00:00:00:00:01"', 'name = "BW-Helmet-H0001"')
    path = write(tmp_path, by_name)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "officers.0.devices.1" in message
    assert "name_only = true" in message

    path = write(tmp_path, by_name + "name_only = true\n")
    (warning,) = insecure_warnings(load_config(path))
    assert warning == (
        "officer officer-01: bluewatch-helmet 'BW-Helmet-H0001': name_only = true: the first "
        "device advertising that name is taken as this one"
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(["check-config", str(path)], io.StringIO(), out, err) == 0
    assert f"warning: {warning}\n" in err.getvalue()


def test_a_roster_without_name_only_keeps_its_configuration_hash(tmp_path: Path) -> None:
    """Alert rows carry the configuration hash: adding the `name_only` key must not change the
    hash of a roster that does not use it, and a roster that does is another configuration."""
    config = load_config(write(tmp_path, GOOD))
    assert "name_only" not in config.model_dump()["officers"][0]["devices"][0]
    assert config_hash(config) == hash_before_later_settings(config)
    by_name = GOOD.replace('address = "c8:00:00:00:00:01"', 'name = "BW-Helmet-H0001"')
    named = load_config(write(tmp_path, by_name + "name_only = true\n"))
    assert named.model_dump()["officers"][0]["devices"][1]["name_only"] is True
    assert config_hash(named) != config_hash(config)


def test_name_only_with_an_address_is_refused(tmp_path: Path) -> None:
    both = GOOD.replace(
        'address = "c4:00:00:00:00:01"', 'address = "c4:00:00:00:00:01"\nname_only = true'
    )
    with pytest.raises(ConfigError, match="the address identifies it"):
        load_config(write(tmp_path, both))


def test_duplicate_officers_and_devices_are_refused(tmp_path: Path) -> None:
    doubled = GOOD + GOOD[GOOD.index("[[officers]]") :]
    with pytest.raises(ConfigError, match="appears twice"):
        load_config(write(tmp_path, doubled))


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(write(tmp_path, 'agency = "x"\nunit = \n'))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_check_config_command(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(["check-config", str(write(tmp_path, GOOD))], io.StringIO(), out, err) == 0
    summary = json.loads(out.getvalue())
    assert summary["officers"][0]["id"] == "officer-01"
    assert summary["officers"][0]["cannot_detect"] == []
    assert err.getvalue() == ""
    bad = write(tmp_path, GOOD.replace('"metro-pd"', '"Metro PD"'))
    assert run(["check-config", str(bad)], io.StringIO(), io.StringIO(), err) == 2
    assert "agency" in err.getvalue()


def test_check_config_says_what_each_officers_kit_cannot_detect(tmp_path: Path) -> None:
    strap_only = GOOD + (
        '\n[[officers]]\nid = "officer-03"\n[[officers.devices]]\nmodel = "generic-hrs"\n'
        'address = "c4:00:00:00:00:03"\n'
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(["check-config", str(write(tmp_path, strap_only))], io.StringIO(), out, err) == 0
    officers = {o["id"]: o for o in json.loads(out.getvalue())["officers"]}
    assert "officer_down" in officers["officer-03"]["cannot_detect"]
    assert "tachycardia" in officers["officer-03"]["detects"]
    assert (
        "officer-03: no fall or man-down detection: no accelerometer worn on the trunk\n"
        in err.getvalue()
    )
    assert "officer-01" not in err.getvalue()


POOL = """
[[pool]]
id = "h10-07"
model = "polar-h10"
address = "a0:9e:1a:00:00:07"
"""


def test_pool_devices_get_their_own_ids_and_no_officer_until_assigned(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + POOL))
    assert [(d.id, d.model, d.address) for d in config.pool] == [
        ("h10-07", DeviceModel.POLAR_H10, "A0:9E:1A:00:00:07")
    ]
    assert [r.device_id for r in config.device_refs()] == ["officer-01-vest", "officer-01-helmet"]
    ref = config.pool_ref("h10-07", "officer-01")
    assert (ref.officer_id, ref.device_id, ref.tags["device"]) == ("officer-01", "h10-07", "h10-07")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (POOL + POOL.replace("00:07", "00:08"), "pool device id 'h10-07' appears twice"),
        (POOL.replace('"h10-07"', '"officer-01-vest"'), "names a roster device"),
        (POOL.replace("a0:9e:1a:00:00:07", "c4:00:00:00:00:01"), "is also in the roster or pool"),
        (POOL.replace('id = "h10-07"', 'id = "H10 07"'), "pool.0.id"),
    ],
)
def test_pool_devices_are_checked(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(write(tmp_path, GOOD + extra))


def test_a_configuration_without_a_pool_keeps_its_hash(tmp_path: Path) -> None:
    plain = load_config(write(tmp_path, GOOD))
    assert config_hash(plain) == hash_before_later_settings(plain)
    assert config_hash(load_config(write(tmp_path, GOOD + POOL))) != config_hash(plain)


def test_several_adapters_and_their_link_limit(tmp_path: Path) -> None:
    bluez = GOOD.replace(
        'backend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9002"',
        'adapters = ["hci0", "hci1"]\nlinks_per_adapter = 5',
    )
    config = load_config(write(tmp_path, bluez))
    assert config.ble.backend == "bluez"
    assert config.ble.adapter_names() == ("hci0", "hci1")
    assert config.ble.links_per_adapter == 5
    transports = GOOD.replace(
        'bumble_transport = "tcp-client:127.0.0.1:9002"',
        'adapters = ["usb:0", "usb:1"]',
    )
    config = load_config(write(tmp_path, transports))
    assert config.ble.adapter_names() == ("usb:0", "usb:1")
    assert config.ble.links_per_adapter == DEFAULT_LINKS_PER_ADAPTER
    assert load_config(write(tmp_path, GOOD)).ble.adapter_names() == ("tcp-client:127.0.0.1:9002",)


@pytest.mark.parametrize(
    ("ble", "problem"),
    [
        ('bumble_transport = "usb:0"\nadapters = ["usb:1"]', "not both"),
        ('adapters = ["hci0", "hci0"]', "twice"),
        ('backend = "bluez"\nbumble_transport = "usb:0"', "for ble.backend = 'bumble'"),
        ("links_per_adapter = 0", "ble.links_per_adapter"),
    ],
)
def test_adapter_settings_that_cannot_work_are_refused(
    tmp_path: Path, ble: str, problem: str
) -> None:
    text = GOOD.replace('backend = "bumble"\nbumble_transport = "tcp-client:127.0.0.1:9002"', ble)
    with pytest.raises(ConfigError, match=problem):
        load_config(write(tmp_path, text))
