"""Fleet overview: every officer in scope on one screen, worst status first, on a map, and alerts.

The supervisor's landing page: who needs attention now (status colour), why (the vitals and
device columns beside it), where (the map), and what dispatch has been told (the alert list).
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import geomap, stat, table
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import geomap as geomap_models

from dashboards.common import (
    ALERT_TABLE_OVERRIDES,
    CORE_TEMP_THRESHOLDS,
    GATEWAY_SCOPE,
    GREEN,
    INTENSITIES,
    LINK_STATES,
    OFFICER_SCOPE,
    ORANGE,
    POSTURES,
    PSI_THRESHOLDS,
    RED,
    RELEASED,
    STATUS_CODES,
    STATUS_THRESHOLDS,
    STILL_HELD,
    alert_rows_query,
    base_dashboard,
    cell_colour,
    datasource_ref,
    markers_layer,
    prop,
    thresholds,
    transformation,
    value_map,
)
from dashboards.influxql import Condition, InfluxQLQuery, Select, fn

UID: Final = "bluewatch-fleet-overview"
OFFICER_DETAIL_UID: Final = "bluewatch-officer-detail"
# Each officer row links to the officer detail dashboard with that officer and the same range.
OFFICER_LINK: Final = {
    "title": "Officer detail",
    "url": f"/d/{OFFICER_DETAIL_UID}?var-officer=${{__value.raw}}&${{__url_time_range}}",
}


def _per_officer(
    source: str | InfluxQLQuery,
    ref_id: str,
    *fields: Select,
    where: tuple[Condition, ...] = (),
) -> InfluxQLQuery:
    """Latest values per officer in the time range, one table row each; over an inner query,
    `where` filters the inner query's rows."""
    return InfluxQLQuery(
        source,
        fields,
        where=(*OFFICER_SCOPE, *where) if isinstance(source, str) else where,
        group_by_tags=("officer",),
        result_format="table",
        ref_id=ref_id,
    )


def _latest_per_device(measurement: str, field_key: str) -> InfluxQLQuery:
    """Each device's latest value and whether it was released since: the inner query when an
    officer's row shows the worst device (the outer query keeps the devices STILL_HELD)."""
    return InfluxQLQuery(
        measurement,
        (fn("last", field_key, field_key), fn("last", RELEASED, RELEASED)),
        where=OFFICER_SCOPE,
        group_by_tags=("officer", "device"),
        result_format="table",
    )


def officer_status_query(ref_id: str = "STATUS") -> InfluxQLQuery:
    """The gateway's per-officer verdict (`officer_status`, every 10 s): status, alerts, silence."""
    return _per_officer(
        "officer_status",
        ref_id,
        fn("last", "status_code", "status_code"),
        fn("last", "open_alerts", "open_alerts"),
        fn("last", "last_seen_s", "last_seen_s"),
        fn("last", "cannot_detect", "cannot_detect"),
    )


def officer_table_queries() -> list[InfluxQLQuery]:
    """One query per source measurement, each keyed by officer, joined into one row per officer."""
    return [
        officer_status_query(),
        _per_officer("heart_rate", "HR", fn("last", "bpm", "heart_rate_bpm")),
        _per_officer(
            "physiology",
            "PHYS",
            fn("last", "core_temp_c", "core_temp_c"),
            fn("last", "psi", "psi"),
        ),
        _per_officer(
            "activity",
            "ACT",
            fn("last", "intensity", "intensity"),
            fn("last", "posture", "posture"),
            # A trunk accelerometer (vest, chest strap): its posture and intensity describe the
            # officer; an arm or a helmet moves on its own.
            where=(Condition("placement", "=", "torso"),),
        ),
        _per_officer(
            _latest_per_device("battery", "pct"),
            "BAT",
            fn("min", "pct", "battery_pct"),
            where=(STILL_HELD,),
        ),
        _per_officer(
            _latest_per_device("link", "state_code"),
            "LINK",
            fn("max", "state_code", "link_state_code"),
            where=(STILL_HELD,),
        ),
    ]


# Column order and the overrides that name, colour and format each column.
OFFICER_COLUMNS: Final[dict[str, list[models.DynamicConfigValue]]] = {
    "officer": [prop("displayName", "Officer"), prop("links", [OFFICER_LINK])],
    "status_code": [
        prop("displayName", "Status"),
        prop("mappings", value_map(STATUS_CODES)),
        prop("thresholds", thresholds(*STATUS_THRESHOLDS).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour()),
    ],
    "heart_rate_bpm": [prop("displayName", "Heart rate"), prop("unit", "suffix: bpm")],
    "core_temp_c": [
        prop("displayName", "Core temp (est.)"),
        prop("unit", "celsius"),
        prop("decimals", 1),
        prop("thresholds", thresholds(*CORE_TEMP_THRESHOLDS).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "psi": [
        prop("displayName", "PSI"),
        prop("decimals", 1),
        prop("thresholds", thresholds(*PSI_THRESHOLDS).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour()),
    ],
    "intensity": [
        prop("displayName", "Activity"),
        prop("mappings", value_map(INTENSITIES)),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "posture": [
        prop("displayName", "Posture"),
        prop("mappings", value_map(POSTURES)),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "battery_pct": [
        prop("displayName", "Battery (lowest device)"),
        prop("unit", "percent"),
        # The low-battery alert fires at 15 % and clears at 25 % (docs/alerts.md).
        prop("thresholds", thresholds((None, RED), (15, ORANGE), (25, GREEN)).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "link_state_code": [
        prop("displayName", "Link (worst device)"),
        prop("mappings", value_map(LINK_STATES)),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "open_alerts": [
        prop("displayName", "Open alerts"),
        prop("thresholds", thresholds((None, GREEN), (1, RED)).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour()),
    ],
    "last_seen_s": [
        prop("displayName", "Last heard"),
        prop("unit", "s"),
        prop("decimals", 0),
        # A device is lost after 20 s of silence (link.lost_after_s); a minute is a real gap.
        prop("thresholds", thresholds((None, GREEN), (20, ORANGE), (60, RED)).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    # What the officer's kit cannot raise (a strap alone: no fall or man-down): silence from
    # that officer says nothing about these.
    "cannot_detect": [
        prop("displayName", "Cannot detect"),
        prop("noValue", "-"),
    ],
}

# Every query returns its own Time column; dropped per frame so the join sees only values.
DROP_TIME: Final = transformation("organize", {"excludeByName": {"Time": True}})
JOIN_BY_OFFICER: Final = transformation("joinByField", {"byField": "officer", "mode": "outer"})
# The map's officer queries; its vehicle query (VEH) has no officer to join on and is drawn by
# a layer of its own, so the join takes only these (a refId regex)...
OFFICER_MAP_REFS: Final = "/^(POS|STATUS)$/"
# ...and the officers' layer everything but VEH: the joined frame may carry no refId at all.
NOT_VEHICLES: Final = "/^(?!VEH$)/"


def officer_table() -> table.Panel:
    """Officers: one row each, worst status first."""
    panel = (
        table.Panel()
        .title("Officers")
        .description(
            "One row per officer: the gateway's status verdict, latest vitals and devices. "
            "Sorted worst first; click an officer for the detail dashboard."
        )
        .datasource(datasource_ref())
        .span(24)
        .height(10)
        .targets(list(officer_table_queries()))
        .with_transformation(DROP_TIME)
        .with_transformation(JOIN_BY_OFFICER)
        .with_transformation(
            transformation(
                "organize",
                {"indexByName": {name: i for i, name in enumerate(OFFICER_COLUMNS)}},
            )
        )
        .sort_by([common_builders.TableSortByFieldState().display_name("Status").desc(True)])
        .filterable(True)
    )
    for column, properties in OFFICER_COLUMNS.items():
        panel = panel.override_by_name(column, properties)
    return panel


# Each stat query returns one value for the range; show it, not a reduction Grafana picks.
LAST_VALUE: Final = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _count_officers(ref_id: str) -> InfluxQLQuery:
    return InfluxQLQuery(
        officer_status_query(ref_id="inner"),
        (fn("count", "status_code", "officers"),),
        result_format="time_series",
        ref_id=ref_id,
    )


def stat_panels() -> list[stat.Panel]:
    """Headline numbers: officers reporting, open alerts, the weakest battery."""
    on_shift = (
        stat.Panel()
        .title("Officers on shift")
        .description("Officers the gateway reported a status for in the time range.")
        .datasource(datasource_ref())
        .span(8)
        .height(4)
        .with_target(_count_officers("OFFICERS"))
        .color_mode(common_models.BigValueColorMode.NONE)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(LAST_VALUE)
    )
    open_alerts = (
        stat.Panel()
        .title("Open alerts")
        .description("Alerts not yet resolved or cancelled, summed over the officers in scope.")
        .datasource(datasource_ref())
        .span(8)
        .height(4)
        .with_target(
            InfluxQLQuery(
                officer_status_query(ref_id="inner"),
                (fn("sum", "open_alerts", "open_alerts"),),
                ref_id="OPEN",
            )
        )
        .thresholds(thresholds((None, GREEN), (1, RED)))
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(LAST_VALUE)
    )
    battery = (
        stat.Panel()
        .title("Lowest battery")
        .description("The emptiest vest or helmet battery among the officers in scope.")
        .datasource(datasource_ref())
        .span(8)
        .height(4)
        .with_target(
            InfluxQLQuery(
                _latest_per_device("battery", "pct"),
                (fn("min", "pct", "battery_pct"),),
                where=(STILL_HELD,),
                ref_id="BAT",
            )
        )
        .unit("percent")
        .thresholds(thresholds((None, RED), (15, ORANGE), (25, GREEN)))
        .color_mode(common_models.BigValueColorMode.VALUE)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(LAST_VALUE)
    )
    return [on_shift, open_alerts, battery]


def vehicle_positions_query(ref_id: str = "VEH") -> InfluxQLQuery:
    """Each vehicle's last position (the `vehicle` rows from its gateway's gpsd)."""
    return InfluxQLQuery(
        "vehicle",
        (
            fn("last", "latitude_deg", "latitude_deg"),
            fn("last", "longitude_deg", "longitude_deg"),
        ),
        where=GATEWAY_SCOPE,
        group_by_tags=("vehicle",),
        result_format="table",
        ref_id=ref_id,
    )


def officer_map() -> geomap.Panel:
    """Officers' last positions, coloured (and enlarged) by status: alerts stand out on the map;
    beside them their vehicles, so a supervisor sees who is away from the car and how far."""
    markers = markers_layer("Officers").config(
        {
            "showLegend": True,
            "style": {
                "color": {"field": "status_code", "fixed": "dark-green"},
                "size": {"field": "status_code", "fixed": 6, "min": 6, "max": 16},
                "opacity": 0.8,
                "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                "text": {"field": "officer", "fixed": "", "mode": "field"},
                "textConfig": {
                    "fontSize": 11,
                    "offsetY": -14,
                    "textAlign": "center",
                    "textBaseline": "bottom",
                },
            },
        }
    )
    markers = markers.filter_data(models.MatcherConfig(id_val="byRefId", options=NOT_VEHICLES))
    vehicles = (
        markers_layer("Vehicles")
        .filter_data(models.MatcherConfig(id_val="byRefId", options="VEH"))
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"fixed": "blue"},
                    "size": {"fixed": 9},
                    "opacity": 0.9,
                    "symbol": {"fixed": "img/icons/marker/square.svg", "mode": "fixed"},
                    "text": {"field": "vehicle", "fixed": "", "mode": "field"},
                    "textConfig": {
                        "fontSize": 11,
                        "offsetY": 14,
                        "textAlign": "center",
                        "textBaseline": "top",
                    },
                },
            }
        )
    )
    officers_only = models.MatcherConfig(id_val="byRefId", options=OFFICER_MAP_REFS)
    join = models.DataTransformerConfig(
        id_val="joinByField", filter_val=officers_only, options=JOIN_BY_OFFICER.options
    )
    return (
        geomap.Panel()
        .title("Where officers are")
        .description(
            "Last known helmet GNSS position per officer; colour and size by status "
            "(red: alert, purple: device lost, yellow: warning). Blue squares: the vehicles, "
            "from their gateways' GNSS receivers."
        )
        .datasource(datasource_ref())
        .span(12)
        .height(12)
        .targets(
            [
                _per_officer(
                    "location",
                    "POS",
                    fn("last", "latitude_deg", "latitude_deg"),
                    fn("last", "longitude_deg", "longitude_deg"),
                ),
                _per_officer("officer_status", "STATUS", fn("last", "status_code", "status_code")),
                vehicle_positions_query(),
            ]
        )
        .with_transformation(DROP_TIME)
        .with_transformation(join)
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers, vehicles])
        .view(
            geomap.MapViewConfig()
            .id(geomap_models.MapCenterID.FIT.value)
            .all_layers(True)
            .zoom(15)
            .max_zoom(18)
        )
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .tooltip(geomap.TooltipOptions().mode(geomap_models.TooltipMode.DETAILS))
        .mappings(value_map(STATUS_CODES))
        .thresholds(thresholds(*STATUS_THRESHOLDS))
        .color_scheme(dashboard_builders.FieldColor().mode(models.FieldColorModeId.THRESHOLDS))
    )


def alert_table() -> table.Panel:
    """Every alert state change in range, newest first, with the time dispatch took to answer."""
    panel = (
        table.Panel()
        .title("Alerts")
        .description(
            "Each row is one alert state change (pre-alert, active, acknowledged, resolved, "
            "cancelled). Time to acknowledge is on the acknowledged rows."
        )
        .datasource(datasource_ref())
        .span(12)
        .height(12)
        .with_target(alert_rows_query())
        .sort_by([common_builders.TableSortByFieldState().display_name("Time").desc(True)])
        .filterable(True)
    )
    panel = panel.override_by_name("officer", [prop("links", [OFFICER_LINK])])
    for column, properties in ALERT_TABLE_OVERRIDES.items():
        panel = panel.override_by_name(column, properties)
    return panel


def build() -> dashboard_builders.Dashboard:
    """The fleet overview dashboard."""
    dashboard = base_dashboard(
        UID,
        "Bluewatch: fleet overview",
        "Every officer in scope: status, vitals, devices, position, and the alerts raised.",
        ["fleet"],
    )
    for panel in stat_panels():
        dashboard = dashboard.with_panel(panel)
    return dashboard.with_panel(officer_table()).with_panel(officer_map()).with_panel(alert_table())
