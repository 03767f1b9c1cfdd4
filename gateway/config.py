"""The gateway's configuration: one TOML file, overridden by BLUEWATCH_* environment variables.

Nested keys join with `__` in the environment (`BLUEWATCH_BLE__BACKEND=bumble`). Every error
names the file, the key and the problem. Secrets are `SecretStr`, read from the environment or
from files (`*_file` keys), and never appear in logs or summaries.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway.alerts.rules import AlertSettings
from gateway.ble.factory import BleSettings
from gateway.domain import ID_PATTERN, DeviceRef, UnitRef
from gateway.secret_file import read_secret_text
from gateway.sinks.influx import InfluxSettings
from gateway.sinks.mqtt import MqttSettings
from gateway.sinks.webhook_settings import WebhookEndpoint
from sensors import PROFILES, DeviceModel
from sensors.pmd import MeasurementType

# Ids travel into MQTT topics, InfluxDB tags and file names (gateway/domain.py says why the
# alphabet is safe for each).
SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ADDRESS_PATTERN = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file, the key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Configurations written before device models named the Bluewatch devices by kind.
LEGACY_KINDS: Final[Mapping[str, DeviceModel]] = {
    "vest": DeviceModel.BLUEWATCH_VEST,
    "helmet": DeviceModel.BLUEWATCH_HELMET,
}


class DeviceAssignment(_Section):
    """One wearable issued to an officer: its model, known by address or by advertised name."""

    model: DeviceModel
    address: Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN, to_upper=True)] | None = None
    name: str | None = None
    # Accelerometer rate (Hz) and range (+-g) among those the model offers; None: its default.
    acc_rate_hz: int | None = None
    acc_range_g: float | None = None
    # Stream ECG too (models with a PMD ECG stream: the Polar H10). Off by default: 130 rows a
    # second per officer that no alert reads.
    ecg: bool = False

    @model_validator(mode="before")
    @classmethod
    def _legacy_kind(cls, data: Any) -> Any:
        """`kind = "vest" | "helmet"` keeps working: it names the Bluewatch model of that kind."""
        if not isinstance(data, dict) or "kind" not in data:
            return data
        if "model" in data:
            raise ValueError("give model (kind is its older spelling), not both")
        kind = data["kind"]
        if kind not in LEGACY_KINDS:
            models = ", ".join(f'"{m.value}"' for m in DeviceModel)
            raise ValueError(f"kind {kind!r} is not known; write model = one of {models}")
        return {**{k: v for k, v in data.items() if k != "kind"}, "model": LEGACY_KINDS[kind]}

    @model_validator(mode="after")
    def _address_or_name(self) -> Self:
        if not (self.address or self.name):
            raise ValueError("a device needs an address or a name")
        return self

    @model_validator(mode="after")
    def _settings_the_model_offers(self) -> Self:
        profile = PROFILES[self.model]
        accelerometer = profile.accelerometer
        for value, offered, key in (
            (self.acc_rate_hz, accelerometer.rates_hz if accelerometer else (), "acc_rate_hz"),
            (self.acc_range_g, accelerometer.ranges_g if accelerometer else (), "acc_range_g"),
        ):
            if value is not None and value not in offered:
                choices = ", ".join(f"{v:g}" for v in offered) or "none"
                raise ValueError(f"{key} = {value:g}: a {self.model.value} offers {choices}")
        if self.ecg and not any(
            stream.measurement is MeasurementType.ECG for stream in profile.pmd_streams
        ):
            raise ValueError(f"ecg = true: a {self.model.value} has no ECG stream")
        return self


class Officer(_Section):
    id: SafeId
    badge: str = ""
    name: str = ""
    age_years: int | None = Field(default=None, ge=16, le=80)
    resting_hr_bpm: int = Field(default=60, ge=30, le=120)
    # Measured HRmax when the agency has it; otherwise analytics use Tanaka's 208 - 0.7 x age.
    max_hr_bpm: int | None = Field(default=None, ge=120, le=230)
    devices: tuple[DeviceAssignment, ...] = ()


class LinkSettings(_Section):
    """When a device's stream counts as stale, then lost (seconds without a notification)."""

    stale_after_s: float = Field(default=5.0, gt=0)
    lost_after_s: float = Field(default=20.0, gt=0)
    max_concurrent_connects: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.lost_after_s <= self.stale_after_s:
            raise ValueError("lost_after_s must be longer than stale_after_s")
        return self


class OutboxSettings(_Section):
    path: Path = Path("bluewatch-outbox.sqlite3")
    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    max_age_days: float = Field(default=30.0, gt=0)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class DispatchApiSettings(_Section):
    """`[dispatch_api]`: the bearer token dispatch uses to acknowledge and resolve alerts."""

    token: SecretStr | None = None
    token_file: Path | None = None

    def secret(self) -> str | None:
        """The token: inline, or read from `token_file` now (SecretError names the file)."""
        if self.token_file is not None:
            return read_secret_text(self.token_file)
        return self.token.get_secret_value() if self.token else None


class GatewayConfig(BaseSettings):
    """Everything `bluewatch run` needs, validated before anything starts."""

    model_config = SettingsConfigDict(
        env_prefix="BLUEWATCH_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    agency: SafeId
    unit: SafeId
    officers: tuple[Officer, ...] = ()
    ble: BleSettings = BleSettings()
    link: LinkSettings = LinkSettings()
    outbox: OutboxSettings = OutboxSettings()
    http: HttpSettings = HttpSettings()
    # Either, both or neither: with no sink the gateway still runs and keeps data in its outbox.
    influx: InfluxSettings | None = None
    mqtt: MqttSettings | None = None
    alerts: AlertSettings = AlertSettings()
    dispatch_api: DispatchApiSettings = DispatchApiSettings()
    # Dispatch endpoints, each receiving the alerts at or above its min_severity.
    webhooks: tuple[WebhookEndpoint, ...] = ()

    @model_validator(mode="after")
    def _unique_ids_and_devices(self) -> Self:
        seen: set[str] = set()
        for officer in self.officers:
            if officer.id in seen:
                raise ValueError(f"officer id {officer.id!r} appears twice")
            seen.add(officer.id)
        devices: set[str] = set()
        for officer in self.officers:
            for device in officer.devices:
                key = device.address or f"name:{device.name}"
                if key in devices:
                    raise ValueError(f"device {key} is assigned twice (officer {officer.id!r})")
                devices.add(key)
        return self

    @property
    def unit_ref(self) -> UnitRef:
        return UnitRef(self.agency, self.unit)

    def device_refs(self) -> list[DeviceRef]:
        """One reference per assigned device, `<officer>-<short name>` (`-2`… when repeated)."""
        unit = self.unit_ref
        refs: list[DeviceRef] = []
        for officer in self.officers:
            for device in officer.devices:
                same = [d for d in officer.devices if d.model is device.model]
                suffix = f"-{same.index(device) + 1}" if len(same) > 1 else ""
                device_id = f"{officer.id}-{PROFILES[device.model].short_name}{suffix}"
                refs.append(
                    DeviceRef(
                        unit,
                        officer.id,
                        device_id,
                        device.model,
                        device.address,
                        device.name,
                        acc_rate_hz=device.acc_rate_hz,
                        acc_range_g=device.acc_range_g,
                        ecg=device.ecg,
                    )
                )
        return refs

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file overrides the defaults.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_config(path: Path) -> GatewayConfig:
    """Read and validate `path` plus environment overrides; ConfigError says what is wrong."""
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)  # parse once here for a precise syntax error
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None

    class FromFile(GatewayConfig):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return FromFile()
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None


def _describe(path: Path, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        shown = "" if _secret(key) else f" (got {error.get('input')!r})"
        problems.append(f"{path}: {key}: {error['msg']}{shown}")
    return "\n".join(problems)


def _secret(key: str) -> bool:
    return any(word in key for word in ("password", "token", "secret"))


def config_hash(config: GatewayConfig) -> str:
    """A short hash of the configuration in force (secrets excluded), recorded with alerts."""
    shape = config.model_dump(mode="json", exclude={"dispatch_api", "influx", "mqtt", "webhooks"})
    text = json.dumps(shape, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def summarise(config: GatewayConfig) -> dict[str, Any]:
    """What `check-config` prints: the shape of the configuration, never a secret."""
    return {
        "agency": config.agency,
        "unit": config.unit,
        "officers": [
            {
                "id": officer.id,
                "devices": [
                    {"model": d.model.value, "address": d.address, "name": d.name}
                    for d in officer.devices
                ],
            }
            for officer in config.officers
        ],
        "ble": {"backend": config.ble.backend, "bumble_transport": config.ble.bumble_transport},
        "link": config.link.model_dump(),
        "outbox": {"path": str(config.outbox.path), "max_bytes": config.outbox.max_bytes},
        "http": config.http.model_dump(),
        "influx": None
        if config.influx is None
        else {"api": config.influx.api, "url": config.influx.url, "gzip": config.influx.gzip},
        "mqtt": None
        if config.mqtt is None
        else {"host": config.mqtt.host, "port": config.mqtt.port, "tls": config.mqtt.tls},
        "webhooks": [
            {"name": w.name, "url": w.url, "min_severity": w.min_severity, "format": w.format}
            for w in config.webhooks
        ],
    }
