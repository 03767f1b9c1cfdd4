"""The dependency rules of the layout, checked on every run.

`sensors` is pure (no I/O, no event loop, no clock) and imports nothing of the repository;
`bumble_mends` imports only Bumble and the standard library; `gateway` and `firmware_mocks`
never import each other (the import-linter contracts in pyproject.toml, run here too so a plain
`pytest` enforces them).
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
    "gateway", "firmware_mocks", "dashboards", "bumble_mends",
}  # fmt: skip
# What the shared Bumble workarounds may import besides themselves and the standard library.
ALLOWED_IN_BUMBLE_MENDS = {"bumble", "bumble_mends"}
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """Every module one module's source imports absolutely, with the line that imports it."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def impurities(source: str, filename: str = "<source>") -> list[str]:
    """Forbidden imports and clock reads in one module's source."""
    found = [
        f"{filename}:{line} imports {name}"
        for line, name in imported_modules(source, filename)
        if name.split(".")[0] in FORBIDDEN_IN_SENSORS
    ]
    for node in ast.walk(ast.parse(source, filename)):
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


def foreign_imports(source: str, filename: str = "<source>") -> list[str]:
    """Imports in a `bumble_mends` module of anything but Bumble, itself and the stdlib."""
    allowed = ALLOWED_IN_BUMBLE_MENDS | sys.stdlib_module_names
    return [
        f"{filename}:{line} imports {name}"
        for line, name in imported_modules(source, filename)
        if name.split(".")[0] not in allowed
    ]


def test_the_bumble_mends_checker_catches_what_it_should() -> None:
    assert foreign_imports("from gateway.ble import bumble_stack")
    assert foreign_imports("import sensors")
    assert foreign_imports("import pydantic")
    assert not foreign_imports("import logging\nfrom bumble import hci\nfrom bumble_mends import x")


def test_bumble_mends_imports_only_bumble_and_the_standard_library() -> None:
    modules = sorted((ROOT / "bumble_mends").rglob("*.py"))
    assert modules
    problems: list[str] = []
    for path in modules:
        problems += foreign_imports(path.read_text(), str(path.relative_to(ROOT)))
    assert problems == []


def test_import_contracts() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
