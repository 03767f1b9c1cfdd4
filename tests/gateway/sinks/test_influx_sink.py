"""The InfluxDB sink with line protocol stored at commit: sent as stored, the same as encoded at
delivery, old rows without a line encoded then, and points it cannot carry still isolated."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest

from gateway.delivery import Delivery
from gateway.domain import Lane, Point
from gateway.outbox import AsyncOutbox, Outbox, PointNotReadError
from gateway.sinks.influx_sink import InfluxSink, LineEncoder
from gateway.sinks.sink import Send

TAGS = {"agency": "pd", "unit": "car 1", "officer": "o1"}


def points(count: int) -> list[Point]:
    return [
        Point("heart_rate", TAGS, {"bpm": 60 + n, "sensor_contact": "detected"}, 10**18 + n)
        for n in range(count)
    ]


class Writer:
    """Records the lines of each write."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []

    async def write(self, lines: Sequence[str]) -> None:
        self.writes.append(list(lines))

    async def prepare(self, lines: Sequence[str]) -> Send:
        return partial(self.write, lines)

    async def close(self) -> None:
        pass


def test_stored_lines_are_the_lines_encoded_at_delivery(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", line_of=LineEncoder().stored)
    outbox.register_sink("influx", from_start=True)
    committed = [*points(5), Point("alert", TAGS, {"state": "active"}, 10**18, Lane.ALERT)]
    outbox.append(committed)
    with_lines = outbox.pending("influx", 100, lines=True)
    without = outbox.pending("influx", 100)
    assert all(item.line is not None for item in with_lines)
    assert all(item.line is None for item in without)
    # The same rows, in the same order (alerts first), read without their points.
    assert [(item.id, item.lane) for item in with_lines] == [
        (item.id, item.lane) for item in without
    ]
    assert [item.point for item in without] == [committed[-1], *committed[:-1]]
    with pytest.raises(PointNotReadError):
        _ = with_lines[0].point
    sink = InfluxSink(Writer())
    assert sink.lines(with_lines) == sink.lines(without)
    outbox.close()


def test_a_row_read_with_its_line_alone_is_quarantined_with_its_json(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", line_of=LineEncoder().stored)
    outbox.register_sink("influx", from_start=True)
    outbox.append(points(3))
    refused = outbox.pending("influx", 100, lines=True)[1:2]
    outbox.quarantine("influx", refused, "400: field type conflict")
    kept = sqlite3.connect(tmp_path / "o.sqlite3").execute(
        "SELECT point_id, reason, body FROM quarantine"
    )
    assert [(point_id, reason, json.loads(body)) for point_id, reason, body in kept] == [
        (
            2,
            "400: field type conflict",
            ["heart_rate", TAGS, {"bpm": 61, "sensor_contact": "detected"}],
        )
    ]
    assert [item.line for item in outbox.pending("influx", 100, lines=True)] == [
        LineEncoder().lines(points(3))[2]
    ]
    outbox.close()


def test_an_outbox_from_before_stored_lines_opens_and_drains(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = Outbox(path)  # what it wrote before: a row without a line, in a table without one
    old.register_sink("influx", from_start=True)
    old.append(points(3))
    old.close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE points DROP COLUMN line")
    reopened = Outbox(path, line_of=LineEncoder().stored)
    reopened.append(points(5)[3:])  # new rows get their line
    batch = reopened.pending("influx", 100, lines=True)
    assert [item.line is None for item in batch] == [True, True, True, False, False]
    sink = InfluxSink(Writer())
    expected = LineEncoder().lines(points(5))
    assert sink.lines(batch) == expected  # old rows encoded now, in order with the stored
    reopened.close()


async def test_a_point_line_protocol_cannot_carry_is_quarantined_with_lines_stored(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", line_of=LineEncoder().stored)
    outbox.register_sink("influx")
    good = points(4)
    bad = Point("heart_rate", TAGS, {}, 10**18)  # no field: no line
    outbox.append([*good[:2], bad, *good[2:]])
    writer = Writer()
    sink = InfluxSink(writer)
    loop = asyncio.get_running_loop()
    delivery = Delivery(AsyncOutbox(outbox), sink, wakeup=asyncio.Event(), monotonic=loop.time)
    await delivery.drain()
    assert [line for write in writer.writes for line in write] == LineEncoder().lines(good)
    assert outbox.stats().quarantined == 1
    assert outbox.pending("influx", 100) == []
