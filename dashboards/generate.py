"""Write the dashboards' JSON into dashboards/json/, the files provisioning and review read.

    .venv/bin/python -m dashboards.generate [FOLDER]

The committed JSON is generated, never edited by hand: change the builders, then run this.
tests/dashboards/test_generated_json.py fails when the two differ.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Final

from dashboards.catalog import build_all

JSON_FOLDER: Final = Path(__file__).resolve().parent / "json"
REGENERATE: Final = ".venv/bin/python -m dashboards.generate"


def render(dashboard: dict[str, Any]) -> str:
    """The committed text of one dashboard: sorted keys and two-space indent, for small diffs."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboards(folder: Path = JSON_FOLDER) -> list[Path]:
    """Write `<stem>.json` for every dashboard into `folder`; remove none, return those written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, dashboard in build_all().items():
        path = folder / f"{stem}.json"
        path.write_text(render(dashboard), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", nargs="?", type=Path, default=JSON_FOLDER)
    options = parser.parse_args(argv)
    for path in write_dashboards(options.folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
