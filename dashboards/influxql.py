"""InfluxQL queries for Grafana panels: a typed builder and Grafana's own macro interpolation.

grafana-foundation-sdk ships no InfluxDB query builder, so `InfluxQLQuery` renders raw InfluxQL
(what Grafana sends with `rawQuery: true`) and is itself an SDK builder of a raw dataquery, so
panel builders take it as a target. `interpolate` expands `$timeFilter`, `$__interval` and
template variables the way Grafana's InfluxDB datasource does, so tests can run panel queries
against a real InfluxDB 1.x.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.runtime import UnknownDataquery

from dashboards.datasource import DATASOURCE_TYPE, DATASOURCE_UID

ResultFormat = Literal["time_series", "table"]
Fill = Literal["null", "none", "previous", "linear", "0"]
Operator = Literal["=", "!=", "<", "<=", ">", ">=", "=~", "!~"]

# Grafana escapes these in a regex-formatted variable value (its `escapeRegex`, plus the slash
# that would end an InfluxQL regex literal).
_REGEX_SPECIAL: Final = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_DURATION: Final = re.compile(r"^\d+(?:ns|u|µ|ms|s|m|h|d|w)$")
_RELATIVE: Final = re.compile(r"^now-(\d+)([smhdw])$")
_VARIABLE: Final = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")
ALL_VALUE: Final = "$__all"
# The custom "all" value every Bluewatch variable declares: Grafana substitutes it unescaped,
# so `"officer" =~ /^.*$/` matches every officer instead of listing them all in the query.
ALL_REGEX: Final = ".*"


def quote_identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier: any key (hyphens, spaces, keywords) stays one token."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal (tag and string-field values in WHERE)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def escape_regex(value: str) -> str:
    """A literal value made safe inside `/.../`, as Grafana's regex variable format does."""
    return _REGEX_SPECIAL.sub(lambda match: "\\" + match.group(0), value)


@dataclass(frozen=True)
class Call:
    """One InfluxQL function applied to an expression, with any arguments after it (`1s`, `2`)."""

    name: str
    args: tuple[str | int | float, ...] = ()


@dataclass(frozen=True)
class Select:
    """A selected field (or a regex of fields), wrapped in functions innermost first, aliased."""

    field: str
    calls: tuple[Call, ...] = ()
    alias: str | None = None
    regex: bool = False

    def apply(self, name: str, *args: str | int | float) -> Select:
        """This selection with one more function around it: `Select("x").apply("max")`."""
        return Select(self.field, (*self.calls, Call(name, args)), self.alias, self.regex)

    def named(self, alias: str) -> Select:
        """This selection under a column name (`AS "alias"`), the name panels refer to."""
        return Select(self.field, self.calls, alias, self.regex)

    def render(self) -> str:
        expression = f"/{self.field}/" if self.regex else quote_identifier(self.field)
        for call in self.calls:
            rest = "".join(f", {arg}" for arg in call.args)
            expression = f"{call.name}({expression}{rest})"
        if self.alias is not None:
            expression += f" AS {quote_identifier(self.alias)}"
        return expression


def fn(name: str, field_key: str, alias: str | None = None, *args: str | int | float) -> Select:
    """Shorthand for the common case, one function of one field: `fn("last", "bpm", "bpm")`."""
    return Select(field_key, (Call(name, args),), alias)


@dataclass(frozen=True)
class VariableMatch:
    """`"tag" =~ /^$variable$/`: a tag bound to a (multi-value, All-capable) template variable."""

    tag: str
    variable: str

    def render(self) -> str:
        return f"{quote_identifier(self.tag)} =~ /^${self.variable}$/"


@dataclass(frozen=True)
class Condition:
    """A fixed comparison on a tag or field: strings are quoted, numbers and booleans not."""

    key: str
    operator: Operator
    value: str | bool | int | float

    def render(self) -> str:
        if isinstance(self.value, bool):
            value = "true" if self.value else "false"
        elif isinstance(self.value, str):
            value = quote_string(self.value)
        else:
            value = repr(self.value)
        return f"{quote_identifier(self.key)} {self.operator} {value}"


def scope(*tags: str) -> tuple[VariableMatch, ...]:
    """Each tag bound to the template variable of the same name, the usual dashboard filter."""
    return tuple(VariableMatch(tag, tag) for tag in tags)


@dataclass(frozen=True)
class InfluxQLQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """One raw InfluxQL panel target: renders the query and the Grafana target around it.

    `source` is a measurement name or an inner query (a subquery, for aggregates of per-officer
    or per-device latest values). The time filter is always applied, as every Grafana panel
    query should be bounded by the dashboard's time range.
    """

    source: str | InfluxQLQuery
    fields: tuple[Select, ...]
    where: tuple[VariableMatch | Condition, ...] = ()
    group_by_time: str | None = None
    group_by_tags: tuple[str, ...] = ()
    fill: Fill | None = None
    order_desc: bool = False
    limit: int | None = None
    result_format: ResultFormat = "time_series"
    ref_id: str = "A"
    alias: str | None = None
    datasource_uid: str = DATASOURCE_UID
    hide: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("an InfluxQL query selects at least one field")
        if self.group_by_time is not None and not (
            self.group_by_time.startswith("$") or _DURATION.match(self.group_by_time)
        ):
            raise ValueError(f"GROUP BY time needs a duration or a variable: {self.group_by_time}")
        if self.limit is not None and self.limit <= 0:
            raise ValueError("LIMIT must be positive")

    @property
    def measurement(self) -> str:
        """The measurement read, through any subqueries."""
        return self.source if isinstance(self.source, str) else self.source.measurement

    def render(self) -> str:
        """The raw InfluxQL text, with Grafana's macros and variables left for Grafana."""
        source = (
            quote_identifier(self.source)
            if isinstance(self.source, str)
            else f"({self.source.render()})"
        )
        # Not SQL injection: every name is a quoted identifier and every value a quoted literal.
        selected = ", ".join(s.render() for s in self.fields)
        parts = [f"SELECT {selected} FROM {source}"]  # noqa: S608
        conditions = [c.render() for c in self.where] + ["$timeFilter"]
        parts.append("WHERE " + " AND ".join(conditions))
        groups = []
        if self.group_by_time is not None:
            groups.append(f"time({self.group_by_time})")
        groups += [quote_identifier(tag) for tag in self.group_by_tags]
        if groups:
            parts.append("GROUP BY " + ", ".join(groups))
        if self.fill is not None:
            parts.append(f"fill({self.fill})")
        if self.order_desc:
            parts.append("ORDER BY time DESC")
        if self.limit is not None:
            parts.append(f"LIMIT {self.limit}")
        return " ".join(parts)

    def target(self) -> dict[str, Any]:
        """The Grafana InfluxDB target (panel `targets[]` entry) for this query."""
        target: dict[str, Any] = {
            "refId": self.ref_id,
            "query": self.render(),
            "rawQuery": True,
            "resultFormat": self.result_format,
            "datasource": {"type": DATASOURCE_TYPE, "uid": self.datasource_uid},
        }
        if self.alias is not None:
            target["alias"] = self.alias
        if self.hide:
            target["hide"] = True
        target.update(self.extra)
        return target

    def build(self) -> cogvariants.Dataquery:
        """The SDK's raw dataquery: the SDK has no InfluxDB variant, so the target goes as is."""
        return UnknownDataquery(self.target())

    def column_names(self) -> list[str]:
        """The value columns this query returns (aliases), for tests that check panel mappings."""
        names = []
        for selected in self.fields:
            if selected.alias is not None:
                names.append(selected.alias)
            elif selected.calls:
                names.append(selected.calls[-1].name)
            else:
                names.append(selected.field)
        return names


# --- Grafana's interpolation ---------------------------------------------------------------

VariableValue = str | Sequence[str]


def time_filter(time_from: str | datetime, time_to: str | datetime) -> str:
    """`$timeFilter` as Grafana's InfluxDB datasource renders it for a dashboard time range.

    Relative ranges stay relative (`time >= now() - 1h and time <= now()`), so InfluxDB, not
    the browser's clock, decides what "now" is; absolute times become epoch milliseconds.
    """
    return f"time >= {_influx_time(time_from)} and time <= {_influx_time(time_to)}"


def _influx_time(moment: str | datetime) -> str:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("an absolute time range needs timezone-aware datetimes")
        return f"{round(moment.timestamp() * 1000)}ms"
    if moment == "now":
        return "now()"
    match = _RELATIVE.match(moment)
    if match is None:
        raise ValueError(f"not a Grafana relative time like now-1h: {moment!r}")
    return f"now() - {match.group(1)}{match.group(2)}"


def format_regex_value(value: VariableValue) -> str:
    """A variable's value as Grafana formats it inside an InfluxQL regex.

    All (`$__all`) becomes the declared custom all value `.*`, unescaped; one value is escaped;
    several become an escaped alternation `(a|b)`.
    """
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise ValueError("a variable needs at least one value")
    if ALL_VALUE in values or "All" in values:
        return ALL_REGEX
    escaped = [escape_regex(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interval_for(time_from: str | datetime, time_to: str | datetime, max_points: int) -> str:
    """Grafana's `$__interval` approximation: the range over the panel's points, rounded up to
    whole seconds (Grafana rounds to "nice" steps; whole seconds keep buckets comparable)."""
    span_s = _span_s(time_from, time_to)
    return f"{max(1, math.ceil(span_s / max_points))}s"


def _span_s(time_from: str | datetime, time_to: str | datetime) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if isinstance(time_from, datetime) and isinstance(time_to, datetime):
        return (time_to - time_from).total_seconds()
    if isinstance(time_from, str) and time_to == "now":
        match = _RELATIVE.match(time_from)
        if match:
            return int(match.group(1)) * units[match.group(2)]
    raise ValueError("give both times as datetimes, or a relative start and 'now'")


def interpolate(
    query: str,
    variables: Mapping[str, VariableValue],
    *,
    time_from: str | datetime = "now-1h",
    time_to: str | datetime = "now",
    interval: str | None = None,
    max_points: int = 1000,
) -> str:
    """The InfluxQL Grafana sends for `query`: macros expanded, variables regex-formatted.

    Handles `$timeFilter`, `$__interval`/`$interval`, `$__interval_ms`, and `$var`, `${var}`,
    `${var:regex}` and `[[var]]`. An unknown variable raises, because Grafana would leave it
    in the text and InfluxDB would reject the query: better to fail in the test that finds it.
    """
    step = interval or interval_for(time_from, time_to, max_points)
    macros = {
        "timeFilter": time_filter(time_from, time_to),
        "__interval": step,
        "interval": step,
        "__interval_ms": str(_duration_ms(step)),
    }

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None)
        if name in macros:
            return macros[name]
        if name not in variables:
            raise KeyError(f"template variable ${name} has no value")
        return format_regex_value(variables[name])

    return _VARIABLE.sub(replace, query)


def _duration_ms(duration: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", duration)
    if match is None:
        raise ValueError(f"not a Grafana interval: {duration!r}")
    scale = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    return int(match.group(1)) * scale[match.group(2)]


def variables_in(text: str) -> set[str]:
    """The template variable names a query refers to, macros excluded."""
    macros = {"timeFilter", "__interval", "interval", "__interval_ms"}
    names = {next(g for g in m.groups() if g is not None) for m in _VARIABLE.finditer(text)}
    return names - macros
