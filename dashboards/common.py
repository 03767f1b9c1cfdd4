"""Pieces every Bluewatch dashboard shares: the datasource, the scope variables, colours, alerts.

Kept in one place so that the three dashboards filter, colour and annotate the same way: a
supervisor who learns that red means "alert" on one of them can trust it on the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models

from dashboards.datasource import DATASOURCE_TYPE, DATASOURCE_UID
from dashboards.influxql import ALL_REGEX, ALL_VALUE, Condition, InfluxQLQuery, Select, scope

SCOPE_TAGS: Final = ("agency", "unit", "officer")
# The gateway's own rows carry no officer tag: its panels filter on the first two only.
GATEWAY_SCOPE: Final = scope("agency", "unit")
OFFICER_SCOPE: Final = scope(*SCOPE_TAGS)
REFRESH: Final = "10s"  # officer_status and link rows arrive every 10 s
TIME_FROM: Final = "now-1h"

# Grafana's palette names, so colours follow the light and dark themes.
GREEN, YELLOW, ORANGE, RED, PURPLE, BLUE, GREY = (
    "green",
    "yellow",
    "orange",
    "red",
    "purple",
    "blue",
    "text",
)


def datasource_ref() -> models.DataSourceRef:
    """The Bluewatch InfluxDB datasource, by the fixed uid provisioning gives it."""
    return models.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


def tag_values_query(tag: str, within: tuple[str, ...]) -> str:
    """`SHOW TAG VALUES` for one scope tag, narrowed by the variables chosen before it."""
    query = f'SHOW TAG VALUES WITH KEY = "{tag}"'
    if within:
        query += " WHERE " + " AND ".join(f'"{t}" =~ /^${t}$/' for t in within)
    return query


def scope_variables(tags: tuple[str, ...] = SCOPE_TAGS) -> list[dashboard_builders.QueryVariable]:
    """Chained agency → unit → officer pickers: each lists only values under the ones before.

    Multi-value with All, and All is the custom value `.*` so a whole agency's query does not
    grow with the roster.
    """
    variables = []
    for position, tag in enumerate(tags):
        variables.append(
            dashboard_builders.QueryVariable(tag)
            .label(tag.capitalize())
            .datasource(datasource_ref())
            .query(tag_values_query(tag, tags[:position]))
            .multi(True)
            .include_all(True)
            .all_value(ALL_REGEX)
            .current(models.VariableOption(selected=True, text="All", value=ALL_VALUE))
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.NATURAL_ASC)
        )
    return variables


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute colour steps; the first step's value is None (everything below the next)."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=color) for value, color in steps])
    )


def value_map(entries: dict[str | int, tuple[str, str]]) -> list[models.ValueMapping]:
    """Value → (text, colour) mappings, in the order given."""
    return [
        models.ValueMap(
            options={
                str(value): models.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, (text, color)) in enumerate(entries.items())
            }
        )
    ]


def prop(property_id: str, value: object) -> models.DynamicConfigValue:
    """One field-override property (`unit`, `displayName`, `custom.cellOptions`, …)."""
    return models.DynamicConfigValue(id_val=property_id, value=value)


def transformation(transformer: str, options: dict[str, Any]) -> models.DataTransformerConfig:
    """A Grafana transformation step by its id (`joinByField`, `organize`, …)."""
    return models.DataTransformerConfig(id_val=transformer, options=options)


def cell_colour(mode: str = "color-background") -> dict[str, object]:
    """A table cell coloured by the field's thresholds or value mappings."""
    return {"type": mode}


# --- the officer status every dashboard colours the same way --------------------------------

STATUS_CODES: Final[dict[str | int, tuple[str, str]]] = {
    0: ("OK", GREEN),
    1: ("Warning", YELLOW),
    2: ("Device lost", PURPLE),
    3: ("Alert", RED),
}
STATUS_THRESHOLDS: Final = ((None, GREEN), (1, YELLOW), (2, PURPLE), (3, RED))

SEVERITIES: Final[dict[str | int, tuple[str, str]]] = {
    "info": ("info", BLUE),
    "warning": ("warning", YELLOW),
    "high": ("high", ORANGE),
    "critical": ("critical", RED),
}
ALERT_STATES: Final[dict[str | int, tuple[str, str]]] = {
    "pre_alert": ("pre-alert", ORANGE),
    "active": ("active", RED),
    "acknowledged": ("acknowledged", YELLOW),
    "resolved": ("resolved", GREEN),
    "cancelled": ("cancelled", GREY),
}
LINK_STATES: Final[dict[str | int, tuple[str, str]]] = {
    # gateway/ble/link.py LINK_STATE_CODES
    0: ("connecting", BLUE),
    1: ("ok", GREEN),
    2: ("stale", YELLOW),
    3: ("lost", RED),
}
# A pool device's rows under an officer stay in range after it is released; the rows the
# gateway writes at each assignment change say whether it is (`released`, true or false;
# gateway/assignments.py `kit_points`, in `battery` and `link`). Rostered devices never have it.
RELEASED: Final = "released"
STILL_HELD: Final = Condition(RELEASED, "!=", True)
INTENSITIES: Final[dict[str | int, tuple[str, str]]] = {
    "still": ("still", BLUE),
    "light": ("light", GREEN),
    "moderate": ("moderate", YELLOW),
    "vigorous": ("vigorous", ORANGE),
}
POSTURES: Final[dict[str | int, tuple[str, str]]] = {
    "upright": ("upright", GREEN),
    "inclined": ("inclined", YELLOW),
    "lying": ("lying", RED),
    "unknown": ("unknown", GREY),
}

# PSI bands of the alert engine (docs/alerts.md): warning at 7, high at 9.
PSI_THRESHOLDS: Final = ((None, GREEN), (7, ORANGE), (9, RED))
# Display bands for the core-temperature estimate (docs/algorithms.md): 38.0 °C is the
# steady state of sustained 120 bpm work, 38.5 °C the heat-stress scenario's mark of real heat
# build-up, 39.5 °C the ceiling of Moran's PSI scale. Alerts come from PSI, not from these.
CORE_TEMP_THRESHOLDS: Final = ((None, GREEN), (38.0, YELLOW), (38.5, ORANGE), (39.5, RED))


def alert_rows_query(ref_id: str = "A", limit: int = 200) -> InfluxQLQuery:
    """Every alert state change in range, newest first: one row per change, as stored."""
    return InfluxQLQuery(
        "alert",
        (
            Select("officer"),
            Select("kind"),
            Select("severity"),
            Select("state"),
            Select("reason"),
            Select("time_to_ack_s"),
            Select("alert_id"),
        ),
        where=OFFICER_SCOPE,
        order_desc=True,
        limit=limit,
        result_format="table",
        ref_id=ref_id,
    )


ALERT_TABLE_OVERRIDES: Final[dict[str, list[models.DynamicConfigValue]]] = {
    "severity": [
        prop("mappings", value_map(SEVERITIES)),
        prop("custom.cellOptions", cell_colour()),
    ],
    "state": [
        prop("mappings", value_map(ALERT_STATES)),
        prop("custom.cellOptions", cell_colour()),
    ],
    "time_to_ack_s": [prop("unit", "s"), prop("displayName", "Time to acknowledge")],
    "alert_id": [prop("custom.hidden", True)],
}


class _InfluxQLAnnotationQuery(models.AnnotationQuery):
    """The SDK's annotation model plus the InfluxQL fields Grafana's InfluxDB datasource reads.

    The SDK types `target` for Grafana's built-in annotations only; the InfluxDB datasource
    reads `query`, `textColumn` and `tagsColumn` (at the top level in older dashboards, in
    `target` in newer ones), so both places carry them.
    """

    def __init__(self, query: InfluxQLQuery, text_column: str, tags_column: str, **base: Any):
        super().__init__(**base)
        self.influxql = query
        self.text_column = text_column
        self.tags_column = tags_column

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        fields = {
            "query": self.influxql.render(),
            "textColumn": self.text_column,
            "tagsColumn": self.tags_column,
        }
        payload.update(fields)
        payload["target"] = {
            **self.influxql.target(),
            **fields,
            "fromAnnotations": True,
            "textEditor": True,
        }
        return payload


@dataclass(frozen=True)
class InfluxQLAnnotation(cogbuilder.Builder[models.AnnotationQuery]):
    """A dashboard annotation from an InfluxQL query: each row becomes a marker on time axes."""

    name: str
    query: InfluxQLQuery
    text_column: str
    tags_column: str
    icon_color: str = RED

    def build(self) -> models.AnnotationQuery:
        return _InfluxQLAnnotationQuery(
            self.query,
            self.text_column,
            self.tags_column,
            name=self.name,
            datasource=datasource_ref(),
            enable=True,
            hide=False,
            icon_color=self.icon_color,
        )


def alert_annotation() -> InfluxQLAnnotation:
    """Alert state changes of the officers in scope, marked on every time-series panel."""
    return InfluxQLAnnotation(
        "Alerts",
        InfluxQLQuery(
            "alert",
            (
                Select("reason"),
                Select("officer"),
                Select("kind"),
                Select("severity"),
                Select("state"),
            ),
            where=OFFICER_SCOPE,
            result_format="table",
            ref_id="Anno",
        ),
        text_column="reason",
        tags_column="officer,kind,severity,state",
    )


def base_dashboard(
    uid: str, title: str, description: str, tags: list[str]
) -> dashboard_builders.Dashboard:
    """A dashboard with Bluewatch's defaults: last hour, 10 s refresh, scope pickers, alerts."""
    builder = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["bluewatch", *tags])
        .timezone("browser")
        .time(TIME_FROM, "now")
        .refresh(REFRESH)
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .editable()
        .annotation(alert_annotation())
    )
    for variable in scope_variables():
        builder = builder.with_variable(variable)
    return builder


# --- panel shapes shared by the dashboards -----------------------------------------------------


def timeseries_panel(title: str, description: str, width: int = 12) -> timeseries.Panel:
    """A time series panel in the house style: thin lines, light fill, no points."""
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .span(width)
        .height(8)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common_models.VisibilityMode.NEVER)
    )


def markers_layer(name: str) -> common_builders.MapLayerOptions:
    """A Geomap markers layer placed by the `latitude_deg` / `longitude_deg` columns."""
    return (
        common_builders.MapLayerOptions()
        .type("markers")
        .name(name)
        .tooltip(True)
        .location(
            common_builders.FrameGeometrySource()
            .mode(common_models.FrameGeometrySourceMode.COORDS)
            .latitude("latitude_deg")
            .longitude("longitude_deg")
        )
    )
