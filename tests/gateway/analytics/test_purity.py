"""The analytics are pure: no I/O, no event loop, no clock, nothing of the gateway beyond them."""

from __future__ import annotations

from pathlib import Path

from tests.test_architecture import ROOT, impurities

ANALYTICS = ROOT / "gateway" / "analytics"


def _imports_analytics(problem: str) -> bool:
    imported = problem.rpartition(" imports ")[2]
    return imported == "gateway.analytics" or imported.startswith("gateway.analytics.")


def test_analytics_modules_are_pure() -> None:
    problems: list[str] = []
    for path in sorted(ANALYTICS.rglob("*.py")):
        found = impurities(path.read_text(), str(path.relative_to(ROOT)))
        # The sensors' rules forbid all of `gateway`; here only the analytics' own modules pass.
        problems += [problem for problem in found if not _imports_analytics(problem)]
    assert problems == []


def test_the_check_sees_the_modules() -> None:
    assert {path.name for path in Path(ANALYTICS).glob("*.py")} >= {
        "falls.py",
        "core_temp.py",
        "strain.py",
        "resample.py",
    }
