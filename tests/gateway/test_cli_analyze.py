"""`bluewatch analyze falls|core-temp`: CSV replays in-process, and every kind of bad file."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.analytics.core_temp import estimate_core_temp
from gateway.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, run
from tests.gateway.analytics import signals

FALLS_HEADER = "t_s,ax_g,ay_g,az_g"


def _run(argv: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(argv, io.StringIO(""), out, err)
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _samples_csv(path: Path, samples: list[signals.Sample]) -> str:
    rows = [f"{t:.4f},{x:.4f},{y:.4f},{z:.4f}" for t, x, y, z in samples]
    return _write(path, [FALLS_HEADER, *rows])


@pytest.mark.parametrize("rate_hz", [25, 50, 200])
def test_falls_prints_one_object_per_fall(tmp_path: Path, rate_hz: int) -> None:
    mounting = signals.random_rotation(random.Random(rate_hz))
    recording = signals.record(signals.fall(7.0), 15.0, rate_hz, mounting=mounting)
    status, rows, err = _run(["analyze", "falls", _samples_csv(tmp_path / "fall.csv", recording)])
    assert (status, err) == (EXIT_OK, "")
    (fall,) = rows
    assert abs(fall["t_s"] - 7.0) < 1.0
    assert fall["peak_g"] > 3.0
    assert 70.0 < fall["orientation_change_deg"] < 90.0
    assert {"confirmed_at_s", "impact_g", "stillness_rms_g"} <= fall.keys()


@pytest.mark.parametrize("range_g", [2, 4, 8])
def test_falls_from_a_sensor_with_a_narrow_range(tmp_path: Path, range_g: int) -> None:
    """A Polar H10 set to +-2, 4 or 8 g clips a hard fall; `--range` says so."""
    fall = signals.fall(7.0, peak_g=8.0)
    recording = signals.record(fall, 15.0, 100, range_g=range_g)
    path = _samples_csv(tmp_path / "clipped.csv", recording)
    status, rows, err = _run(["analyze", "falls", path, "--range", str(range_g)])
    assert (status, err) == (EXIT_OK, "")
    (found,) = rows
    assert abs(found["t_s"] - 7.0) < 1.0
    assert found["peak_g"] <= range_g * 3**0.5


@pytest.mark.parametrize("value", ["1.5", "0", "nan"])
def test_falls_refuses_a_range_below_2_g(tmp_path: Path, value: str) -> None:
    path = _samples_csv(tmp_path / "fall.csv", signals.record(signals.fall(7.0), 15.0, 50))
    status, rows, err = _run(["analyze", "falls", path, "--range", value])
    assert (status, rows) == (EXIT_USAGE, [])
    assert f"--range {value} is below 2 g" in err


def test_falls_prints_nothing_for_jumping(tmp_path: Path) -> None:
    recording = signals.record(signals.jumping, 15.0, 50)
    status, rows, _ = _run(["analyze", "falls", _samples_csv(tmp_path / "jump.csv", recording)])
    assert (status, rows) == (EXIT_OK, [])


def test_time_offset_and_header_spacing_are_accepted(tmp_path: Path) -> None:
    """Timestamps need not start at 0 (a replay from a log), and `t_s, ax_g` spacing is fine."""
    recording = signals.record(signals.fall(7.0), 15.0, 50)
    rows = [f"{1000 + t:.3f}, {x:.4f}, {y:.4f}, {z:.4f}" for t, x, y, z in recording]
    path = _write(tmp_path / "offset.csv", ["t_s, ax_g, ay_g, az_g", *rows, ""])
    status, found, _ = _run(["analyze", "falls", path])
    assert status == EXIT_OK
    assert abs(found[0]["t_s"] - 1007.0) < 1.0


def _still(count: int, rate_hz: float = 50.0, start: float = 0.0) -> list[str]:
    return [f"{start + n / rate_hz:.4f},0,0,1" for n in range(count)]


BAD_FALL_FILES = {
    "empty": ([], "line 1: expected the header `t_s,ax_g,ay_g,az_g`, found an empty file"),
    "no header": (_still(100), "line 1: expected the header `t_s,ax_g,ay_g,az_g`, found `0.0000"),
    "wrong header": (["t,x,y,z", *_still(100)], "line 1: expected the header"),
    "non-numeric": ([FALLS_HEADER, *_still(5), "0.1,0,zero,1"], "line 7: ay_g is not a number"),
    "not finite": ([FALLS_HEADER, *_still(5), "0.1,nan,0,1"], "line 7: ax_g is not a number"),
    "columns": ([FALLS_HEADER, *_still(5), "0.1,0,1"], "line 7: expected 4 values"),
    "time repeats": (
        [FALLS_HEADER, *_still(5), "0.08,0,0,1"],
        "line 7: t_s 0.08 does not increase",
    ),
    "time goes back": (
        [FALLS_HEADER, *_still(5), "0.01,0,0,1"],
        "line 7: t_s 0.01 does not increase",
    ),
    "gap": (
        [FALLS_HEADER, *_still(50), *_still(50, start=1.5)],
        "line 52: interval 0.52 s differs from the file's typical interval 0.02 s",
    ),
    "too slow": ([FALLS_HEADER, *_still(100, rate_hz=10)], "sample rate 10 Hz is outside 20-200"),
    "too fast": ([FALLS_HEADER, *_still(100, rate_hz=400)], "sample rate 400 Hz is outside"),
    "one sample": ([FALLS_HEADER, "0,0,0,1"], "needs at least two samples"),
}


@pytest.mark.parametrize("case", list(BAD_FALL_FILES))
def test_falls_refuses_bad_files_naming_file_line_and_problem(tmp_path: Path, case: str) -> None:
    lines, message = BAD_FALL_FILES[case]
    path = _write(tmp_path / "bad.csv", lines) if lines else str(tmp_path / "bad.csv")
    if not lines:
        Path(path).write_text("")
    status, rows, err = _run(["analyze", "falls", path])
    assert status == EXIT_BAD_INPUT
    assert rows == []
    assert err.startswith(f"bluewatch analyze falls: {path}: ")
    assert message in err
    assert "Traceback" not in err


def test_missing_file_and_binary_file(tmp_path: Path) -> None:
    status, _, err = _run(["analyze", "falls", str(tmp_path / "absent.csv")])
    assert status == EXIT_BAD_INPUT
    assert "absent.csv: cannot read: No such file or directory" in err
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"t_s,ax_g,ay_g,az_g\n\xff\xfe\x00\x01\n")
    status, _, err = _run(["analyze", "falls", str(binary)])
    assert status == EXIT_BAD_INPUT
    assert "binary.csv: not UTF-8 text" in err


def test_core_temp_prints_one_object_per_row(tmp_path: Path) -> None:
    heart_rates = [72.0] * 10 + [150.0] * 50
    rows = [f"{minute},{hr}" for minute, hr in enumerate(heart_rates)]
    path = _write(tmp_path / "hr.csv", ["minute,hr_bpm", *rows])
    status, out, err = _run(["analyze", "core-temp", path])
    assert (status, err) == (EXIT_OK, "")
    assert [row["minute"] for row in out] == list(range(60))
    expected = estimate_core_temp(heart_rates)
    assert [row["core_temp_c"] for row in out] == pytest.approx(expected, abs=0.001)
    assert out[0]["psi"] == pytest.approx(5 * 12 / 120, abs=0.01)  # CT0 = 37.1, HR0 = 60
    assert out[-1]["core_temp_c"] > 38.0
    assert out[-1]["psi_band"] in {"moderate", "high"}


def test_core_temp_options_set_the_baselines(tmp_path: Path) -> None:
    path = _write(tmp_path / "hr.csv", ["minute,hr_bpm", "1,80", "2,80"])
    status, out, _ = _run(
        ["analyze", "core-temp", path, "--initial-core-temp", "36.9", "--resting-hr", "80"]
    )
    assert status == EXIT_OK
    assert out[0]["core_temp_c"] == pytest.approx(estimate_core_temp([80.0], 36.9)[0], abs=1e-3)
    # HR equals the resting HR and CT barely moved: next to no strain.
    assert out[0]["psi"] < 0.1


def test_core_temp_missing_minutes_advance_the_filter_unobserved(tmp_path: Path) -> None:
    path = _write(tmp_path / "hr.csv", ["minute,hr_bpm", "0,140", "1,140", "5,140"])
    status, out, _ = _run(["analyze", "core-temp", path])
    assert status == EXIT_OK
    assert [row["minute"] for row in out] == [0, 1, 5]
    expected = estimate_core_temp([140.0, 140.0, None, None, None, 140.0])
    assert out[2]["core_temp_c"] == pytest.approx(expected[-1], abs=1e-3)


BAD_CORE_TEMP_FILES = {
    "header": (["minute,hr", "0,70"], "line 1: expected the header `minute,hr_bpm`"),
    "minute": (["minute,hr_bpm", "0,70", "1.5,70"], "line 3: minute is not a whole number"),
    "order": (["minute,hr_bpm", "0,70", "2,70", "2,71"], "line 4: minute 2 does not increase"),
    "hr text": (["minute,hr_bpm", "0,70", "1,"], "line 3: hr_bpm is not a number: ''"),
    "hr range": (["minute,hr_bpm", "0,70", "1,400"], "line 3: hr_bpm 400 is outside 25-250 bpm"),
    "gap": (["minute,hr_bpm", "0,70", "99999999,70"], "line 3: minute 99999999 leaves a gap"),
}


@pytest.mark.parametrize("case", list(BAD_CORE_TEMP_FILES))
def test_core_temp_refuses_bad_files(tmp_path: Path, case: str) -> None:
    lines, message = BAD_CORE_TEMP_FILES[case]
    path = _write(tmp_path / "bad.csv", lines)
    status, out, err = _run(["analyze", "core-temp", path])
    assert (status, out) == (EXIT_BAD_INPUT, [])
    assert err.startswith(f"bluewatch analyze core-temp: {path}: ")
    assert message in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--initial-core-temp", "39.6", "--initial-core-temp 39.6 is outside 35-39.5 degC"),
        ("--initial-core-temp", "nan", "--initial-core-temp nan is outside"),
        ("--resting-hr", "180", "--resting-hr 180 is outside 25-180 bpm"),
    ],
)
def test_core_temp_refuses_impossible_baselines(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    path = _write(tmp_path / "hr.csv", ["minute,hr_bpm", "0,70"])
    status, out, err = _run(["analyze", "core-temp", path, option, value])
    assert (status, out) == (EXIT_USAGE, [])
    assert message in err


def test_analyze_needs_an_analysis() -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(["analyze"])
    assert exit_info.value.code == EXIT_USAGE
