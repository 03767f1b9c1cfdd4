"""The dependency rules of the layout, checked on every run.

`sensors` is pure (no I/O, no event loop, no clock) and imports nothing of the repository;
`gateway` and `firmware_mocks` never import each other (the import-linter contracts in
pyproject.toml, run here too so a plain `pytest` enforces them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a pure codec library must not touch: event loops, radios, sockets, processes, clocks.
FORBIDDEN_IN_SENSORS = {
    "asyncio", "bleak", "bleak_retry_connector", "bumble", "socket", "ssl", "http", "urllib",
    "aiohttp", "aiomqtt", "influxdb_client", "subprocess", "threading", "time", "os", "sqlite3",
    "gateway", "firmware_mocks", "dashboards",
}  # fmt: skip
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def impurities(source: str, filename: str = "<source>") -> list[str]:
    """Forbidden imports and clock reads in one module's source."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [
            f"{filename}:{node.lineno} imports {name}"
            for name in names
            if name.split(".")[0] in FORBIDDEN_IN_SENSORS
        ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_READS
        ):
            found.append(f"{filename}:{node.lineno} reads a clock ({node.func.attr}())")
    return found


def test_the_checker_catches_what_it_should() -> None:
    assert impurities("import asyncio")
    assert impurities("from bleak import BleakClient")
    assert impurities("from datetime import datetime\nx = datetime.now()")
    assert impurities("import time\nt = time.monotonic()")
    assert not impurities("from datetime import datetime\nimport struct\nx = datetime(2020, 1, 1)")


def test_sensors_is_pure() -> None:
    problems: list[str] = []
    for path in sorted((ROOT / "sensors").rglob("*.py")):
        problems += impurities(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == []


def test_import_contracts() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
