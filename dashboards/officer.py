"""Officer detail: one officer's vitals, strain, activity, route, alerts and devices over time.

Where a supervisor goes from a red row on the fleet overview: to see how the situation built
up (heart rate and strain trends, the fall in the activity timeline, the route taken) and
whether the devices can be trusted (battery, signal).
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import geomap, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import geomap as geomap_models

from dashboards.common import (
    ALERT_TABLE_OVERRIDES,
    CORE_TEMP_THRESHOLDS,
    GREEN,
    INTENSITIES,
    OFFICER_SCOPE,
    ORANGE,
    POSTURES,
    PSI_THRESHOLDS,
    RED,
    YELLOW,
    alert_rows_query,
    base_dashboard,
    datasource_ref,
    markers_layer,
    prop,
    thresholds,
    timeseries_panel,
    value_map,
)
from dashboards.influxql import Condition, Fill, InfluxQLQuery, Select, fn

UID: Final = "bluewatch-officer-detail"
BY_OFFICER: Final = "$tag_officer"


def _trend(
    measurement: str,
    ref_id: str,
    *fields: Select,
    alias: str = BY_OFFICER,
    where: tuple[Condition, ...] = (),
    group_by: tuple[str, ...] = ("officer",),
    fill: Fill = "none",
) -> InfluxQLQuery:
    """Values per dashboard interval per officer (or device), for a time-series panel."""
    return InfluxQLQuery(
        measurement,
        fields,
        where=(*OFFICER_SCOPE, *where),
        group_by_time="$__interval",
        group_by_tags=group_by,
        fill=fill,
        ref_id=ref_id,
        alias=alias,
    )


def _timeseries(title: str, description: str, width: int = 12) -> timeseries.Panel:
    # Gaps stay gaps: a line drawn across a lost link would invent data about the officer.
    return timeseries_panel(title, description, width).span_nulls(False)


def _threshold_bands() -> common_builders.GraphThresholdsStyleConfig:
    return common_builders.GraphThresholdsStyleConfig().mode(
        common_models.GraphThresholdsStyleMode.LINE_AND_AREA
    )


def heart_rate_panel() -> timeseries.Panel:
    """Heart rate per interval: the mean, so a minute's trend is not hidden by one beat."""
    return (
        _timeseries(
            "Heart rate",
            "Mean heart rate per interval from the vest (1 Hz readings).",
        )
        .with_target(_trend("heart_rate", "HR", fn("mean", "bpm", "heart_rate_bpm")))
        .unit("suffix: bpm")
    )


def rmssd_query() -> InfluxQLQuery:
    """RMSSD per interval: root mean square of successive RR differences (the vagal HRV index).

    The inner query squares each beat-to-beat difference per officer (InfluxDB 1.6 has `pow`
    and `sqrt`); the outer one averages the squares per interval and takes the root. A gap
    between recordings contributes one large difference, so read single spikes with care.
    """
    successive = InfluxQLQuery(
        "rr_interval",
        (Select("rr_s").apply("difference").apply("pow", 2).named("sq_diff_s2"),),
        where=OFFICER_SCOPE,
        group_by_tags=("officer",),
    )
    return InfluxQLQuery(
        successive,
        (Select("sq_diff_s2").apply("mean").apply("sqrt").named("rmssd_s"),),
        group_by_time="$__interval",
        group_by_tags=("officer",),
        fill="none",
        ref_id="RMSSD",
        alias="RMSSD $tag_officer",
    )


def hrv_panel() -> timeseries.Panel:
    """RR intervals and their variability: falling RMSSD is strain, not just a busy minute."""
    return (
        _timeseries(
            "RR intervals and HRV",
            "Mean RR interval per interval (left axis) and RMSSD of successive RR intervals "
            "(right axis). Both in seconds; RMSSD falls under physical and heat strain.",
        )
        .with_target(
            _trend("rr_interval", "RR", fn("mean", "rr_s", "rr_s"), alias="RR $tag_officer")
        )
        .with_target(rmssd_query())
        .unit("s")
        .override_by_query("RMSSD", [prop("custom.axisPlacement", "right")])
    )


def core_temp_panel() -> timeseries.Panel:
    """Estimated core temperature with heat bands: the slow variable behind heat strain."""
    return (
        _timeseries(
            "Core temperature (estimate)",
            "Core temperature estimated from heart rate once a minute (Buller 2013). An "
            "indicator of thermal strain (±0.6 °C), not a thermometer. Bands: 38.0, 38.5, 39.5 °C.",
        )
        .with_target(
            _trend("physiology", "CORE", fn("last", "core_temp_c", "core_temp_c"), fill="none")
        )
        .unit("celsius")
        .decimals(2)
        .axis_soft_min(37)
        .axis_soft_max(40)
        .thresholds(thresholds(*CORE_TEMP_THRESHOLDS))
        .thresholds_style(_threshold_bands())
    )


def psi_panel() -> timeseries.Panel:
    """PSI with the alert engine's bands: warning at 7, high at 9."""
    return (
        _timeseries(
            "Physiological Strain Index",
            "PSI 0 to 10 (Moran 1998) from core temperature and heart rate. The alert engine "
            "warns at 7 and raises a high heat-strain alert at 9; it clears below 6.",
        )
        .with_target(_trend("physiology", "PSI", fn("last", "psi", "psi")))
        .decimals(1)
        .min(0)
        .max(10)
        .thresholds(thresholds(*PSI_THRESHOLDS))
        .thresholds_style(_threshold_bands())
    )


def activity_timeline() -> statetimeline.Panel:
    """Intensity and posture as coloured bands: a fall shows as vigorous then lying, still."""
    vest = (Condition("placement", "=", "torso"),)
    return (
        statetimeline.Panel()
        .title("Activity and posture")
        .description(
            "From the vest's IMU, one summary per second: intensity (still … vigorous) and "
            "posture (upright, inclined, lying). Lying and still after a fall is man-down."
        )
        .datasource(datasource_ref())
        .span(12)
        .height(8)
        .with_target(
            _trend(
                "activity",
                "INTENSITY",
                fn("last", "intensity", "intensity"),
                alias="intensity $tag_officer",
                where=vest,
            )
        )
        .with_target(
            _trend(
                "activity",
                "POSTURE",
                fn("last", "posture", "posture"),
                alias="posture $tag_officer",
                where=vest,
            )
        )
        .mappings(value_map({**INTENSITIES, **POSTURES}))
        .show_value(common_models.VisibilityMode.AUTO)
        .merge_values(True)
    )


def motion_panel() -> timeseries.Panel:
    """Acceleration variability and peaks: how hard the officer is moving, and impacts."""
    return (
        _timeseries(
            "Movement (vest IMU)",
            "Per interval: the mean of each second's acceleration standard deviation (how much "
            "the officer moves) and the peak acceleration (impacts).",
        )
        .with_target(
            _trend(
                "activity",
                "STD",
                fn("mean", "std_g", "std_g"),
                alias="std $tag_officer",
                where=(Condition("placement", "=", "torso"),),
            )
        )
        .with_target(
            _trend(
                "activity",
                "PEAK",
                fn("max", "peak_g", "peak_g"),
                alias="peak $tag_officer",
                where=(Condition("placement", "=", "torso"),),
            )
        )
        .unit("suffix: g")
        .override_by_query("PEAK", [prop("custom.axisPlacement", "right")])
    )


def route_map() -> geomap.Panel:
    """The route walked, from the helmet's GNSS: where the officer went before an alert."""
    trail = markers_layer("Trail").config(
        {
            "showLegend": False,
            "style": {
                "color": {"fixed": "blue"},
                "size": {"fixed": 4},
                "opacity": 0.7,
                "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
            },
        }
    )
    return (
        geomap.Panel()
        .title("Route")
        .description("Helmet GNSS positions, one per interval, over the time range.")
        .datasource(datasource_ref())
        .span(12)
        .height(12)
        .with_target(
            InfluxQLQuery(
                "location",
                (
                    fn("last", "latitude_deg", "latitude_deg"),
                    fn("last", "longitude_deg", "longitude_deg"),
                ),
                where=OFFICER_SCOPE,
                group_by_time="$__interval",
                group_by_tags=("officer",),
                fill="none",
                result_format="table",
                ref_id="ROUTE",
            )
        )
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([trail])
        .view(
            geomap.MapViewConfig()
            .id(geomap_models.MapCenterID.FIT.value)
            .all_layers(True)
            .zoom(16)
            .max_zoom(18)
        )
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .tooltip(geomap.TooltipOptions().mode(geomap_models.TooltipMode.DETAILS))
    )


def alerts_panel() -> table.Panel:
    """This officer's alert history, the same columns as on the fleet overview."""
    panel = (
        table.Panel()
        .title("Alerts")
        .description("Every alert state change for the officer, newest first.")
        .datasource(datasource_ref())
        .span(12)
        .height(12)
        .with_target(alert_rows_query(limit=100))
        .sort_by([common_builders.TableSortByFieldState().display_name("Time").desc(True)])
    )
    for column, properties in ALERT_TABLE_OVERRIDES.items():
        panel = panel.override_by_name(column, properties)
    return panel


def battery_panel() -> timeseries.Panel:
    """Battery per device: a draining device is a blind spot coming."""
    return (
        _timeseries("Device battery", "Battery level per vest and helmet (every 60 s).")
        .with_target(
            _trend(
                "battery",
                "BAT",
                fn("last", "pct", "pct"),
                alias="$tag_device",
                group_by=("device",),
            )
        )
        .unit("percent")
        .min(0)
        .max(100)
        .thresholds(thresholds((None, RED), (15, ORANGE), (25, GREEN)))
        .thresholds_style(_threshold_bands())
    )


def rssi_panel() -> timeseries.Panel:
    """Signal strength per device: falling RSSI explains stale and lost links."""
    return (
        _timeseries(
            "Device signal (RSSI)",
            "Received signal strength per device at the gateway (every 10 s). Below about "
            "-85 dBm notifications start to drop.",
        )
        .with_target(
            _trend(
                "link",
                "RSSI",
                fn("mean", "rssi_dbm", "rssi_dbm"),
                alias="$tag_device",
                group_by=("device",),
            )
        )
        .unit("dBm")
        .thresholds(thresholds((None, RED), (-85, YELLOW), (-70, GREEN)))
    )


def build() -> dashboard_builders.Dashboard:
    """The officer detail dashboard."""
    panels = [
        heart_rate_panel(),
        hrv_panel(),
        core_temp_panel(),
        psi_panel(),
        activity_timeline(),
        motion_panel(),
        route_map(),
        alerts_panel(),
        battery_panel(),
        rssi_panel(),
    ]
    dashboard = base_dashboard(
        UID,
        "Bluewatch: officer detail",
        "One officer over time: vitals, heat strain, activity, route, alerts and devices.",
        ["officer"],
    )
    for panel in panels:
        dashboard = dashboard.with_panel(panel)
    return dashboard
