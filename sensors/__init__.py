"""Bluewatch's pure codec library: GATT bytes to frozen readings in named units, and back.

No I/O, no clock, no asyncio: the gateway decodes with it and the simulated firmware encodes
with it, so there is exactly one codec for every characteristic.
"""

from sensors.characteristic import Characteristic
from sensors.characteristics.battery import BatteryLevel
from sensors.characteristics.core_body_temperature import (
    CORE_COMPANY_ID,
    CORE_LEGACY_SERVICE_UUID,
    CORE_SERVICE_UUID,
    CoreAdvertisement,
    CoreBodyTemperature,
    CoreDataQuality,
    HeartRateMonitorState,
)
from sensors.characteristics.device_info import (
    FirmwareRevision,
    HardwareRevision,
    ManufacturerName,
    ModelNumber,
    SerialNumber,
    SoftwareRevision,
)
from sensors.characteristics.heart_rate import (
    BodySensorLocation,
    HeartRateControlCommand,
    HeartRateControlPoint,
    HeartRateMeasurement,
    SensorContact,
    SensorLocation,
)
from sensors.characteristics.location import (
    ElevationSource,
    HeadingSource,
    LocationAndSpeed,
    PositionStatus,
    SpeedDistanceFormat,
)
from sensors.characteristics.officer_safety import (
    OFFICER_SAFETY_SERVICE_UUID,
    SAMPLE_INDEX_MODULO,
    DeviceStatus,
    ImuBatch,
    SafetyEvent,
    SafetyEventKind,
    imu_samples_per_notification,
)
from sensors.characteristics.thermometer import TemperatureMeasurement, TemperatureType
from sensors.codecs import CHARACTERISTIC_TYPES, CODECS, codec_for, decode
from sensors.errors import DecodeError, DecodeErrorKind
from sensors.pmd import PmdDataFrame
from sensors.profiles import (
    CORE,
    GENERIC_HRS,
    HELMET,
    POLAR_COMPANY_ID,
    POLAR_H10,
    POLAR_VERITY_SENSE,
    PROFILES,
    VEST,
    Accelerometer,
    BroadcastUse,
    Capability,
    CharacteristicSpec,
    DeviceModel,
    DeviceProfile,
    Placement,
    PmdStream,
    ServiceSpec,
    profile_for_advertisement,
    profile_for_services,
)
from sensors.uuids import normalize_uuid, sig_uuid, vendor_uuid
from sensors.wire import SpecialValue

__all__ = [
    "CHARACTERISTIC_TYPES",
    "CODECS",
    "CORE",
    "CORE_COMPANY_ID",
    "CORE_LEGACY_SERVICE_UUID",
    "CORE_SERVICE_UUID",
    "GENERIC_HRS",
    "HELMET",
    "OFFICER_SAFETY_SERVICE_UUID",
    "POLAR_COMPANY_ID",
    "POLAR_H10",
    "POLAR_VERITY_SENSE",
    "PROFILES",
    "SAMPLE_INDEX_MODULO",
    "VEST",
    "Accelerometer",
    "BatteryLevel",
    "BodySensorLocation",
    "BroadcastUse",
    "Capability",
    "Characteristic",
    "CharacteristicSpec",
    "CoreAdvertisement",
    "CoreBodyTemperature",
    "CoreDataQuality",
    "DecodeError",
    "DecodeErrorKind",
    "DeviceModel",
    "DeviceProfile",
    "DeviceStatus",
    "ElevationSource",
    "FirmwareRevision",
    "HardwareRevision",
    "HeadingSource",
    "HeartRateControlCommand",
    "HeartRateControlPoint",
    "HeartRateMeasurement",
    "HeartRateMonitorState",
    "ImuBatch",
    "LocationAndSpeed",
    "ManufacturerName",
    "ModelNumber",
    "Placement",
    "PmdDataFrame",
    "PmdStream",
    "PositionStatus",
    "SafetyEvent",
    "SafetyEventKind",
    "SensorContact",
    "SensorLocation",
    "SerialNumber",
    "ServiceSpec",
    "SoftwareRevision",
    "SpecialValue",
    "SpeedDistanceFormat",
    "TemperatureMeasurement",
    "TemperatureType",
    "codec_for",
    "decode",
    "imu_samples_per_notification",
    "normalize_uuid",
    "profile_for_advertisement",
    "profile_for_services",
    "sig_uuid",
    "vendor_uuid",
]
