"""Device models as data: what each carries, what it provides, and how its streams start.

A roster names a model (`bluewatch-vest`, `generic-hrs`, …); the gateway reads these tables to
know what to subscribe to, how fresh each stream should be and what an officer wearing it can be
alerted on; the simulated firmware reads the same tables to know what to serve. Nothing here
branches on the model: a new model is a new row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from sensors.characteristic import Characteristic
from sensors.characteristics.battery import BatteryLevel
from sensors.characteristics.core_body_temperature import (
    CORE_COMPANY_ID,
    CORE_SERVICE_UUID,
    CoreAdvertisement,
    CoreBodyTemperature,
)
from sensors.characteristics.device_info import DEVICE_INFORMATION_TYPES
from sensors.characteristics.heart_rate import BodySensorLocation, HeartRateMeasurement
from sensors.characteristics.location import LocationAndSpeed
from sensors.characteristics.officer_safety import (
    AXIS_MAX_G,
    OFFICER_SAFETY_SERVICE_UUID,
    DeviceStatus,
    ImuBatch,
    SafetyEvent,
)
from sensors.characteristics.polar_advertisement import (
    POLAR_ADVERTISEMENT_COMPANY_ID,
    PolarHrAdvertisement,
)
from sensors.characteristics.thermometer import TemperatureMeasurement
from sensors.pmd.gatt import PMD_SERVICE_UUID
from sensors.pmd.measurement import MeasurementType
from sensors.pmd.settings import SettingType
from sensors.uuids import normalize_uuid, sig_uuid


class DeviceModel(StrEnum):
    """What a roster entry names (`model = "…"`)."""

    BLUEWATCH_VEST = "bluewatch-vest"
    BLUEWATCH_HELMET = "bluewatch-helmet"
    # Any strap with the Bluetooth SIG Heart Rate Service: Garmin HRM-Dual, Wahoo TICKR,
    # Zephyr HxM, Polar H9…
    GENERIC_HRS = "generic-hrs"
    # greenTEG CORE body-temperature sensor (docs/core-and-hrs.md).
    CORE = "core"
    # Polar's chest strap and arm band, streaming over Polar Measurement Data (docs/pmd.md).
    POLAR_H10 = "polar-h10"
    POLAR_VERITY_SENSE = "polar-verity-sense"


class Capability(StrEnum):
    """What a device provides; an officer's capabilities are the union of their devices'."""

    HEART_RATE = "heart_rate"
    RR_INTERVALS = "rr_intervals"
    SKIN_TEMPERATURE = "skin_temperature"
    CORE_TEMPERATURE = "core_temperature"
    ACCELERATION = "acceleration"
    LOCATION = "location"
    BATTERY = "battery"
    PANIC_BUTTON = "panic_button"  # panic and "I'm OK" presses
    HOLSTER = "holster"
    IMPACT = "impact"  # the device reports impacts it measured itself
    ECG = "ecg"  # a single-lead electrocardiogram (stored when the roster asks for it)


class Placement(StrEnum):
    """Where the device is worn: an accelerometer's meaning depends on it (a fall moves the
    trunk; an arm moves on its own)."""

    TORSO = "torso"
    HEAD = "head"
    ARM = "arm"


@dataclass(frozen=True, slots=True)
class Accelerometer:
    """A device's accelerometer: the rates and ranges it offers, and the ones used."""

    rates_hz: tuple[int, ...]
    ranges_g: tuple[float, ...]
    rate_hz: int
    range_g: float

    def __post_init__(self) -> None:
        if self.rate_hz not in self.rates_hz or self.range_g not in self.ranges_g:
            raise ValueError("the rate and range used must be among those offered")


@dataclass(frozen=True, slots=True)
class PmdStream:
    """One PMD stream a model offers, as data: how the gateway starts it (docs/pmd.md).

    `fixed` are the settings the start request always selects, in wire order; a stream that
    `uses_accelerometer` selects SAMPLE_RATE and RANGE from the device's accelerometer (the
    model's defaults, or the roster's choice among those offered) before them. A stream that is
    not `default_on` is started only when the roster asks for it (ECG).
    """

    measurement: MeasurementType
    fixed: tuple[tuple[SettingType, int], ...] = ()
    uses_accelerometer: bool = False
    default_on: bool = True

    def selection(self, accelerometer: Accelerometer | None) -> dict[SettingType, int]:
        """The settings of this stream's start request (empty for PPI, which takes none)."""
        chosen: dict[SettingType, int] = {}
        if self.uses_accelerometer:
            if accelerometer is None:
                raise ValueError(f"the {self.measurement} stream needs an accelerometer")
            chosen[SettingType.SAMPLE_RATE] = accelerometer.rate_hz
            chosen[SettingType.RANGE] = int(accelerometer.range_g)
        chosen.update(self.fixed)
        return chosen


class Property(StrEnum):
    READ = "read"
    NOTIFY = "notify"


@dataclass(frozen=True, slots=True)
class CharacteristicSpec:
    """One characteristic a device serves: its codec, properties and nominal notify period."""

    codec: type[Characteristic]
    properties: frozenset[Property]
    # Seconds between notifications in normal operation; None for on-event or read-only values.
    interval_s: float | None = None

    @property
    def uuid(self) -> str:
        return self.codec.UUID


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    uuid: str
    name: str
    characteristics: tuple[CharacteristicSpec, ...]
    # Optional services are used when present: a generic strap may or may not carry a battery.
    required: bool = True
    # A stand-in: used only on a device that lacks the characteristic with this UUID, whose
    # readings it then carries (a CORE's Health Thermometer stands in for its own service).
    fallback_for: str | None = None
    # Served only on an encrypted link: the device refuses to read it or subscribe to it
    # otherwise, so a client must bond first (the vendor Officer Safety service).
    encrypted: bool = False


class BroadcastUse(StrEnum):
    """When a gateway takes the reading a device broadcasts.

    UNCONNECTED: whenever no link brings it (a CORE: its advertised core temperature is the
    value its service notifies, so it bridges connects and reconnects without harm).
    HELD_ELSEWHERE: only while another central holds the device's one connection (a Polar
    sensor: its advertised heart rate is a smoothed average without RR; during the second or
    two of a connect it would put averaged values between the sensor's own ones and feed the
    alert rules a lagging rate, while held by a phone it is all there is, for minutes).
    """

    UNCONNECTED = "unconnected"
    HELD_ELSEWHERE = "held_elsewhere"


@dataclass(frozen=True, slots=True)
class BroadcastSpec:
    """A reading a device puts in its advertisement's manufacturer data: readable unconnected."""

    company_id: int
    codec: type[Characteristic]
    use: BroadcastUse = BroadcastUse.UNCONNECTED


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    model: DeviceModel
    # Names the device in ids and dashboards: `officer-01-vest`.
    short_name: str
    name_prefix: str
    # What the device puts in its advertisement; a scanner recognises the model from this set.
    advertised_services: frozenset[str]
    services: tuple[ServiceSpec, ...]
    placement: Placement
    capabilities: frozenset[Capability]
    accelerometer: Accelerometer | None = None
    broadcast: BroadcastSpec | None = None
    # A Bluetooth SIG company id in the advertisement's manufacturer data. A model that sets it
    # is recognised by it and by its name prefix, never by its services alone: a Polar H10
    # advertises only the Heart Rate Service, as any strap does.
    manufacturer_id: int | None = None
    # The PMD streams the gateway starts on connect (empty: the device has no PMD service).
    pmd_streams: tuple[PmdStream, ...] = ()
    # Accepts one central at a time: while another holds it, connecting fails (Polar H10 and
    # Verity Sense by default, polar-ble-sdk #164, #284, #364).
    single_connection: bool = False

    @property
    def service_uuids(self) -> tuple[str, ...]:
        """Every service the gateway discovers: the table's, and PMD's when streams are used."""
        table = tuple(service.uuid for service in self.services)
        return (*table, PMD_SERVICE_UUID) if self.pmd_streams else table

    @property
    def bonds(self) -> bool:
        """Whether a client must bond (pair, then encrypt every link) to use this device: it
        serves a service only on an encrypted link."""
        return any(service.encrypted for service in self.services)

    def characteristics(self) -> Iterable[CharacteristicSpec]:
        for service in self.services:
            yield from service.characteristics

    def notified(self) -> tuple[CharacteristicSpec, ...]:
        return tuple(c for c in self.characteristics() if Property.NOTIFY in c.properties)

    def in_use(self, present: Iterable[str]) -> tuple[CharacteristicSpec, ...]:
        """What a client reads and subscribes to on a unit serving the characteristics `present`
        (UUIDs): every one of a required service, those present of an optional one, and a
        stand-in's only while the characteristic it stands in for is missing."""
        served = {normalize_uuid(uuid) for uuid in present}
        return tuple(
            spec
            for service in self.services
            if service.fallback_for is None or service.fallback_for not in served
            for spec in service.characteristics
            if service.required or spec.uuid in served
        )

    def service_of(self, uuid: str) -> ServiceSpec | None:
        """The service that carries the characteristic `uuid`, if the profile has it."""
        return next(
            (s for s in self.services if any(c.uuid == uuid for c in s.characteristics)), None
        )


READ = frozenset({Property.READ})
NOTIFY = frozenset({Property.NOTIFY})
READ_NOTIFY = frozenset({Property.READ, Property.NOTIFY})

HEART_RATE_SERVICE: Final = sig_uuid(0x180D)
HEALTH_THERMOMETER_SERVICE: Final = sig_uuid(0x1809)
BATTERY_SERVICE: Final = sig_uuid(0x180F)
DEVICE_INFORMATION_SERVICE: Final = sig_uuid(0x180A)
LOCATION_NAVIGATION_SERVICE: Final = sig_uuid(0x1819)

# Rates: heart rate once a second (the HRS norm), skin temperature every 5 s (it changes over
# minutes), location at the 1 Hz of a GNSS fix, battery every minute, device status every minute
# (its ticks let the gateway track clock drift). IMU notifications carry batches at imu_rate_hz.
_BATTERY = ServiceSpec(
    BATTERY_SERVICE, "Battery", (CharacteristicSpec(BatteryLevel, READ_NOTIFY, 60.0),)
)
_DEVICE_INFORMATION = ServiceSpec(
    DEVICE_INFORMATION_SERVICE,
    "Device Information",
    tuple(CharacteristicSpec(codec, READ) for codec in DEVICE_INFORMATION_TYPES),
)


# The Heart Rate Service as the vest and every strap carry it (HRS 1.0).
_HEART_RATE = ServiceSpec(
    HEART_RATE_SERVICE,
    "Heart Rate",
    (
        CharacteristicSpec(HeartRateMeasurement, NOTIFY, 1.0),
        CharacteristicSpec(BodySensorLocation, READ),
    ),
)


# Both devices carry the same vendor service: the vest sends panic, holster, "I'm OK" and fall
# events on it, the helmet sends impacts. An "I'm OK" or a burst of motion cancels an
# officer-down pre-alert, so the firmware serves it only on an encrypted (bonded) link.
_OFFICER_SAFETY = ServiceSpec(
    OFFICER_SAFETY_SERVICE_UUID,
    "Officer Safety",
    (
        CharacteristicSpec(ImuBatch, NOTIFY),
        CharacteristicSpec(SafetyEvent, NOTIFY),
        CharacteristicSpec(DeviceStatus, READ_NOTIFY, 60.0),
    ),
    encrypted=True,
)


# The vest's IMU batches are int16 milli-g (±AXIS_MAX_G, docs/gatt-profile.md) at a fixed 50 Hz.
_BLUEWATCH_IMU = Accelerometer(
    rates_hz=(50,), ranges_g=(AXIS_MAX_G,), rate_hz=50, range_g=AXIS_MAX_G
)

VEST: Final = DeviceProfile(
    model=DeviceModel.BLUEWATCH_VEST,
    short_name="vest",
    name_prefix="BW-Vest",
    advertised_services=frozenset({OFFICER_SAFETY_SERVICE_UUID, HEART_RATE_SERVICE}),
    services=(
        _HEART_RATE,
        ServiceSpec(
            HEALTH_THERMOMETER_SERVICE,
            "Health Thermometer",
            (CharacteristicSpec(TemperatureMeasurement, NOTIFY, 5.0),),
        ),
        _OFFICER_SAFETY,
        _BATTERY,
        _DEVICE_INFORMATION,
    ),
    placement=Placement.TORSO,
    capabilities=frozenset(
        {
            Capability.HEART_RATE,
            Capability.RR_INTERVALS,
            Capability.SKIN_TEMPERATURE,
            Capability.ACCELERATION,
            Capability.BATTERY,
            Capability.PANIC_BUTTON,
            Capability.HOLSTER,
        }
    ),
    accelerometer=_BLUEWATCH_IMU,
)

HELMET: Final = DeviceProfile(
    model=DeviceModel.BLUEWATCH_HELMET,
    short_name="helmet",
    name_prefix="BW-Helmet",
    advertised_services=frozenset({OFFICER_SAFETY_SERVICE_UUID, LOCATION_NAVIGATION_SERVICE}),
    services=(
        ServiceSpec(
            LOCATION_NAVIGATION_SERVICE,
            "Location and Navigation",
            (CharacteristicSpec(LocationAndSpeed, NOTIFY, 1.0),),
        ),
        _OFFICER_SAFETY,
        _BATTERY,
        _DEVICE_INFORMATION,
    ),
    placement=Placement.HEAD,
    capabilities=frozenset(
        {Capability.LOCATION, Capability.ACCELERATION, Capability.BATTERY, Capability.IMPACT}
    ),
    accelerometer=_BLUEWATCH_IMU,
)

# The Heart Rate Service alone, as every strap has it (HRS 1.0); battery and device information
# are common but not universal, so they are used when present. Worn on the chest.
GENERIC_HRS: Final = DeviceProfile(
    model=DeviceModel.GENERIC_HRS,
    short_name="hrs",
    name_prefix="",
    advertised_services=frozenset({HEART_RATE_SERVICE}),
    services=(
        _HEART_RATE,
        ServiceSpec(
            BATTERY_SERVICE,
            "Battery",
            (CharacteristicSpec(BatteryLevel, READ_NOTIFY, 60.0),),
            required=False,
        ),
    ),
    placement=Placement.TORSO,
    capabilities=frozenset({Capability.HEART_RATE, Capability.RR_INTERVALS, Capability.BATTERY}),
)

# The CORE's own service carries core and skin temperature at about 1 Hz; it is identified by
# that service, never by its name (notes §2.1). Its Health Thermometer service repeats the core
# temperature (every 10 s, notes §2.3) for clients without the vendor service: it stands in only
# when the vendor characteristic is missing, so one temperature is never stored twice under two
# names. The advertisement carries the core temperature too (notes §2.1 Table 2). Worn on the
# chest (a strap clip or a patch), hence torso.
CORE: Final = DeviceProfile(
    model=DeviceModel.CORE,
    short_name="core",
    name_prefix="CORE",
    advertised_services=frozenset({CORE_SERVICE_UUID}),
    services=(
        ServiceSpec(
            CORE_SERVICE_UUID,
            "Core Body Temperature",
            (CharacteristicSpec(CoreBodyTemperature, NOTIFY, 1.0),),
            required=False,
        ),
        ServiceSpec(
            HEALTH_THERMOMETER_SERVICE,
            "Health Thermometer",
            (CharacteristicSpec(TemperatureMeasurement, NOTIFY, 10.0),),
            required=False,
            fallback_for=CoreBodyTemperature.UUID,
        ),
        ServiceSpec(
            BATTERY_SERVICE,
            "Battery",
            (CharacteristicSpec(BatteryLevel, READ, None),),
            required=False,
        ),
    ),
    placement=Placement.TORSO,
    capabilities=frozenset(
        {Capability.CORE_TEMPERATURE, Capability.SKIN_TEMPERATURE, Capability.BATTERY}
    ),
    broadcast=BroadcastSpec(CORE_COMPANY_ID, CoreAdvertisement),
)

# Polar's Bluetooth SIG company id (0x006B), which starts its advertisements' manufacturer data
# (polar-ble-sdk `BleAdvertisementContent.kt`; the notes' section 3).
POLAR_COMPANY_ID: Final = POLAR_ADVERTISEMENT_COMPANY_ID
# The heart rate a Polar sensor broadcasts (BlePolarHrAdvertisement), used while a phone holds
# the sensor (`BroadcastUse.HELD_ELSEWHERE` says why not otherwise).
_POLAR_BROADCAST = BroadcastSpec(
    POLAR_COMPANY_ID, PolarHrAdvertisement, use=BroadcastUse.HELD_ELSEWHERE
)
_POLAR_HEART_RATE = ServiceSpec(
    HEART_RATE_SERVICE, "Heart Rate", (CharacteristicSpec(HeartRateMeasurement, NOTIFY, 1.0),)
)
# PMD ACC: 16-bit samples (the only resolution either sensor offers: 2021 spec p.9-10, the H10
# and Verity settings responses in its diagrams). The Verity refuses a start without CHANNELS
# and takes it as one byte (bleakheart #10).
_ACC_16_BIT = ((SettingType.RESOLUTION, 16),)

# Polar H10 chest strap (polar-ble-sdk documentation/products/PolarH10.md): HR and RR over the
# Heart Rate Service, ECG (130 Hz, 14-bit, uV; off unless the roster asks) and acceleration
# (25/50/100/200 Hz at +-2/4/8 g, 16-bit, mG) over PMD. The gateway starts ACC at 50 Hz and
# +-8 g: the vest's rate, inside the 20-200 Hz the fall detector was evaluated at, a quarter of
# 200 Hz's radio load, and the widest range, so an impact is not clipped (docs/algorithms.md
# on clipped impacts). Worn on the chest: a fall moves it.
POLAR_H10: Final = DeviceProfile(
    model=DeviceModel.POLAR_H10,
    short_name="h10",
    # "Polar H10 8C4A1B2D": model, then the device id (polar-ble-sdk README, "Polar H10 …").
    name_prefix="Polar H10",
    advertised_services=frozenset({HEART_RATE_SERVICE}),
    services=(_POLAR_HEART_RATE, _BATTERY, _DEVICE_INFORMATION),
    placement=Placement.TORSO,
    capabilities=frozenset(
        {
            Capability.HEART_RATE,
            Capability.RR_INTERVALS,
            Capability.ACCELERATION,
            Capability.ECG,
            Capability.BATTERY,
        }
    ),
    accelerometer=Accelerometer(
        rates_hz=(25, 50, 100, 200), ranges_g=(2.0, 4.0, 8.0), rate_hz=50, range_g=8.0
    ),
    manufacturer_id=POLAR_COMPANY_ID,
    broadcast=_POLAR_BROADCAST,
    single_connection=True,
    pmd_streams=(
        PmdStream(MeasurementType.ACC, _ACC_16_BIT, uses_accelerometer=True),
        # The H10's only ECG setting (real capture, phdiethelm/h10_ecg: `01 00` answered with
        # SAMPLE_RATE 130, RESOLUTION 14).
        PmdStream(
            MeasurementType.ECG,
            ((SettingType.SAMPLE_RATE, 130), (SettingType.RESOLUTION, 14)),
            default_on=False,
        ),
    ),
)

# Polar Verity Sense arm band (PolarVeritySense.md): HR over the Heart Rate Service; PPI (the
# optical peak-to-peak interval, used as RR) and acceleration (normal mode: 52 Hz, +-8 g, 16-bit,
# delta-compressed) over PMD. Worn on the upper arm: its accelerometer is telemetry, not a
# man-down source (docs/algorithms.md, "Arm-worn sensors").
POLAR_VERITY_SENSE: Final = DeviceProfile(
    model=DeviceModel.POLAR_VERITY_SENSE,
    short_name="verity",
    name_prefix="Polar Sense",
    advertised_services=frozenset({HEART_RATE_SERVICE}),
    services=(_POLAR_HEART_RATE, _BATTERY, _DEVICE_INFORMATION),
    placement=Placement.ARM,
    capabilities=frozenset(
        {
            Capability.HEART_RATE,
            Capability.RR_INTERVALS,
            Capability.ACCELERATION,
            Capability.BATTERY,
        }
    ),
    accelerometer=Accelerometer(rates_hz=(52,), ranges_g=(8.0,), rate_hz=52, range_g=8.0),
    manufacturer_id=POLAR_COMPANY_ID,
    broadcast=_POLAR_BROADCAST,
    single_connection=True,
    pmd_streams=(
        PmdStream(
            MeasurementType.ACC,
            (*_ACC_16_BIT, (SettingType.CHANNELS, 3)),
            uses_accelerometer=True,
        ),
        # PPI starts without settings (BlePMDClient.startMeasurement with an empty setting).
        PmdStream(MeasurementType.PPI),
    ),
)

PROFILES: Final[Mapping[DeviceModel, DeviceProfile]] = MappingProxyType(
    {
        profile.model: profile
        for profile in (VEST, HELMET, GENERIC_HRS, CORE, POLAR_H10, POLAR_VERITY_SENSE)
    }
)


def profile_for_services(service_uuids: Iterable[str]) -> DeviceProfile | None:
    """The most specific profile whose advertised services all appear in `service_uuids`.

    A vest advertises the Heart Rate Service too: the profile that explains the most advertised
    services wins, and a tie (two models equally likely) recognises nothing.
    """
    seen = {normalize_uuid(uuid) for uuid in service_uuids}
    matches = [
        p for p in PROFILES.values() if p.manufacturer_id is None and p.advertised_services <= seen
    ]
    if not matches:
        return None
    best = max(len(p.advertised_services) for p in matches)
    winners = [p for p in matches if len(p.advertised_services) == best]
    return winners[0] if len(winners) == 1 else None


def profile_for_advertisement(
    service_uuids: Iterable[str], local_name: str | None, manufacturer_ids: Iterable[int]
) -> DeviceProfile | None:
    """The model an advertisement shows: by company id and name prefix where the model has a
    company id (a Polar H10 is "Polar H10 …" with Polar's id), else by services alone."""
    seen = {normalize_uuid(uuid) for uuid in service_uuids}
    companies = set(manufacturer_ids)
    named = [
        p
        for p in PROFILES.values()
        if p.manufacturer_id is not None
        and p.manufacturer_id in companies
        and local_name is not None
        and local_name.startswith(f"{p.name_prefix} ")
        and p.advertised_services <= seen
    ]
    if len(named) == 1:
        return named[0]
    return profile_for_services(seen)
