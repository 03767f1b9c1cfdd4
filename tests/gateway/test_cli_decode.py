"""`bluewatch decode`: single values, batches from stdin, and bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, run


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(argv, io.StringIO(stdin), out, err)
    return status, out.getvalue(), err.getvalue()


def test_single_heart_rate() -> None:
    status, out, _ = _run(["decode", "2A37", "164b0004"])
    assert status == EXIT_OK
    assert json.loads(out) == {
        "heart_rate_bpm": 75,
        "sensor_contact": "detected",
        "energy_expended_kj": None,
        "rr_intervals_s": [1.0],
    }


def test_field_names_of_the_standard_characteristics() -> None:
    lines = "\n".join(
        [
            "2A1C 06 6e0100ff e9070b190e1e05 02",
            "2A1C 00 ffff7f00",
            "2A67 1d00 8e00 c0474418 a094e3d3 1a0400 0e24",
            "2A19 57",
        ]
    )
    status, out, _ = _run(["decode", "--batch"], lines)
    assert status == EXIT_OK
    temp, nan, location, battery = (json.loads(line) for line in out.splitlines())
    assert temp["temperature_c"] == 36.6
    assert temp["temperature_type"] == "body"
    assert temp["timestamp"] == "2025-11-25T14:30:05"
    assert nan["temperature_c"] is None
    assert nan["special_value"] == "nan"
    assert (nan["temperature_type"], nan["timestamp"]) == (None, None)
    assert location["speed_mps"] == 1.42
    assert location["total_distance_m"] is None
    assert (location["latitude_deg"], location["longitude_deg"]) == (40.7128, -74.006)
    assert (location["elevation_m"], location["heading_deg"]) == (10.5, 92.3)
    assert battery == {"battery_pct": 87}


def test_batch_reports_errors_per_line_and_exits_zero() -> None:
    stdin = "2A37 164b\n\n# a comment\n2A19\tff\nnot-a-uuid 00\n2A37 zz\n2A37\n2A19 64\n"
    status, out, _ = _run(["decode", "--batch"], stdin)
    assert status == EXIT_OK
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 6
    assert "line 1" in rows[0]["error"]
    assert "too_short" in rows[0]["error"]
    assert "byte offset 2" in rows[0]["error"]
    assert "line 4" in rows[1]["error"]
    assert "Battery Level (0x2A19)" in rows[1]["error"]
    assert "not-a-uuid" in rows[2]["error"]
    assert "not hex" in rows[3]["error"]
    assert "no payload" in rows[4]["error"]
    assert rows[5] == {"battery_pct": 100}


def test_vendor_uuid_and_separators_in_hex() -> None:
    status, out, _ = _run(
        ["decode", "b1e50003-5afe-4c0d-a11e-0ff1ce5afe00", "01:01:07:00:7a:ef:36:00:ff:ff"]
    )
    assert status == EXIT_OK
    assert json.loads(out)["event"] == "panic_press"


def test_single_malformed_value_exits_non_zero_with_a_message() -> None:
    status, out, err = _run(["decode", "2A19", "65"])
    assert status == EXIT_BAD_INPUT
    assert out == ""
    assert "Battery Level (0x2A19)" in err
    assert "byte offset 0" in err


@pytest.mark.parametrize("argv", [["decode"], ["decode", "2A37"], ["decode", "--batch", "2A37"]])
def test_usage_errors(argv: list[str]) -> None:
    status, _, err = _run(argv)
    assert status == EXIT_USAGE
    assert "bluewatch decode" in err


def test_console_script_end_to_end() -> None:
    """The installed `bluewatch` entry point, as an agency script would call it."""
    script = Path(sys.executable).with_name("bluewatch")
    done = subprocess.run(
        [str(script), "decode", "--batch"],
        input="2A37 164b0004\n2A37 e048\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["heart_rate_bpm"] == 75
    assert "reserved_flags" in second["error"]
