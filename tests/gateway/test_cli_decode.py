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


PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
PMD_CP = "FB005C81-02E7-F387-1CAD-8ACD2D8DF0C8"
# EcgDataTest (polar-ble-sdk): ECG type 0, 2_000_000_000 ns, samples -32766 and 32770 uV.
ECG_FRAME = "00 0094357700000000 00 0280FF 028000"
# AccDataTest `process acc compressed data type 1`: a 6-bit block after the reference.
ACC_COMPRESSED = "02 6500000000000000 81 F1FF1400F003 0601 7B0F08"
# PpiDataTest: two records, flags 0xFF and 0x00.
PPI_FRAME = "03 0000000000000000 00 808080808007 000100010000"


def test_pmd_data_frame_fields() -> None:
    status, out, _ = _run(["decode", PMD_DATA, ECG_FRAME])
    assert status == EXIT_OK
    assert json.loads(out) == {
        "measurement": "ecg",
        "sensor_time_ns": 2_000_000_000,
        "frame_type": 0,
        "compressed": False,
        "samples": [[-32766], [32770]],
    }


def test_pmd_ppi_samples_are_objects() -> None:
    status, out, _ = _run(["decode", PMD_DATA, PPI_FRAME])
    assert status == EXIT_OK
    frame = json.loads(out)
    assert frame["measurement"] == "ppi"
    assert frame["samples"] == [
        {
            "hr_bpm": 128,
            "ppi_ms": 32896,
            "error_estimate_ms": 32896,
            "blocker": True,
            "skin_contact": True,
            "skin_contact_supported": True,
        },
        {
            "hr_bpm": 0,
            "ppi_ms": 1,
            "error_estimate_ms": 1,
            "blocker": False,
            "skin_contact": False,
            "skin_contact_supported": False,
        },
    ]


def test_pmd_factor_adds_scaled_samples_to_sample_frames_only() -> None:
    lines = f"{PMD_DATA} {ACC_COMPRESSED}\n{PMD_DATA} {PPI_FRAME}\n2A19 57\n"
    status, out, _ = _run(["decode", "--batch", "--pmd-factor", "0.5"], lines)
    assert status == EXIT_OK
    acc, ppi, battery = (json.loads(line) for line in out.splitlines())
    assert acc["compressed"] is True
    assert acc["samples"] == [[-15, 20, 1008], [-20, 17, 1008]]
    assert acc["samples_scaled"] == [[-7.5, 10.0, 504.0], [-10.0, 8.5, 504.0]]
    assert "samples_scaled" not in ppi
    assert battery == {"battery_pct": 87}
    _, plain, _ = _run(["decode", PMD_DATA, ACC_COMPRESSED])
    assert "samples_scaled" not in json.loads(plain)


def test_pmd_control_point_values() -> None:
    lines = "\n".join(
        f"{PMD_CP} {value}"
        for value in (
            # H10 ACC settings offered, the Verity start response's FACTOR, a real H10's
            # INVALID_MTU answer, a start command, the H10 feature read.
            "F0 01 02 00 00 00 04 19 00 32 00 64 00 C8 00 01 01 10 00 02 03 02 00 04 00 08 00",
            "F0 02 02 00 00 05 01 40 DA 7F 39",
            "f0 00 01 0a",
            "02 02 02 01 08 00 00 01 C8 00 01 01 10 00",
            "0f 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        )
    )
    status, out, _ = _run(["decode", "--batch"], lines)
    assert status == EXIT_OK
    offered, started, refused, command, features = (json.loads(line) for line in out.splitlines())
    assert offered["op"] == "get_measurement_settings"
    assert offered["status"] == "success"
    assert offered["measurement"] == "acc"
    assert offered["settings"] == {
        "sample_rate": [25, 50, 100, 200],
        "resolution": [16],
        "range": [2, 4, 8],
    }
    assert started["op"] == "request_measurement_start"
    assert abs(started["settings"]["factor"][0] - 0.000244) < 5e-9
    assert (refused["op"], refused["status"]) == ("null_item", "error_invalid_mtu")
    assert refused["settings"] is None
    assert command["op"] == "request_measurement_start"
    assert command["settings"] == {"range": [8], "sample_rate": [200], "resolution": [16]}
    assert features == {"message": "features", "measurements": ["ecg", "acc"]}


def test_malformed_pmd_values_give_one_error_line_each() -> None:
    lines = "\n".join(
        [
            f"{PMD_DATA} 04 0094357700000000 00",
            f"{PMD_DATA} 00 0094357700000000 03 000000",
            f"{PMD_DATA} 02 6500000000000000 81 F1FF1400F003 0001 7B0F08",
            f"{PMD_DATA} 02 6500000000000000 81 F1FF1400F003 0601 7B0F",
            f"{PMD_CP} F0 01 02 0F",
        ]
    )
    status, out, _ = _run(["decode", "--batch"], lines)
    assert status == EXIT_OK
    errors = [json.loads(line)["error"] for line in out.splitlines()]
    assert len(errors) == 5
    assert "unknown_measurement_type" in errors[0]
    assert "byte offset 0" in errors[0]
    assert "unknown_frame_type" in errors[1]
    assert "byte offset 9" in errors[1]
    assert "invalid_bit_width" in errors[2]
    assert "byte offset 16" in errors[2]
    assert "too_short" in errors[3]
    assert "byte offset 18" in errors[3]
    assert "reserved_value" in errors[4]
    assert "byte offset 3" in errors[4]


@pytest.mark.parametrize("factor", ["nan", "inf"])
def test_pmd_factor_must_be_finite(factor: str) -> None:
    status, _, err = _run(["decode", PMD_DATA, ECG_FRAME, "--pmd-factor", factor])
    assert status == EXIT_USAGE
    assert "--pmd-factor" in err


def test_console_script_decodes_pmd() -> None:
    script = Path(sys.executable).with_name("bluewatch")
    done = subprocess.run(
        [str(script), "decode", "--batch", "--pmd-factor", "2"],
        input=f"{PMD_DATA} {ECG_FRAME}\n{PMD_CP} F0 03 02 00 00\n{PMD_DATA} 0B\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ecg, stopped, error = (json.loads(line) for line in done.stdout.splitlines())
    assert ecg["samples_scaled"] == [[-65532.0], [65540.0]]
    assert (stopped["op"], stopped["status"]) == ("stop_measurement", "success")
    assert "line 3" in error["error"]
