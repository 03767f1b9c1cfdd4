"""Gateway health: is the data getting in, and is it getting out?

For the person who answers "the dashboard looks frozen" or "dispatch got the alert late": the
gateway's intake (notifications per second, decode errors), its outbox (what waits, and for how
long, per sink), delivery latency per sink and dispatch webhook, and each device's radio link.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common as common_models

from dashboards.common import (
    GATEWAY_SCOPE,
    GREEN,
    LINK_STATES,
    OFFICER_SCOPE,
    ORANGE,
    RED,
    RELEASED,
    STILL_HELD,
    YELLOW,
    base_dashboard,
    cell_colour,
    datasource_ref,
    prop,
    thresholds,
    timeseries_panel,
    transformation,
    value_map,
)
from dashboards.influxql import InfluxQLQuery, Select, fn

UID: Final = "bluewatch-gateway-health"
# Per-sink fields are named `<counter>_<sink>`: "influx", "mqtt" and one "webhook-<name>" per
# [[webhooks]] endpoint (gateway/sinks/factory.py). Selecting them by regex keeps every panel
# right whatever a deployment names its endpoints; a transformation strips the prefixes again.
WEBHOOK: Final = "webhook-"
DATA_SINKS_RE: Final = "(influx|mqtt)$"
# `last_pending_influx` → `influx`: the function and counter prefixes InfluxQL puts on columns
# selected by regex, removed so each line is simply named after its sink.
SINK_NAME: Final = transformation(
    "renameByRegex",
    {
        "regex": r"^(?:last|mean|max|non_negative_difference)_"
        r"(?:pending|oldest_age_s|latency_s|retries)_(.*)$",
        "renamePattern": "$1",
    },
)
# Gateway rows come every 10 s: a finer interval only yields empty buckets and broken rates.
MIN_INTERVAL: Final = "10s"
BY_UNIT: Final = "$col $tag_unit"


def _gateway(ref_id: str, *fields: Select, alias: str = BY_UNIT) -> InfluxQLQuery:
    """Gateway counters per interval per gateway (unit)."""
    return InfluxQLQuery(
        "gateway",
        fields,
        where=GATEWAY_SCOPE,
        group_by_time="$__interval",
        group_by_tags=("unit",),
        fill="none",
        ref_id=ref_id,
        alias=alias,
    )


def _rate(field_key: str, alias: str) -> Select:
    """Per-second rate of a cumulative counter; resets at a gateway restart are dropped."""
    return Select(field_key).apply("max").apply("non_negative_derivative", "1s").named(alias)


def _increase(field_key: str, alias: str) -> Select:
    """How much a cumulative counter grew in each interval."""
    return Select(field_key).apply("max").apply("non_negative_difference").named(alias)


def _panel(title: str, description: str, width: int = 12) -> timeseries.Panel:
    return timeseries_panel(title, description, width).interval(MIN_INTERVAL)


def _bars(panel: timeseries.Panel) -> timeseries.Panel:
    return panel.draw_style(common_models.GraphDrawStyle.BARS).fill_opacity(60)


def ingest_panel() -> timeseries.Panel:
    """Notifications received and points committed per second: the gateway's pulse."""
    return _panel(
        "Ingest rate",
        "BLE notifications received and points committed to the outbox, per second. A drop to "
        "zero with officers on shift means the radio or the devices went quiet.",
    ).with_target(
        _gateway(
            "INGEST",
            _rate("notifications_received", "notifications_per_s"),
            _rate("points_committed", "points_per_s"),
        )
    )


def errors_panel() -> timeseries.Panel:
    """Decode errors, intake drops, unknown advertisers and possible spoofs: data lost or
    refused at the door."""
    return _bars(
        _panel(
            "Decode errors and drops",
            "Per interval: notifications that failed to decode, notifications dropped because "
            "the intake queue was full, unknown advertisers seen nearby, and possible spoofs: "
            "advertisers posing as an officer's bound device, never connected (counts).",
        )
    ).with_target(
        _gateway(
            "ERRORS",
            _increase("decode_errors", "decode_errors"),
            _increase("intake_dropped", "intake_dropped"),
            fn("last", "unknown_advertisers", "unknown_advertisers"),
            fn("last", "possible_spoofs", "possible_spoofs"),
        )
    )


def outbox_depth_panel() -> timeseries.Panel:
    """Rows in the outbox, and per sink how many wait: a growing line is a sink that is down."""
    return (
        _panel(
            "Outbox depth",
            "Rows held in the outbox (every point stays until every sink delivered it) and the "
            "points still pending per sink.",
        )
        .with_target(
            _gateway(
                "OUTBOX",
                fn("last", "outbox_rows", "outbox_rows"),
                Select("^pending_", regex=True).apply("last"),
            )
        )
        .with_transformation(SINK_NAME)
    )


def oldest_age_panel() -> timeseries.Panel:
    """How stale the oldest undelivered point is per sink: the delay a reader of it sees."""
    return (
        _panel(
            "Oldest undelivered point",
            "Age of the oldest point each sink has not yet delivered. Above a minute, "
            "dashboards and dispatch are looking at old data.",
        )
        .with_target(
            _gateway(
                "AGE",
                Select("^oldest_age_s_", regex=True).apply("last"),
            )
        )
        .with_transformation(SINK_NAME)
        .unit("s")
        .thresholds(thresholds((None, GREEN), (60, ORANGE), (300, RED)))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphThresholdsStyleMode.LINE
            )
        )
    )


def sink_latency_panel() -> timeseries.Panel:
    """Delivery latency of the telemetry sinks (InfluxDB, MQTT)."""
    return (
        _panel(
            "Sink latency",
            "Time of the last delivery batch per sink, averaged per interval.",
        )
        .with_target(
            _gateway(
                "SINKS",
                Select(f"^latency_s_{DATA_SINKS_RE}", regex=True).apply("mean"),
            )
        )
        .with_transformation(SINK_NAME)
        .unit("s")
    )


def webhook_latency_panel() -> timeseries.Panel:
    """Dispatch webhook latency and retries: how fast alerts reach dispatch, and how reliably."""
    return (
        _panel(
            "Dispatch webhook latency",
            "Round-trip time of the signed alert POSTs per endpoint (mean per interval), and "
            "retries of every sink (right axis): retries mean a receiver failed or timed out.",
        )
        .with_target(
            _gateway(
                "WEBHOOK",
                Select(f"^latency_s_{WEBHOOK}", regex=True).apply("mean"),
            )
        )
        .with_target(
            _gateway(
                "RETRIES",
                Select("^retries_", regex=True).apply("max").apply("non_negative_difference"),
            )
        )
        .with_transformation(SINK_NAME)
        .unit("s")
        .override_by_query(
            "RETRIES",
            [
                prop("unit", "short"),
                prop("custom.axisPlacement", "right"),
                prop("custom.drawStyle", "bars"),
            ],
        )
    )


def reconnects_panel() -> timeseries.Panel:
    """Reconnects per device per interval: a device that keeps reconnecting is at the edge."""
    return _bars(
        _panel(
            "Reconnects per device",
            "How often each device's BLE link was re-established in each interval.",
        )
    ).with_target(
        InfluxQLQuery(
            "link",
            (_increase("reconnects", "reconnects"),),
            where=OFFICER_SCOPE,
            group_by_time="$__interval",
            group_by_tags=("device",),
            fill="none",
            ref_id="RECONNECTS",
            alias="$tag_device",
        )
    )


LINK_COLUMNS: Final = {
    "device": [prop("displayName", "Device")],
    "officer": [prop("displayName", "Officer")],
    "state_code": [
        prop("displayName", "Link"),
        prop("mappings", value_map(LINK_STATES)),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "reconnects": [prop("displayName", "Reconnects")],
    "rssi_dbm": [
        prop("displayName", "RSSI"),
        prop("unit", "dBm"),
        prop("thresholds", thresholds((None, RED), (-85, YELLOW), (-70, GREEN)).build()),
        prop("color", {"mode": "thresholds"}),
        prop("custom.cellOptions", cell_colour("color-text")),
    ],
    "notification_rate_hz": [
        prop("displayName", "Notifications"),
        prop("unit", "hertz"),
        prop("decimals", 1),
    ],
    "samples_lost": [prop("displayName", "Samples lost")],
    "clock_drift_ppm": [prop("displayName", "Clock drift"), prop("unit", "ppm")],
}


def links_table() -> table.Panel:
    """Each device's link right now: state, reconnects, signal, rate, losses, clock drift; a
    pool device only under the officer who holds it (its latest `released` is not true)."""
    columns = (
        "state_code",
        "reconnects",
        "rssi_dbm",
        "notification_rate_hz",
        "samples_lost",
        "clock_drift_ppm",
    )
    latest = InfluxQLQuery(
        "link",
        tuple(fn("last", column, column) for column in (*columns, RELEASED)),
        where=OFFICER_SCOPE,
        group_by_tags=("officer", "device"),
    )
    query = InfluxQLQuery(
        latest,
        tuple(Select(column) for column in columns),
        where=(STILL_HELD,),
        group_by_tags=("officer", "device"),
        result_format="table",
        ref_id="LINKS",
    )
    panel = (
        table.Panel()
        .title("Device links")
        .description(
            "Latest link report per device (every 10 s). Reconnects and samples lost count "
            "since the gateway started."
        )
        .datasource(datasource_ref())
        .span(12)
        .height(8)
        .with_target(query)
        .with_transformation(
            transformation(
                "organize",
                {
                    "excludeByName": {"Time": True},
                    "indexByName": {name: i for i, name in enumerate(LINK_COLUMNS)},
                },
            )
        )
        .sort_by([common_builders.TableSortByFieldState().display_name("Reconnects").desc(True)])
    )
    for column, properties in LINK_COLUMNS.items():
        panel = panel.override_by_name(column, properties)
    return panel


def build() -> dashboard_builders.Dashboard:
    """The gateway health dashboard."""
    panels = [
        ingest_panel(),
        errors_panel(),
        outbox_depth_panel(),
        oldest_age_panel(),
        sink_latency_panel(),
        webhook_latency_panel(),
        reconnects_panel(),
    ]
    dashboard = base_dashboard(
        UID,
        "Bluewatch: gateway health",
        "The gateway's intake, outbox, delivery latency per sink and webhook, and device links.",
        ["gateway"],
    )
    for panel in panels:
        dashboard = dashboard.with_panel(panel)
    return dashboard.with_panel(links_table())
