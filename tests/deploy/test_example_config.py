"""deploy/gateway.example.toml: valid for the real loader as shipped, TLS on, every secret
read from a file, and the variables of the unit and of gateway.example.env in force."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from gateway.config import ConfigError, GatewayConfig, insecure_warnings, load_config
from tests.deploy.vehicle_site import CONFIG_DIR, EXAMPLE_TOML, VehicleSite, make_site


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VehicleSite:
    # Only what the unit gives the daemon: none of the developer's BLUEWATCH_* variables.
    for name in [n for n in os.environ if n.startswith("BLUEWATCH_")]:
        monkeypatch.delenv(name)
    made = make_site(tmp_path / "etc-bluewatch")
    for name, value in made.environment.items():
        monkeypatch.setenv(name, value)
    return made


def test_the_example_loads_as_the_unit_runs_it(site: VehicleSite) -> None:
    config = load_config(site.config)

    assert config.ble.backend == "bluez"
    assert config.outbox.path == Path("/var/lib/bluewatch/outbox.sqlite3")
    assert config.key_store_path == Path("/var/lib/bluewatch/ble-keys.json")
    # Only the strap known by its name is said at start: nothing crosses the network in clear.
    (warning,) = insecure_warnings(config)
    assert "'HRM-Dual:123456': name_only = true" in warning
    assert [officer.id for officer in config.officers] == ["officer-0412", "officer-0587"]
    assert len(config.device_refs()) == 4


def test_transport_is_tls_with_the_agency_ca(site: VehicleSite) -> None:
    config = load_config(site.config)
    ca = site.folder / "agency-ca.pem"

    assert config.influx is not None
    assert config.influx.url.startswith("https://")
    assert config.influx.verify_tls
    assert config.influx.ca_file == ca
    config.influx.ssl_context()  # the CA file loads
    assert config.mqtt is not None
    assert (config.mqtt.tls, config.mqtt.port, config.mqtt.ca_file) == (True, 8883, ca)
    (webhook,) = config.webhooks
    assert webhook.url.startswith("https://")
    assert (webhook.verify_tls, webhook.ca_file) == (True, ca)
    webhook.ssl_context()


def test_every_secret_comes_from_a_file_or_the_root_only_environment(site: VehicleSite) -> None:
    config = load_config(site.config)
    assert config.mqtt is not None
    (webhook,) = config.webhooks

    assert (config.mqtt.password, webhook.secret, config.dispatch_api.token) == (None,) * 3
    assert config.mqtt.secret() == site.secrets["mqtt.password"]
    assert webhook.signing_secret() == site.secrets["cad.secret"].encode()
    assert config.dispatch_api.secret() == site.secrets["dispatch.token"]
    assert config.influx is not None
    assert config.influx.api == "v2"
    assert config.influx.token.get_secret_value() == site.environment["BLUEWATCH_INFLUX__TOKEN"]


def test_without_the_environment_file_the_influx_token_is_missing(
    site: VehicleSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLUEWATCH_INFLUX__TOKEN")

    with pytest.raises(ConfigError, match=r"influx\.v2\.token: Field required"):
        load_config(site.config)


def test_the_example_names_only_files_in_the_configuration_directory() -> None:
    document = tomllib.loads(EXAMPLE_TOML.read_text())
    named = [
        value
        for section in (
            document["influx"],
            document["mqtt"],
            document["dispatch_api"],
            *document["webhooks"],
        )
        for key, value in section.items()
        if key.endswith("_file")
    ]

    assert named
    assert all(value.startswith(CONFIG_DIR) for value in named)


def test_every_section_of_the_schema_is_shown() -> None:
    """A section added to GatewayConfig is one the example shows a vehicle, or says why not."""
    document = tomllib.loads(EXAMPLE_TOML.read_text())
    # [alerts] keeps the defaults docs/alerts.md explains: a vehicle has no reason to change them.
    left_to_defaults = {"alerts"}

    assert set(GatewayConfig.model_fields) - left_to_defaults == set(document)
