"""The gateway's pure core: no I/O, no event loop, no clock, and nothing of the gateway but itself.

The domain types, the analytics, the alert rules and engine, and the small models they share
decide every alert; keeping them pure is what lets them be tested without sockets or sleeps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.test_architecture import ROOT, impurities

# Modules and packages (dotted) that make up the pure core.
PURE_CORE = (
    "gateway.domain",
    "gateway.assignments",
    "gateway.alerts",
    "gateway.analytics",
    "gateway.activity",
    "gateway.normalize",
    "gateway.safety_events",
    "gateway.stand_ins",
    "gateway.officer_status",
    "gateway.latency",
    "gateway.early_alerts",
    "gateway.ble.link",
    "gateway.ble.pmd_session",
    "gateway.ble.strangers",
    "gateway.ble.placement",
    "gateway.acceleration",
    "gateway.vehicle.protocol",
    "gateway.vehicle.track",
)


def _files(dotted: str) -> list[Path]:
    base = ROOT.joinpath(*dotted.split("."))
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    return [base.with_suffix(".py")]


def _in_core(module: str) -> bool:
    return any(module == core or module.startswith(core + ".") for core in PURE_CORE)


def _gateway_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.split(".")[0] == "gateway"]


CORE_FILES = [path for dotted in PURE_CORE for path in _files(dotted)]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_is_pure(path: Path) -> None:
    source = path.read_text()
    found = impurities(source, str(path.relative_to(ROOT)))
    # The sensors' rules forbid all of `gateway`; here the core may import the core.
    problems = [problem for problem in found if " imports gateway" not in problem]
    problems += [
        f"{path.relative_to(ROOT)} imports {name}, outside the pure core"
        for name in _gateway_imports(source)
        if not _in_core(name)
    ]
    assert problems == []


def test_the_check_sees_the_modules_and_catches_an_outsider() -> None:
    names = {str(path.relative_to(ROOT)) for path in CORE_FILES}
    assert {
        "gateway/domain.py",
        "gateway/alerts/engine.py",
        "gateway/alerts/rules.py",
        "gateway/alerts/record.py",
        "gateway/alerts/evidence.py",
        "gateway/analytics/falls.py",
    } <= names
    assert _gateway_imports("from gateway.outbox import Stored") == ["gateway.outbox"]
    assert not _in_core("gateway.outbox")
    assert _in_core("gateway.alerts.model")
