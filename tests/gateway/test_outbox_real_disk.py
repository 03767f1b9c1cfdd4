"""The outbox on a real full filesystem: a 4 MiB tmpfs filled to the last byte by another file;
commits, a restart, and a delivery loop whose cursor cannot move.

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


# In the mounted tmpfs (argv[1]): a delivery loop with 300 telemetry rows to deliver, its
# outbox's WAL truncated and the disk then filled, so the cursor cannot move; the filler is
# removed once the loop has been refused a few times. What the sink received, what the loop
# counted and logged, and where the cursor ended are printed as JSON.
DELIVERY_CHILD = textwrap.dedent(
    """
    import asyncio, json, logging, os, sys
    from pathlib import Path
    from gateway.backoff import BackoffPolicy
    from gateway.delivery import Delivery
    from gateway.domain import Lane, Point
    from gateway.outbox import AsyncOutbox, Outbox
    from gateway.sinks.sink import Sink

    class Recording(Sink):
        name = "recording"
        batch_max = 1000
        linger_s = 0.0

        def __init__(self):
            self.batches = []

        async def deliver(self, batch):
            self.batches.append([item.id for item in batch])

    class Lines(logging.Handler):
        def __init__(self):
            super().__init__()
            self.lines = []

        def emit(self, record):
            self.lines.append([record.levelname, record.getMessage(), bool(record.exc_info)])

    async def main(folder):
        outbox = Outbox(folder / "outbox.sqlite3")
        outbox.register_sink("recording")
        outbox.append([Point("t", {}, {"pad": "x" * 300}, n) for n in range(300)])
        outbox._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(folder / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(bytes(4096))
            except OSError:
                pass
        lines = Lines()
        logging.getLogger("gateway").addHandler(lines)
        sink = Recording()
        loop = asyncio.get_running_loop()
        delivery = Delivery(
            AsyncOutbox(outbox), sink, wakeup=asyncio.Event(), monotonic=loop.time,
            policy=BackoffPolicy(0.01, 0.05),
        )
        task = asyncio.create_task(delivery.run())
        result = {}
        async with asyncio.timeout(30):
            while delivery.counters.outbox_full < 3 and not task.done():
                await asyncio.sleep(0.01)
            result["failed"] = repr(task.exception()) if task.done() else None
            result["cursor_while_full"] = outbox.cursor("recording", Lane.TELEMETRY)
            os.unlink(folder / "filler")
            while outbox.cursor("recording", Lane.TELEMETRY) != 300 and not task.done():
                await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        result.update(
            batches=sink.batches,
            outbox_full=delivery.counters.outbox_full,
            cursor=outbox.cursor("recording", Lane.TELEMETRY),
            logged=lines.lines,
        )
        print(json.dumps(result))

    asyncio.run(main(Path(sys.argv[1])))
    """
)


def on_a_full_tmpfs(tmp_path: Path, checkpoint: str, child: str = CHILD) -> dict[str, object]:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and unshare")
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "child.py"
    script.write_text(child)
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


def test_a_delivered_batch_whose_cursor_cannot_move_is_not_sent_again(tmp_path: Path) -> None:
    result = on_a_full_tmpfs(tmp_path, "TRUNCATE", DELIVERY_CHILD)
    assert result["failed"] is None  # the loop did not fail: it waited for room
    assert result["cursor_while_full"] == 0
    assert result["batches"] == [list(range(1, 301))]  # sent once, not again after the refusals
    assert result["cursor"] == 300  # moved once there was room
    outbox_full = result["outbox_full"]
    assert isinstance(outbox_full, int)
    assert outbox_full >= 3
    logged = result["logged"]
    assert isinstance(logged, list)
    assert len(logged) == 1  # one line for the whole episode, without a traceback
    level, message, traceback = logged[0]
    assert (level, traceback) == ("WARNING", False)
    assert "is full: the cursor of recording cannot move" in message
