"""The soak's checks catch what they are there to catch: a lost, skipped or reordered alert
change, a lost point, a duplicate write (bench/soak_counts.py, bench/soak_proxy.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bench.soak_counts import Export, Key, check_alerts, count
from bench.soak_proxy import series_and_time


def raw_log(tmp_path: Path, keys: list[str]) -> Path:
    path = tmp_path / "raw.jsonl"
    lines = []
    for key in keys:
        alert_id, sequence = key.split(":")
        alert = {"alert_id": alert_id, "sequence": int(sequence)}
        lines.append(json.dumps({"key": key, "duplicate": False, "alert": alert}))
    path.write_text("\n".join(lines) + "\n")
    return path


CHANGES = [("a", 1), ("b", 1), ("a", 2), ("a", 3)]


def test_every_change_once_in_order_passes_and_redeliveries_are_counted(tmp_path: Path) -> None:
    check = check_alerts(CHANGES, raw_log(tmp_path, ["a:1", "b:1", "a:1", "a:2", "a:3"]))
    assert check.ok
    assert (check.expected, check.received, check.requests) == (4, 4, 5)


def test_a_missing_change_fails(tmp_path: Path) -> None:
    check = check_alerts(CHANGES, raw_log(tmp_path, ["a:1", "b:1", "a:2"]))
    assert check.missing == ["a:3"]
    assert not check.ok


def test_a_change_first_arriving_after_a_later_one_fails(tmp_path: Path) -> None:
    check = check_alerts(CHANGES, raw_log(tmp_path, ["a:1", "b:1", "a:3", "a:2"]))
    assert check.missing == []
    assert check.out_of_order == ["a"]


def test_an_alert_whose_first_change_never_arrived_fails(tmp_path: Path) -> None:
    check = check_alerts([("a", 2)], raw_log(tmp_path, ["a:2"]))
    assert check.out_of_order == ["a"]


def test_points_lost_and_written_twice_are_counted() -> None:
    keys: list[Key] = [("heart_rate", (("officer", "o1"),), t) for t in (1, 2, 3)]
    export = Export(Counter(keys), [])
    written = {("heart_rate,officer=o1", "1"): 1, ("heart_rate,officer=o1", "2"): 3}
    counts = count(export, set(keys[:2]), written)
    assert (counts.accepted, counts.delivered, counts.lost, counts.duplicated) == (3, 2, 1, 2)


def test_a_line_splits_at_its_first_unescaped_space_and_its_last() -> None:
    line = r'link,device=a\ b,officer=o1 state="ok now",rssi=-60i 1700000000000000000'
    assert series_and_time(line) == (r"link,device=a\ b,officer=o1", "1700000000000000000")
