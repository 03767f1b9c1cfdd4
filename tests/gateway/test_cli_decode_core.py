"""`bluewatch decode` of greenTEG CORE's Core Body Temperature and of 0x2A39."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from gateway.cli import EXIT_BAD_INPUT, EXIT_OK, run

CORE = "00002101-5b1e-4347-b07c-97b514dae121"
# A real CORE read (jogomu/corealarm, corealarm.py header) and the CORE notes' Table 5 example;
# tests/sensors/test_core_body_temperature.py says where each comes from.
REAL_CAPTURE = "17400ec10d60081400"
NOTES_EXAMPLE = "37-19-0F-A4-0D-2F-00-11-00-27"


def _run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(argv, io.StringIO(stdin), out, err)
    return status, out.getvalue(), err.getvalue()


def test_every_field_of_the_notes_example() -> None:
    status, out, _ = _run(["decode", CORE, NOTES_EXAMPLE])
    assert status == EXIT_OK
    assert json.loads(out) == {
        "core_temperature_c": 38.65,
        "skin_temperature_c": 34.92,
        "core_reserved": 47,
        "quality": "poor",
        "heart_rate_monitor": "not_receiving",
        "heart_rate_bpm": None,  # CORE sends 0 while it receives no heart rate
        "heat_strain_index": 3.9,
    }


def test_batch_of_core_values_and_absent_fields() -> None:
    lines = "\n".join(
        [
            f"{CORE} {REAL_CAPTURE}",
            f"{CORE.upper()} 04 ff7f 30",  # core not available, quality "invalid"
            f"{CORE} 34 7c0e 22 9a 1b",  # heart rate received, heat strain present
            f"{CORE} 37190fa45c0d2f00110027",  # the notes' caption: one byte too many
        ]
    )
    status, out, _ = _run(["decode", "--batch"], lines)
    assert status == EXIT_OK
    real, unavailable, with_heart_rate, error = (json.loads(line) for line in out.splitlines())
    assert (real["core_temperature_c"], real["skin_temperature_c"]) == (36.48, 35.21)
    assert real["quality"] == "excellent"
    assert (real["heart_rate_bpm"], real["heat_strain_index"]) == (None, None)
    assert unavailable["core_temperature_c"] is None
    assert unavailable["quality"] == "invalid"
    assert unavailable["skin_temperature_c"] is None
    assert with_heart_rate["core_temperature_c"] == 37.08
    assert with_heart_rate["heart_rate_monitor"] == "receiving"
    assert with_heart_rate["quality"] == "fair"
    assert (with_heart_rate["heart_rate_bpm"], with_heart_rate["heat_strain_index"]) == (154, 2.7)
    assert "line 4" in error["error"]
    assert "trailing_bytes" in error["error"]
    assert "byte offset 10" in error["error"]


def test_a_reserved_quality_code_is_an_error_with_its_offset() -> None:
    status, out, err = _run(["decode", CORE, "04400e05"])
    assert status == EXIT_BAD_INPUT
    assert out == ""
    assert "CORE Core Body Temperature (00002101)" in err
    assert "byte offset 3" in err
    assert "reserved_value" in err


def test_heart_rate_control_point() -> None:
    status, out, _ = _run(["decode", "2A39", "01"])
    assert status == EXIT_OK
    assert json.loads(out) == {"command": "reset_energy_expended"}


def test_console_script_end_to_end() -> None:
    script = Path(sys.executable).with_name("bluewatch")
    done = subprocess.run(
        [str(script), "decode", "--batch"],
        input=f"{CORE} {REAL_CAPTURE}\n{CORE} 40400e\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["core_temperature_c"] == 36.48
    assert first["quality"] == "excellent"
    assert "reserved_flags" in second["error"]
