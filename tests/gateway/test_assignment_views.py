"""The wired gateway follows an assignment at once: its link and officer_status rows, what the
live view says the kit cannot detect; and the officer's open alerts stay with the officer when
the device goes back to the pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.alerts.coverage import gaps, undetectable
from gateway.alerts.engine import Rule
from gateway.alerts.model import AlertKind, Severity
from gateway.app import Gateway, build
from gateway.ble.factory import BleakFactory
from gateway.config import load_config
from gateway.domain import LINK, OFFICER_STATUS, Point

CONFIG = """
agency = "metro-pd"
unit = "car-12"

[outbox]
path = "{outbox}"

[[officers]]
id = "officer-01"

[[pool]]
id = "vest-07"
model = "bluewatch-vest"
address = "c4:00:00:00:00:07"
"""


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(outbox=tmp_path / "outbox.sqlite3"))
    wired = await build(load_config(path), [], factory=BleakFactory.bluez())
    yield wired
    await wired.outbox.close()
    wired.assignment_store.close()


def rows(gateway: Gateway, measurement: str) -> list[Point]:
    return [p for p in gateway.status_rows.points() if p.measurement == measurement]


async def test_status_rows_and_the_live_view_follow_the_kit(gateway: Gateway) -> None:
    [before] = rows(gateway, OFFICER_STATUS.name)
    assert before.fields["cannot_detect"] == ",".join(k.value for k in undetectable([]))
    assert rows(gateway, LINK.name) == []
    assert gateway.live.gaps["officer-01"] == gaps([])

    await gateway.assignments.assign("officer-01", ["vest-07"], "sgt-4")
    vest = gateway.manager.devices["vest-07"].ref
    [status] = rows(gateway, OFFICER_STATUS.name)
    assert status.fields["cannot_detect"] == ",".join(k.value for k in undetectable([vest]))
    assert status.fields["cannot_detect"] != before.fields["cannot_detect"]
    [link] = rows(gateway, LINK.name)
    assert (link.tags["officer"], link.tags["device"]) == ("officer-01", "vest-07")
    assert gateway.live.gaps["officer-01"] == gaps([vest])

    await gateway.assignments.unassign("vest-07", "sgt-4")
    assert rows(gateway, LINK.name) == []
    assert gateway.live.gaps["officer-01"] == gaps([])


async def test_open_alerts_stay_with_the_officer_after_the_device_goes(gateway: Gateway) -> None:
    await gateway.assignments.assign("officer-01", ["vest-07"], "sgt-4")
    alert = gateway.engine.raise_alert(
        "officer-01", AlertKind.PANIC, Severity.CRITICAL, "panic", Rule("panic-button", "1")
    )
    await gateway.assignments.unassign("vest-07", "sgt-4")
    assert [a.alert_id for a in gateway.engine.open_alerts()] == [alert.alert_id]
    [status] = rows(gateway, OFFICER_STATUS.name)
    assert (status.fields["status"], status.fields["open_alerts"]) == ("alert", 1)
