"""Evidence bundles: the window from 30 s before to 30 s after activation, on disk and as a row."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gateway.activity import ActivityTracker, SampleClock
from gateway.alerts.evidence import EvidenceRecorder
from gateway.alerts.model import Alert, AlertKind, AlertState, Severity
from gateway.domain import DeviceRef, Point, UnitRef
from gateway.evidence_store import ENCODE_SLICE, EvidenceStore, json_pieces
from sensors import DeviceModel, HeartRateMeasurement

NS = 1_000_000_000
UNIT = UnitRef("pd", "car-1")
VEST = DeviceRef(UNIT, "o1", "o1-vest", DeviceModel.BLUEWATCH_VEST)


def store_with_90_s(folder: Path, emitted: list[Point]) -> tuple[EvidenceRecorder, EvidenceStore]:
    tracker, clock = ActivityTracker(50), SampleClock(50)
    recorder = EvidenceRecorder(UNIT, lambda d: tracker, emitted.extend)
    for second in range(1, 91):  # 90 s of samples and heart rate
        times = clock.place((second - 1) * 50, 50, second * NS)
        tracker.add_batch(((0.0, 0.0, 1.0),) * 50, 50, times)
        recorder.observe(VEST, HeartRateMeasurement(heart_rate_bpm=80 + second % 5), second * NS)
    return recorder, EvidenceStore(folder, recorder)


def officer_down() -> Alert:
    return Alert(
        "a-1",
        "o1",
        AlertKind.OFFICER_DOWN,
        Severity.CRITICAL,
        AlertState.ACTIVE,
        "fall; still 30 s",
        "man-down",
        "1",
        "cfg",
        55 * NS,
        60 * NS,
    )


async def test_bundle_holds_the_window_around_the_alert(tmp_path: Path) -> None:
    emitted: list[Point] = []
    recorder, store = store_with_90_s(tmp_path / "evidence", emitted)
    recorder.on_alert(officer_down())
    await store.write_due(80 * NS)
    assert not (tmp_path / "evidence").exists()  # the 30 s after the alert are not over yet
    await store.write_due(90 * NS)
    text = (tmp_path / "evidence" / "a-1.json").read_text()
    assert text == json.dumps(recorder.collect(officer_down()))  # written in pieces, as one
    bundle = json.loads(text)
    assert bundle["window_ns"] == [30 * NS, 90 * NS]
    samples = bundle["acceleration_g"]["samples"]
    assert samples[0][0] >= 30 * NS
    assert samples[-1][0] <= 90 * NS
    assert len(samples) >= 59 * 50  # the tracker keeps 60 s: the whole window
    assert [h["time_ns"] for h in bundle["heart_rate"]] == [s * NS for s in range(30, 91)]
    assert bundle["config_hash"] == "cfg"
    (row,) = emitted
    assert row.measurement == "evidence"
    assert row.fields["alert_id"] == "a-1"
    assert row.fields["samples"] == len(samples)
    assert row.fields["hr_mean_bpm"] == 82.0


async def test_the_daemon_writes_bundles_off_the_event_loop(tmp_path: Path) -> None:
    emitted: list[Point] = []
    recorder, store = store_with_90_s(tmp_path / "evidence", emitted)
    threads: list[int] = []
    write = store.write

    def write_and_note_thread(alert_id: str, bundle: dict[str, object]) -> Path:
        threads.append(threading.get_ident())
        return write(alert_id, bundle)

    store.write = write_and_note_thread  # type: ignore[method-assign]
    recorder.on_alert(officer_down())
    await store.write_due(80 * NS)
    assert threads == []
    await store.write_due(90 * NS)
    (worker,) = threads
    assert worker != threading.get_ident()  # a worker thread, not the loop's
    assert (tmp_path / "evidence" / "a-1.json").exists()
    (row,) = emitted
    assert row.fields["path"] == str(tmp_path / "evidence" / "a-1.json")
    await store.write_due(100 * NS)
    assert len(emitted) == 1  # each bundle once


def test_json_pieces_make_what_json_dumps_makes() -> None:
    samples = [(n * NS, n / 7, -n / 3, 1e-9 * n) for n in range(1000)]
    value = {"a": samples, "b": {"nested": samples[:3], "text": 'é "q"'}, "c": [], "d": None}
    pieces = list(json_pieces(value))
    assert "".join(pieces) == json.dumps(value)
    assert len(pieces) > len(samples) // ENCODE_SLICE  # the long list went a slice at a time
