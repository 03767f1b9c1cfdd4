"""Hypothesis strategies for every valid reading: arbitrary values within each field's range.

Floats are drawn freely (not from the wire grid): the models hold values at wire resolution, so
a round trip must hold for any value a firmware author might pass in.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from sensors import (
    BatteryLevel,
    BodySensorLocation,
    Characteristic,
    CoreBodyTemperature,
    CoreDataQuality,
    DeviceStatus,
    ElevationSource,
    FirmwareRevision,
    HardwareRevision,
    HeadingSource,
    HeartRateControlCommand,
    HeartRateControlPoint,
    HeartRateMeasurement,
    HeartRateMonitorState,
    ImuBatch,
    LocationAndSpeed,
    ManufacturerName,
    ModelNumber,
    PmdDataFrame,
    PositionStatus,
    SafetyEvent,
    SafetyEventKind,
    SensorContact,
    SensorLocation,
    SerialNumber,
    SoftwareRevision,
    SpecialValue,
    SpeedDistanceFormat,
    TemperatureMeasurement,
    TemperatureType,
)
from tests.sensors.pmd_strategies import data_frames


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    # Keep clear of the bounds by less than half a wire step, so quantizing stays in range.
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


device_times = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31))  # noqa: DTZ001

heart_rate = st.builds(
    HeartRateMeasurement,
    heart_rate_bpm=st.integers(0, 0xFFFF),
    sensor_contact=st.sampled_from(SensorContact),
    energy_expended_kj=_optional(st.integers(0, 0xFFFF)),
    rr_intervals_s=st.lists(_floats(0, 63.99), max_size=9).map(tuple),
)
heart_rate_control_point = st.builds(
    HeartRateControlPoint, command=st.sampled_from(HeartRateControlCommand)
)
body_sensor_location = st.builds(
    BodySensorLocation, body_sensor_location=st.sampled_from(SensorLocation)
)
temperature = st.one_of(
    st.builds(
        TemperatureMeasurement,
        temperature_c=_floats(-273.15, 800.0),
        temperature_type=_optional(st.sampled_from(TemperatureType)),
        timestamp=_optional(device_times),
    ),
    st.builds(
        TemperatureMeasurement,
        special_value=st.sampled_from(SpecialValue),
        temperature_type=_optional(st.sampled_from(TemperatureType)),
        timestamp=_optional(device_times),
    ),
)


@st.composite
def location(draw: st.DrawFn) -> LocationAndSpeed:
    has_position = draw(st.booleans())
    return LocationAndSpeed(
        speed_mps=draw(_optional(_floats(0, 655.35))),
        total_distance_m=draw(_optional(_floats(0, 1_677_721.5))),
        latitude_deg=draw(_floats(-90, 90)) if has_position else None,
        longitude_deg=draw(_floats(-180, 180)) if has_position else None,
        elevation_m=draw(_optional(_floats(-83_886.08, 83_886.07))),
        heading_deg=draw(_optional(_floats(0, 359.99))),
        rolling_time_s=draw(_optional(st.integers(0, 255))),
        utc_time=draw(_optional(device_times)),
        position_status=draw(st.sampled_from(PositionStatus)),
        speed_distance_format=draw(st.sampled_from(SpeedDistanceFormat)),
        elevation_source=draw(st.sampled_from(ElevationSource)),
        heading_source=draw(st.sampled_from(HeadingSource)),
    )


battery = st.builds(BatteryLevel, battery_pct=st.integers(0, 100))
_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=120
)
device_information = {
    codec: st.builds(codec, text=_text)
    for codec in (
        ManufacturerName,
        ModelNumber,
        SerialNumber,
        HardwareRevision,
        FirmwareRevision,
        SoftwareRevision,
    )
}
_axis = _floats(-32.768, 32.767)
imu_batch = st.builds(
    ImuBatch,
    sample_rate_hz=st.integers(1, 200),
    first_sample_index=st.integers(0, 2**32 - 1),
    samples_g=st.lists(st.tuples(_axis, _axis, _axis), min_size=1, max_size=39).map(tuple),
)
safety_event = st.builds(
    SafetyEvent,
    event=st.sampled_from(SafetyEventKind),
    sequence=st.integers(0, 0xFFFF),
    device_ticks_ms=st.integers(0, 2**32 - 1),
    peak_accel_g=_optional(_floats(0, 655.34)),
)
device_status = st.builds(
    DeviceStatus,
    firmware_version=st.tuples(*(st.integers(0, 255) for _ in range(3))).map(
        lambda parts: ".".join(map(str, parts))
    ),
    device_ticks_ms=st.integers(0, 2**32 - 1),
    boot_count=st.integers(0, 0xFFFF),
    charging=st.booleans(),
    sensor_fault=st.booleans(),
)

core_body_temperature = st.builds(
    CoreBodyTemperature,
    core_temperature_c=_optional(_floats(-327.68, 327.66)),
    skin_temperature_c=_optional(_floats(-327.68, 327.67)),
    core_reserved=_optional(st.integers(-0x8000, 0x7FFF)),
    quality=_optional(st.sampled_from(CoreDataQuality)),
    heart_rate_monitor=_optional(st.sampled_from(HeartRateMonitorState)),
    heart_rate_bpm=_optional(st.integers(1, 255)),
    heat_strain_index=_optional(_floats(0, 25.4)),
)

ALL_READINGS: dict[type[Characteristic], st.SearchStrategy[Characteristic]] = {
    HeartRateMeasurement: heart_rate,
    BodySensorLocation: body_sensor_location,
    TemperatureMeasurement: temperature,
    LocationAndSpeed: location(),
    BatteryLevel: battery,
    **device_information,
    ImuBatch: imu_batch,
    SafetyEvent: safety_event,
    DeviceStatus: device_status,
    HeartRateControlPoint: heart_rate_control_point,
    CoreBodyTemperature: core_body_temperature,
    PmdDataFrame: data_frames(),
}
