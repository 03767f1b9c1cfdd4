"""The InfluxQL builder's text and Grafana target, and the Grafana-style interpolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.datasource import DATASOURCE_UID
from dashboards.influxql import (
    Condition,
    InfluxQLQuery,
    Select,
    VariableMatch,
    escape_regex,
    fn,
    format_regex_value,
    interpolate,
    quote_identifier,
    quote_string,
    scope,
    time_filter,
    variables_in,
)


def test_aggregate_per_interval_and_tag() -> None:
    query = InfluxQLQuery(
        "heart_rate",
        (fn("mean", "bpm", "heart_rate_bpm"),),
        where=scope("agency", "officer"),
        group_by_time="$__interval",
        group_by_tags=("officer",),
        fill="none",
    )
    assert query.render() == (
        'SELECT mean("bpm") AS "heart_rate_bpm" FROM "heart_rate" '
        'WHERE "agency" =~ /^$agency$/ AND "officer" =~ /^$officer$/ AND $timeFilter '
        'GROUP BY time($__interval), "officer" fill(none)'
    )


def test_raw_rows_newest_first_with_limit_and_conditions() -> None:
    query = InfluxQLQuery(
        "alert",
        (Select("officer"), Select("state")),
        where=(Condition("state", "=", "active"), Condition("sequence", ">", 1)),
        order_desc=True,
        limit=50,
        result_format="table",
    )
    assert query.render() == (
        'SELECT "officer", "state" FROM "alert" WHERE "state" = \'active\' AND "sequence" > 1 '
        "AND $timeFilter ORDER BY time DESC LIMIT 50"
    )


def test_nested_functions_with_arguments() -> None:
    rate = Select("notifications_received").apply("max").apply("non_negative_derivative", "1s")
    assert rate.named("per_s").render() == (
        'non_negative_derivative(max("notifications_received"), 1s) AS "per_s"'
    )
    assert Select("rr_s").apply("difference").apply("pow", 2).render() == (
        'pow(difference("rr_s"), 2)'
    )


def test_subquery_source() -> None:
    inner = InfluxQLQuery(
        "battery", (fn("last", "pct", "pct"),), group_by_tags=("officer", "device")
    )
    outer = InfluxQLQuery(inner, (fn("min", "pct", "lowest"),), group_by_tags=("officer",))
    assert outer.render() == (
        'SELECT min("pct") AS "lowest" FROM (SELECT last("pct") AS "pct" FROM "battery" '
        'WHERE $timeFilter GROUP BY "officer", "device") WHERE $timeFilter GROUP BY "officer"'
    )
    assert outer.measurement == "battery"


def test_hyphenated_field_keys_are_quoted() -> None:
    query = InfluxQLQuery("gateway", (fn("last", "pending_webhook-dispatch", "pending"),))
    assert 'last("pending_webhook-dispatch")' in query.render()


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("bpm", '"bpm"'),
        ("latency_s_webhook-dispatch", '"latency_s_webhook-dispatch"'),
        ('odd"name', '"odd\\"name"'),
        ("back\\slash", '"back\\\\slash"'),
        ("time", '"time"'),
    ],
)
def test_identifier_quoting(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted


def test_string_literal_quoting() -> None:
    assert quote_string("vest") == "'vest'"
    assert quote_string("o'brien") == "'o\\'brien'"
    assert Condition("kind", "!=", "it's").render() == "\"kind\" != 'it\\'s'"


def test_regex_value_escaping() -> None:
    assert escape_regex("officer-01") == "officer-01"
    assert escape_regex("a.b*c/d") == "a\\.b\\*c\\/d"
    assert escape_regex("(x|y)") == "\\(x\\|y\\)"


def test_variable_match() -> None:
    assert VariableMatch("unit", "unit").render() == '"unit" =~ /^$unit$/'


def test_target_for_grafana() -> None:
    query = InfluxQLQuery(
        "battery",
        (fn("last", "pct"),),
        result_format="table",
        ref_id="BAT",
        alias="$tag_device",
    )
    assert query.target() == {
        "refId": "BAT",
        "query": query.render(),
        "rawQuery": True,
        "resultFormat": "table",
        "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
        "alias": "$tag_device",
    }
    assert query.column_names() == ["last"]


def test_is_an_sdk_target_builder() -> None:
    """Panel builders take the query like any SDK dataquery and encode the same target."""
    query = InfluxQLQuery("heart_rate", (fn("last", "bpm", "bpm"),), ref_id="HR")
    panel = timeseries.Panel().title("HR").with_target(query).build()
    encoded = json.loads(json.dumps(panel, cls=JSONEncoder))
    assert encoded["targets"] == [query.target()]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fields": ()},
        {"group_by_time": "ten seconds"},
        {"limit": 0},
    ],
)
def test_refuses_malformed_queries(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"source": "m", "fields": (Select("f"),), **kwargs}
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        InfluxQLQuery(**arguments)  # type: ignore[arg-type]


# --- interpolation ----------------------------------------------------------------------------


def test_relative_time_filter_stays_relative() -> None:
    assert time_filter("now-1h", "now") == "time >= now() - 1h and time <= now()"
    assert time_filter("now-15m", "now-5m") == "time >= now() - 15m and time <= now() - 5m"


def test_absolute_time_filter_in_epoch_ms() -> None:
    start = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    end = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert time_filter(start, end) == (
        f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"
    )
    with pytest.raises(ValueError, match="timezone"):
        time_filter(datetime(2026, 1, 1), end)  # noqa: DTZ001 - the naive case under test


@pytest.mark.parametrize(
    ("value", "formatted"),
    [
        ("officer-01", "officer-01"),
        (["officer-01"], "officer-01"),
        (["officer-01", "officer-02"], "(officer-01|officer-02)"),
        (["a.b", "c"], "(a\\.b|c)"),
        ("$__all", ".*"),
        (["$__all"], ".*"),
        (["All"], ".*"),
    ],
)
def test_regex_variable_values(value: str | list[str], formatted: str) -> None:
    assert format_regex_value(value) == formatted


def test_interpolates_a_panel_query() -> None:
    query = InfluxQLQuery(
        "heart_rate",
        (fn("mean", "bpm"),),
        where=scope("agency", "unit", "officer"),
        group_by_time="$__interval",
    ).render()
    text = interpolate(
        query,
        {"agency": "$__all", "unit": ["car-7"], "officer": ["officer-01", "officer-02"]},
        interval="10s",
    )
    assert text == (
        'SELECT mean("bpm") FROM "heart_rate" WHERE "agency" =~ /^.*$/ AND "unit" =~ /^car-7$/ '
        'AND "officer" =~ /^(officer-01|officer-02)$/ '
        "AND time >= now() - 1h and time <= now() GROUP BY time(10s)"
    )


def test_interval_follows_the_range_when_not_given() -> None:
    text = interpolate("$__interval $interval $__interval_ms", {}, time_from="now-6h")
    assert text == "22s 22s 22000"  # 6 h over 1000 points, rounded up to whole seconds


def test_other_variable_syntaxes() -> None:
    text = interpolate("${officer} ${officer:regex} [[officer]]", {"officer": ["a", "b"]})
    assert text == "(a|b) (a|b) (a|b)"


def test_unknown_variable_fails_loudly() -> None:
    with pytest.raises(KeyError, match="squad"):
        interpolate('"squad" =~ /^$squad$/', {})


def test_variables_in_ignores_macros() -> None:
    text = '"a" =~ /^$agency$/ AND $timeFilter GROUP BY time($__interval) [[unit]] ${officer}'
    assert variables_in(text) == {"agency", "unit", "officer"}
