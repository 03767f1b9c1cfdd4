"""The outbox on a real full filesystem: a 4 MiB tmpfs filled to the last byte by another file.

Mounting needs root and a private mount namespace (`unshare --mount`); where either is refused
(most CI machines) the test is skipped, and tests/gateway/test_outbox_full.py covers the same
SQLITE_FULL through a size-limited database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# In the mounted tmpfs (argv[1]): an outbox with 3,000 telemetry rows checkpointed into its
# file, the WAL kept (as SQLite leaves it) or truncated (argv[2]), then the disk filled by
# another file. What each commit did is printed as JSON; then the filler is removed.
CHILD = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from gateway.domain import Lane, Point
    from gateway.outbox import Outbox, OutboxFullError

    folder, checkpoint = Path(sys.argv[1]), sys.argv[2]
    outbox = Outbox(folder / "outbox.sqlite3")
    outbox.register_sink("influx")
    outbox.register_sink("removed")  # a sink the next start no longer has
    for n in range(0, 3000, 100):
        outbox.append([Point("t", {}, {"pad": "x" * 300}, n + i) for i in range(100)])
    outbox._db.execute(f"PRAGMA wal_checkpoint({checkpoint})")
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(bytes(4096))
        except OSError as exc:
            disk = exc.strerror
    result = {"disk": disk, "alerts": []}
    for k in range(3):
        alert = Point("alert", {}, {"alert_id": f"a{k}", "pad": "y" * 500}, k, Lane.ALERT)
        try:
            outbox.append([alert])
            result["alerts"].append("stored")
        except OutboxFullError as exc:
            result["alerts"].append(str(exc))
    result["in_transaction"] = outbox._db.in_transaction or outbox._full_db.in_transaction
    outbox.close()
    # A restart on the full disk: the outbox opens and reads; a cursor to drop waits.
    outbox = Outbox(folder / "outbox.sqlite3")
    result["restored"] = len(outbox.pending("influx", 10_000))
    try:
        result["dropped"] = outbox.keep_sinks([])
    except OutboxFullError as exc:
        result["dropped"] = str(exc)
    os.unlink(folder / "filler")
    outbox.append([Point("alert", {}, {"alert_id": "later"}, 9, Lane.ALERT)])
    result["rows_after_room"] = outbox.stats().rows
    print(json.dumps(result))
    """
)


def on_a_full_tmpfs(tmp_path: Path, checkpoint: str) -> dict[str, object]:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and unshare")
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    command = (
        f"mount -t tmpfs -o size=4m tmpfs {mount} || exit 77; "
        f"exec {sys.executable} {script} {mount} {checkpoint}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", command],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    if done.returncode == 77 or "unshare failed" in done.stderr:
        pytest.skip(f"no private tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_with_its_wal_kept_a_full_disk_still_takes_alerts(tmp_path: Path) -> None:
    result = on_a_full_tmpfs(tmp_path, "PASSIVE")
    assert result["disk"] == "No space left on device"
    assert result["alerts"] == ["stored"] * 3  # into the WAL's space, reused after checkpoint
    assert result["restored"] == 3000 + 3
    assert result["dropped"] == ["influx", "removed"]
    assert result["rows_after_room"] == 3000 + 3 + 1


def test_with_no_room_at_all_a_commit_fails_cleanly_and_recovers(tmp_path: Path) -> None:
    result = on_a_full_tmpfs(tmp_path, "TRUNCATE")  # a WAL of 0 bytes: no space to reuse
    assert result["disk"] == "No space left on device"
    alerts = result["alerts"]
    assert isinstance(alerts, list)
    assert len(alerts) == 3
    assert all("outbox.sqlite3 is full" in message for message in alerts)
    assert result["in_transaction"] is False
    assert result["restored"] == 3000  # it starts again on the full disk
    assert "is full: influx, removed kept" in str(result["dropped"])
    assert result["rows_after_room"] == 3000 + 1  # nothing lost, and writable again
