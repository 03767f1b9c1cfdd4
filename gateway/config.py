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
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway.alerts.proximity import ProximitySettings
from gateway.alerts.rules import AlertSettings
from gateway.ble.factory import BleSettings
from gateway.ble.manager import DEFAULT_CONNECT_SLOTS
from gateway.domain import ID_PATTERN, DeviceRef, UnitRef
from gateway.http_server import HttpLimits
from gateway.secret_file import read_secret_text, require_length
from gateway.sinks.influx import InfluxSettings
from gateway.sinks.mqtt import GATEWAY_LEVEL, MqttSettings
from gateway.sinks.webhook_settings import WebhookEndpoint
from gateway.vehicle.track import TrackSettings
from sensors import PROFILES, DeviceModel
from sensors.pmd import MeasurementType

# Ids travel into MQTT topics, InfluxDB tags and file names (gateway/domain.py says why the
# alphabet is safe for each).
SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ADDRESS_PATTERN = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
# A bearer token is the whole of the dispatch API's authentication: 32 bytes from
# `openssl rand -hex 32` leave nothing to guess, and a shorter one is refused.
MIN_TOKEN_BYTES: Final = 32


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
    """One wearable issued to an officer: its model, known by address, or by advertised name
    only where the roster says so (`name_only`)."""

    model: DeviceModel
    address: Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN, to_upper=True)] | None = None
    name: str | None = None
    # Known by its advertised name alone: whichever device first advertises the name and
    # connects is bound as this one. Anyone can advertise any name, so it must be asked for.
    name_only: bool = False
    # Accelerometer rate (Hz) and range (+-g) among those the model offers; None: its default.
    acc_rate_hz: int | None = None
    acc_range_g: float | None = None
    # Stream ECG too (models with a PMD ECG stream: the Polar H10). Off by default: 130 rows a
    # second per officer that no alert reads.
    ecg: bool = False

    def ref(self, unit: UnitRef, officer_id: str, device_id: str) -> DeviceRef:
        """This device as `officer_id`'s, under the gateway's `device_id` for it."""
        return DeviceRef(
            unit,
            officer_id,
            device_id,
            self.model,
            self.address,
            self.name,
            acc_rate_hz=self.acc_rate_hz,
            acc_range_g=self.acc_range_g,
            ecg=self.ecg,
        )

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

    @model_serializer(mode="wrap")
    def _without_default_name_only(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """`name_only` only when set: a roster written before it keeps its configuration hash."""
        del info
        data: dict[str, Any] = handler(self)
        if not self.name_only:
            data.pop("name_only", None)
        return data

    @model_validator(mode="after")
    def _address_or_name(self) -> Self:
        if not (self.address or self.name):
            raise ValueError("a device needs an address or a name")
        if self.address is None and not self.name_only:
            raise ValueError(
                f"device {self.name!r} is known by name only, which anyone nearby can "
                "advertise: give its address (bluewatch scan shows it), or write "
                "name_only = true to accept the first device advertising that name"
            )
        if self.address is not None and self.name_only:
            raise ValueError("name_only = true with an address: the address identifies it")
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


class PoolDevice(DeviceAssignment):
    """A device of the unit's pool: issued to an officer at shift start (`bluewatch assign`),
    not in the configuration. Its id is what assignments name and its points' `device` tag."""

    id: SafeId


class Officer(_Section):
    id: SafeId
    badge: str = ""
    name: str = ""
    age_years: int | None = Field(default=None, ge=16, le=80)
    resting_hr_bpm: int = Field(default=60, ge=30, le=120)
    # Measured HRmax when the agency has it; otherwise analytics use Tanaka's 208 - 0.7 x age.
    max_hr_bpm: int | None = Field(default=None, ge=120, le=230)
    devices: tuple[DeviceAssignment, ...] = ()

    @field_validator("id")
    @classmethod
    def _not_the_gateway(cls, value: str) -> str:
        if value == GATEWAY_LEVEL:
            raise ValueError(
                f"officer id {value!r} is reserved: its MQTT status topic is the gateway's own "
                f'(with its last will); write another id, e.g. id = "{value}-1"'
            )
        return value


class LinkSettings(_Section):
    """When a device's stream counts as stale, then lost (seconds without a notification)."""

    stale_after_s: float = Field(default=5.0, gt=0)
    lost_after_s: float = Field(default=20.0, gt=0)
    # Connection attempts (connect, discovery, pairing) in progress at once, per adapter.
    max_concurrent_connects: int = Field(default=DEFAULT_CONNECT_SLOTS, ge=1, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.lost_after_s <= self.stale_after_s:
            raise ValueError("lost_after_s must be longer than stale_after_s")
        return self


class OutboxSettings(_Section):
    path: Path = Path("bluewatch-outbox.sqlite3")
    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    max_age_days: float = Field(default=30.0, gt=0)
    # Points refused by a sink, kept for inspection: capped on their own, apart from max_bytes.
    quarantine_max_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)


class HttpSettings(_Section):
    """`[http]`: where `/metrics` and `/healthz` (and the dispatch API, unless it has its own
    port) listen, and the limits of every listener (gateway/http_server.py)."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    # A client gets this long from connecting (or its last response) to a complete request
    # head; a scraper that keeps its connection between 15 s scrapes just reconnects.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # ...and this long from the head to the response (the body's arrival and the handler).
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Per listener; a scraper, a dispatch console or two need a handful. With both listeners
    # at the cap the daemon still has most of the unit's LimitNOFILE (deploy/).
    max_connections: int = Field(default=64, ge=1, le=1024)

    def limits(self) -> HttpLimits:
        return HttpLimits(self.header_timeout_s, self.request_timeout_s, self.max_connections)


class DispatchApiSettings(_Section):
    """`[dispatch_api]`: the bearer token dispatch uses to acknowledge and resolve alerts, and
    optionally an address of its own, apart from `/metrics` and `/healthz`."""

    # hide_input_in_errors: a refused value may be the token itself.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    token: SecretStr | None = None
    token_file: Path | None = None
    # Without a port the dispatch API is served on [http] with the metrics.
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            require_length(value.get_secret_value().encode(), "token", MIN_TOKEN_BYTES)
        return value

    def secret(self) -> str | None:
        """The token: inline, or read from `token_file` now (SecretError names the file)."""
        if self.token_file is not None:
            return read_secret_text(self.token_file, MIN_TOKEN_BYTES)
        return self.token.get_secret_value() if self.token else None


class VehicleSettings(TrackSettings, ProximitySettings):
    """`[vehicle]`: the vehicle's id, where its gpsd listens, its track's cadence and the
    distances the alert rules use (docs/vehicle.md). Without it the gateway does not look for
    gpsd."""

    # The vehicle's id on its rows and in alert messages; the unit's id when not given.
    id: SafeId | None = None
    gpsd_host: str = "127.0.0.1"
    gpsd_port: int = Field(default=2947, ge=1, le=65535)

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.back_at_vehicle_m >= self.left_vehicle_m:
            raise ValueError("back_at_vehicle_m must be shorter than left_vehicle_m")
        return self


class GatewayConfig(BaseSettings):
    """Everything `bluewatch run` needs, validated before anything starts."""

    model_config = SettingsConfigDict(
        env_prefix="BLUEWATCH_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    agency: SafeId
    unit: SafeId
    officers: tuple[Officer, ...] = ()
    # Devices assigned at run time (docs/install.md, "Devices assigned at shift start").
    pool: tuple[PoolDevice, ...] = ()
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
    vehicle: VehicleSettings | None = None

    @model_validator(mode="after")
    def _listeners_apart(self) -> Self:
        api = self.dispatch_api
        if api.port and (api.host, api.port) == (self.http.host, self.http.port):
            raise ValueError(
                f"dispatch_api.port {api.port} is [http]'s own: write another port, or leave "
                "dispatch_api.port out to serve the dispatch API on [http]"
            )
        return self

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
                key = _device_key(device)
                if key in devices:
                    raise ValueError(f"device {key} is assigned twice (officer {officer.id!r})")
                devices.add(key)
        # A pool id is a device tag as a roster device's id is: the two must not meet.
        taken = {ref.device_id for ref in self.device_refs()}
        for device in self.pool:
            key = _device_key(device)
            if key in devices:
                raise ValueError(f"pool device {device.id!r} ({key}) is also in the roster or pool")
            if device.id in taken:
                raise ValueError(
                    f"pool device id {device.id!r} appears twice or names a roster device"
                )
            devices.add(key)
            taken.add(device.id)
        return self

    @property
    def unit_ref(self) -> UnitRef:
        return UnitRef(self.agency, self.unit)

    @property
    def state_dir(self) -> Path:
        """The state directory: the outbox's (the systemd unit's StateDirectory)."""
        return self.outbox.path.parent

    @property
    def key_store_path(self) -> Path:
        """The BLE bonds' key store (Bumble; BlueZ keeps its own)."""
        return self.state_dir / "ble-keys.json"

    @property
    def gatt_cache_path(self) -> Path:
        """The layouts of the wearables' GATT servers, by Database Hash (Bumble; BlueZ keeps
        its own)."""
        return self.state_dir / "gatt-cache.json"

    @property
    def bindings_path(self) -> Path:
        """The addresses name-only roster devices were bound to."""
        return self.state_dir / "ble-bindings.json"

    @property
    def vehicle_id(self) -> str:
        """The vehicle's id: `[vehicle] id`, else the unit's (a unit is usually one car)."""
        return (self.vehicle.id if self.vehicle else None) or self.unit

    def device_refs(self) -> list[DeviceRef]:
        """One reference per assigned device, `<officer>-<short name>` (`-2`… when repeated)."""
        unit = self.unit_ref
        refs: list[DeviceRef] = []
        for officer in self.officers:
            for device in officer.devices:
                same = [d for d in officer.devices if d.model is device.model]
                suffix = f"-{same.index(device) + 1}" if len(same) > 1 else ""
                device_id = f"{officer.id}-{PROFILES[device.model].short_name}{suffix}"
                refs.append(device.ref(unit, officer.id, device_id))
        return refs

    def pool_ref(self, device_id: str, officer_id: str) -> DeviceRef:
        """The reference of pool device `device_id` while `officer_id` holds it (KeyError if
        the pool has no such device); its `device` tag is its pool id."""
        device = next((d for d in self.pool if d.id == device_id), None)
        if device is None:
            raise KeyError(device_id)
        return device.ref(self.unit_ref, officer_id, device.id)

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


def _device_key(device: DeviceAssignment) -> str:
    """What tells devices apart on the air: the address, else the advertised name."""
    return device.address or f"name:{device.name}"


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
        given = error.get("input")
        # Only a single value is shown: an error about a whole section (a check across its
        # keys) would otherwise print every key of it, passwords included.
        shown = "" if _secret(key) or not _scalar(given) else f" (got {given!r})"
        problems.append(f"{path}: {key}: {error['msg']}{shown}")
    return "\n".join(problems)


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _secret(key: str) -> bool:
    return any(word in key for word in ("password", "token", "secret"))


def config_hash(config: GatewayConfig) -> str:
    """A short hash of the configuration in force (secrets excluded), recorded with alerts."""
    excluded = {"dispatch_api", "influx", "mqtt", "webhooks"}
    if config.vehicle is None:
        excluded.add("vehicle")  # configurations without one keep the hash they had
    if not config.pool:
        excluded.add("pool")  # likewise
    shape = config.model_dump(mode="json", exclude=excluded)
    if (
        config.outbox.quarantine_max_bytes
        == OutboxSettings.model_fields["quarantine_max_bytes"].default
    ):
        del shape["outbox"]["quarantine_max_bytes"]  # likewise: a setting added later
    text = json.dumps(shape, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def insecure_warnings(config: GatewayConfig) -> list[str]:
    """One line per section with `allow_insecure = true` and per device with `name_only =
    true`: said at every start and by check-config.

    Each exists for what cannot be done better (a network without TLS, a strap whose address
    is not known yet); neither must go unnoticed.
    """
    sections: list[tuple[str, bool]] = [
        ("[influx]", config.influx is not None and config.influx.allow_insecure),
        ("[mqtt]", config.mqtt is not None and config.mqtt.allow_insecure),
    ]
    sections += [(f"[[webhooks]] {w.name}", w.allow_insecure) for w in config.webhooks]
    warnings = [
        f"{section}: allow_insecure = true: credentials or data may cross the network "
        "unencrypted or to an unverified server"
        for section, allowed in sections
        if allowed
    ]
    warnings += [
        f"officer {officer.id}: {device.model.value} {device.name!r}: name_only = true: the "
        "first device advertising that name is taken as this one"
        for officer in config.officers
        for device in officer.devices
        if device.name_only
    ]
    return warnings


def summarise(config: GatewayConfig) -> dict[str, Any]:
    """What `check-config` prints: the shape of the configuration, never a secret."""
    return {
        "agency": config.agency,
        "unit": config.unit,
        "officers": [
            {
                "id": officer.id,
                "devices": [
                    {
                        "model": d.model.value,
                        "address": d.address,
                        "name": d.name,
                        "name_only": d.name_only,
                    }
                    for d in officer.devices
                ],
            }
            for officer in config.officers
        ],
        "pool": [
            {"id": d.id, "model": d.model.value, "address": d.address, "name": d.name}
            for d in config.pool
        ],
        "ble": config.ble.model_dump(),
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
            {
                "name": w.name,
                "url": w.shown_url(),
                "min_severity": w.min_severity,
                "format": w.format,
            }
            for w in config.webhooks
        ],
        "vehicle": None
        if config.vehicle is None
        else {**config.vehicle.model_dump(), "id": config.vehicle_id},
    }
