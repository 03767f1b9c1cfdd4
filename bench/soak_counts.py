"""The soak's verdict, by counting: the outbox export against InfluxDB, the counting proxy and
the dispatch receiver's raw log.

- accepted: the distinct points the outbox holds at the end (`bluewatch export`), keyed by
  measurement, tags and timestamp: what InfluxDB keeps one of.
- delivered: accepted keys present in InfluxDB (InfluxQL, every measurement read whole).
- lost: accepted keys absent from InfluxDB.
- duplicated: lines InfluxDB acknowledged more than once for one series and timestamp (the
  proxy's count; InfluxDB itself overwrites them, so it cannot tell).
- alerts: every alert state change in the outbox must be in the receiver's raw log; per alert,
  first deliveries in increasing sequence with no gap.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import BLUEWATCH

Key = tuple[str, tuple[tuple[str, str], ...], int]  # measurement, sorted tags, time_ns


@dataclass(frozen=True)
class Export:
    """What the outbox holds: point keys, and the alert changes as (alert_id, sequence)."""

    keys: Counter[Key]
    alert_changes: list[tuple[str, int]]


def read_export(config: Path) -> Export:
    done = subprocess.run(
        [BLUEWATCH, "export", "--config", str(config), "--format", "csv"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    keys: Counter[Key] = Counter()
    alert_changes = []
    for row in csv.DictReader(io.StringIO(done.stdout)):
        tags = json.loads(row["tags"])
        keys[(row["measurement"], tuple(sorted(tags.items())), int(row["time_ns"]))] += 1
        if row["lane"] == "alert" and row["measurement"] == "alert":
            fields = json.loads(row["fields"])
            alert_changes.append((str(fields["alert_id"]), int(fields["sequence"])))
    return Export(keys, alert_changes)


def _query(url: str, database: str, query: str) -> list[dict[str, Any]]:
    """Every series InfluxDB answers `query` with (chunked, so no row limit applies)."""
    params = urllib.parse.urlencode({"db": database, "q": query, "epoch": "ns", "chunked": "true"})
    series: list[dict[str, Any]] = []
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=120) as response:
        for line in response:
            if not line.strip():
                continue
            for result in json.loads(line)["results"]:
                if "error" in result:
                    raise RuntimeError(f"InfluxDB: {result['error']} ({query})")
                series.extend(result.get("series") or [])
    return series


def influx_keys(url: str, database: str, measurements: Iterable[str]) -> set[Key]:
    """The (measurement, tags, time) of every point InfluxDB holds in `measurements`."""
    keys: set[Key] = set()
    for measurement in measurements:
        tag_keys = {
            str(row[0])
            for s in _query(url, database, f'SHOW TAG KEYS FROM "{measurement}"')
            for row in s["values"]
        }
        for s in _query(url, database, f'SELECT * FROM "{measurement}"'):
            columns: list[str] = s["columns"]
            for values in s["values"]:
                row = dict(zip(columns, values, strict=True))
                tags = tuple(sorted((k, str(row[k])) for k in tag_keys if row.get(k) is not None))
                keys.add((measurement, tags, int(row["time"])))
    return keys


@dataclass(frozen=True)
class AlertCheck:
    expected: int  # alert state changes in the outbox
    received: int  # distinct ones the receiver took
    requests: int  # accepted requests, redeliveries included (the raw log's lines)
    missing: list[str]  # keys never received
    out_of_order: list[str]  # alerts whose first deliveries went backwards or skipped one

    @property
    def ok(self) -> bool:
        return not self.missing and not self.out_of_order


def check_alerts(changes: list[tuple[str, int]], raw_log: Path) -> AlertCheck:
    firsts: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    requests = 0
    for line in raw_log.read_text().splitlines():
        entry = json.loads(line)
        requests += 1
        key = str(entry["key"])
        if key in seen:
            continue
        seen.add(key)
        alert = entry["alert"]
        firsts[str(alert["alert_id"])].append(int(alert["sequence"]))
    expected = {f"{alert_id}:{sequence}" for alert_id, sequence in changes}
    out_of_order = [
        alert_id
        for alert_id, sequences in firsts.items()
        if sequences != list(range(sequences[0], sequences[0] + len(sequences)))
        or sequences[0] != 1
    ]
    return AlertCheck(
        len(expected), len(seen), requests, sorted(expected - seen), sorted(out_of_order)
    )


@dataclass(frozen=True)
class Counts:
    accepted: int
    delivered: int
    lost: int
    duplicated: int  # extra acknowledged writes of one series and timestamp
    collisions: int  # outbox points sharing a key (InfluxDB would keep one of them)
    lost_sample: list[str] = field(default_factory=list)
    collision_sample: list[str] = field(default_factory=list)


def count(export: Export, stored: set[Key], written: Mapping[tuple[str, str], int]) -> Counts:
    accepted = set(export.keys)
    lost = accepted - stored
    return Counts(
        accepted=len(accepted),
        delivered=len(accepted & stored),
        lost=len(lost),
        duplicated=sum(n - 1 for n in written.values() if n > 1),
        collisions=sum(n - 1 for n in export.keys.values() if n > 1),
        lost_sample=[repr(k) for k in sorted(lost)[:5]],
        collision_sample=[repr(k) for k, n in export.keys.items() if n > 1][:5],
    )
