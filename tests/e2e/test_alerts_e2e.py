"""Alerts over the real path: simulated vest and helmet → BLE (Bumble over TCP) → gateway →
signed webhook → `bluewatch dispatch-sink` → acknowledgement through the gateway's endpoint.

The demo scenario: officer 1 drives the car, gets out, falls 28 s into the shift and lies
still; officer 2 runs in the heat. The car's NMEA goes from the fleet to a real gpsd, which the
gateway reads, so the officer-down alarm says where the officer lies relative to the car. The
gateway shortens its core-temperature step to 2 s (as the demo does) so that heat strain builds
within the test.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from tests.e2e.harness import gateway_config, start_fleet, start_gateway
from tests.support.gpsd import require_gpsfake, start_gpsd
from tests.support.network import free_port
from tests.support.processes import start_dispatch_sink, stop

RUN_S = 80


def test_officer_down_and_heat_strain_reach_dispatch_and_are_acknowledged(tmp_path: Path) -> None:
    secret = tmp_path / "webhook.secret"
    secret.write_text(secrets.token_urlsafe(32))
    token = tmp_path / "dispatch.token"
    token.write_text(secrets.token_urlsafe(32))
    http_port = free_port()
    receiver = start_dispatch_sink(secret)
    received: list[dict[str, object]] = []
    acknowledged: list[int] = []

    def dispatcher() -> None:
        assert receiver.process.stdout is not None
        for line in receiver.process.stdout:
            alert = json.loads(line)
            received.append(alert)
            if alert["kind"] == "officer_down" and alert["state"] == "active":
                request = urllib.request.Request(
                    f"http://127.0.0.1:{http_port}/alerts/{alert['alert_id']}/acknowledge",
                    data=b'{"by": "e2e-dispatcher"}',
                    headers={"Authorization": f"Bearer {token.read_text()}"},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    acknowledged.append(response.status)

    thread = threading.Thread(target=dispatcher, daemon=True)
    thread.start()
    require_gpsfake()  # gpsd with it (Debian's gpsd-clients and gpsd)
    gpsd_port, nmea_port = free_port(), free_port()
    gpsd = start_gpsd(f"udp://127.0.0.1:{nmea_port}", gpsd_port, output=tmp_path / "gpsd.log")
    fleet = start_fleet(officers=2, scenario="mixed-fleet", vehicle_nmea=nmea_port)
    try:
        config = gateway_config(
            tmp_path,
            fleet,
            http_port=http_port,
            extra={
                "dispatch_api": {"token_file": token},
                "alerts": {"physiology_step_s": 2.0},
                "webhooks": [receiver.webhook()],
                "vehicle": {"gpsd_host": "127.0.0.1", "gpsd_port": gpsd_port},
            },
        )
        gateway = start_gateway(config, tmp_path / "gateway.log", seconds=RUN_S)
        gateway.wait(timeout=RUN_S + 60)
        assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-3000:]
        time.sleep(1)
    finally:
        fleet.stop()
        stop(gpsd)
        receiver.stop()
        thread.join(timeout=5)

    def changes(officer: str, kind: str) -> list[dict[str, object]]:
        return [a for a in received if a["officer"] == officer and a["kind"] == kind]

    down = changes("officer-01", "officer_down")
    assert [a["state"] for a in down][:3] == ["pre_alert", "active", "acknowledged"]
    assert [a["sequence"] for a in down] == sorted(a["sequence"] for a in down)  # in order
    started = datetime.fromisoformat(str(down[1]["started_at"]))
    alarmed = datetime.fromisoformat(str(down[1]["changed_at"]))
    assert abs((alarmed - started).total_seconds() - 30) <= 1.5  # alarm 30 s after the fall
    assert down[2]["acknowledged_by"] == "e2e-dispatcher"
    # Tens of metres from the car, which way (the unit's id is the vehicle's by default).
    assert re.search(r"; \d+ m (north|south|east|west)[a-z-]* of car-7$", str(down[1]["reason"]))
    assert acknowledged == [200]
    heat = changes("officer-02", "heat_strain")
    assert heat, [a["kind"] for a in received]
    keys = [a["idempotency_key"] for a in received]
    assert len(keys) == len(set(keys))  # each state change shown once
    assert all(a["officer"] != "officer-02" or a["kind"] != "officer_down" for a in received)
