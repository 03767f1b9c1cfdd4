"""The fault-injection soak (bench/soak.py), short: one round of faults, about a minute and a half.

The seed fixes the faults (in bench/soak.py they overlap, each drawn from its own generator):
at 2 s the BLE links drop for 11 s, past lost_after_s, so a device-lost alert is raised and, once
the links are back, cleared; from 5 s to 20 s the receiver answers 500, so both changes wait in
the outbox; at 18 s the gateway is killed with SIGKILL before it could deliver them; the
receiver then answers too late (20-32 s) while they go out, and the broker (8-12 s) and
InfluxDB (14-32 s) restart. Counting is the soak's own (bench/soak_counts.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.soak import soak

SEED = 5927  # the schedule above, with gaps of 2-4 s
ROUND = (
    "gateway_kill", "influxdb_restart", "broker_restart", "receiver_500", "receiver_timeout",
    "ble_drop",
)  # fmt: skip


@pytest.mark.timeout(300)
async def test_one_round_of_faults_loses_nothing_and_keeps_alerts_in_order(
    tmp_path: Path,
) -> None:
    result = await soak(
        3, SEED, ROUND, tmp_path, officers=1, gap_s=(2, 4),
        max_faults=len(ROUND), log=lambda _: None,
    )  # fmt: skip
    report = result.table() + "\n" + (tmp_path / "gateway.log").read_text()[-3000:]
    assert set(result.injected) == set(ROUND), report
    assert result.counts.accepted > 100, report
    assert result.counts.lost == 0, report
    assert result.alerts.expected > 0, report  # device lost, then back
    assert result.receiver.failed > 0, report  # the 500s met alert deliveries
    assert result.alerts.ok, report
    assert result.exits == [], report  # only the kill -9, which the soak caused
    assert result.memory_bounded, report


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting the small outbox filesystem needs root")
async def test_a_full_disk_neither_stops_the_gateway_nor_loses_accepted_rows(
    tmp_path: Path,
) -> None:
    result = await soak(
        3, SEED, ["disk_full"], tmp_path, officers=1, gap_s=(1, 2), max_faults=1,
        settle_s=2, log=lambda _: None,
    )  # fmt: skip
    assert result.injected["disk_full"] == 1
    assert result.exits == [], result.table()
    assert result.counts.lost == 0, result.table()
