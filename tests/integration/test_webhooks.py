"""Alerts to dispatch end to end on loopback: the gateway's real delivery loop over a real
outbox in tmp_path, the webhook sink, and the real `dispatch-sink` receiver (in-process, and
once as the `bluewatch dispatch-sink` process).

What is checked is what dispatch sees: every alert state change exactly once and in order,
through failures and lost answers; forgeries and replays refused; a refused alert quarantined
rather than retried for ever; each endpoint receiving only its severities.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import math
import random
import signal
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.backoff import BackoffPolicy
from gateway.cli import run as cli_run
from gateway.commands.dispatch_sink import DispatchReceiver, Faults
from gateway.delivery import Delivery
from gateway.dispatch import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_headers
from gateway.domain import Lane, Point
from gateway.early_alerts import EarlyAlerts
from gateway.outbox import AsyncOutbox, Outbox, Stored
from gateway.pipeline import Pipeline
from gateway.sinks.errors import RetryableDeliveryError
from gateway.sinks.webhook import WebhookSink
from gateway.sinks.webhook_settings import WebhookEndpoint
from tests.support.metrics import metrics_text
from tests.support.network import free_port
from tests.support.processes import BLUEWATCH

SECRET = b"integration-secret-0123456789abcdef-synthetic"
WRONG_SECRET = b"not-the-shared-secret-0123456789abcdef-xx"
# Retries in milliseconds rather than seconds: the tests wait for outcomes, not for timers.
FAST_RETRY = BackoffPolicy(first_s=0.02, cap_s=0.2)
SEVERITY_RANK = {"info": 0, "warning": 1, "high": 2, "critical": 3}


# --- synthetic alerts -----------------------------------------------------------------------


def lifecycle(
    officer: str,
    kind: str,
    severities: str | Sequence[str],
    states: Sequence[str],
    start_ns: int,
    *,
    step_ns: int = 1_000_000_000,
) -> list[Point]:
    """One alert's state changes as the alert engine records them (one severity per change)."""
    alert_id = f"a-{uuid.uuid4().hex}"
    if isinstance(severities, str):
        severities = [severities] * len(states)
    points = []
    for sequence, (state, severity) in enumerate(zip(states, severities, strict=True), 1):
        fields: dict[str, Any] = {
            "alert_id": alert_id,
            "sequence": sequence,
            "kind": kind,
            "severity": severity,
            "state": state,
            "reason": f"synthetic {kind} {state}",
            "rule": kind,
            "rule_version": "1",
            "config_hash": "cfg-test",
            "started_ns": start_ns,
            "latitude_deg": 40.7 + sequence / 1000,
            "longitude_deg": -74.0,
            "escalated": False,
        }
        if state == "acknowledged":
            fields["acknowledged_by"] = "dispatcher-7"
        tags = {
            "agency": "test-pd",
            "unit": "car-7",
            "officer": officer,
            "device": f"{officer}-vest",
        }
        points.append(Point("alert", tags, fields, start_ns + sequence * step_ns, Lane.ALERT))
    return points


def interleave(*stories: list[Point], telemetry_every: int = 2) -> list[Point]:
    """The stories merged in time order, with heart-rate telemetry between the alerts."""
    merged = sorted(itertools.chain(*stories), key=lambda point: point.time_ns)
    out: list[Point] = []
    for index, point in enumerate(merged):
        out.append(point)
        if index % telemetry_every == 0:
            tags = {"agency": "test-pd", "unit": "car-7", "officer": point.tags["officer"]}
            out.append(Point("heart_rate", tags, {"bpm": 70 + index}, point.time_ns + 1))
    return out


def key(point: Point) -> str:
    return f"{point.fields['alert_id']}:{point.fields['sequence']}"


def expected_keys(points: Sequence[Point], min_severity: str) -> list[str]:
    return [
        key(p)
        for p in points
        if p.lane is Lane.ALERT
        and SEVERITY_RANK[str(p.fields["severity"])] >= SEVERITY_RANK[min_severity]
    ]


def officer_story(keys: Sequence[str], points: Sequence[Point]) -> dict[str, list[str]]:
    """Keys per officer, in the order given."""
    officer_of = {key(p): p.tags["officer"] for p in points if p.lane is Lane.ALERT}
    stories: dict[str, list[str]] = {}
    for k in keys:
        stories.setdefault(officer_of[k], []).append(k)
    return stories


# --- the gateway side -----------------------------------------------------------------------


class Gateway:
    """A real outbox in tmp_path and delivery loops over it, wired as gateway/app.py does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = AsyncOutbox(Outbox(path))
        self._wakeups: list[asyncio.Event] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._sinks: list[WebhookSink] = []
        self._early: list[EarlyAlerts] = []

    async def start(self, sink: WebhookSink, *, early: bool = False) -> Delivery:
        """Start a delivery loop for `sink`; with `early`, alert changes go as they are raised
        (gateway/early_alerts.py), as the daemon sends them, once the loop has caught up."""
        await self.store.register_sink(sink.name)  # before any point: it sees them all
        wakeup = asyncio.Event()
        raised = EarlyAlerts(wakeup.set) if early else None
        delivery = Delivery(
            self.store,
            sink,
            wakeup=wakeup,
            monotonic=asyncio.get_running_loop().time,
            policy=FAST_RETRY,
            rng=random.Random(7),
            early=raised,
        )
        self._wakeups.append(wakeup)
        self._sinks.append(sink)
        self._tasks.append(asyncio.create_task(delivery.run(), name=sink.name))
        if raised is not None:
            self._early.append(raised)
            await until(lambda: raised.ready, "the delivery loop to catch up")
        return delivery

    def early_ready(self) -> bool:
        """Whether every loop that sends early would send a change raised now at once."""
        return all(early.ready for early in self._early)

    def raise_(self, points: Sequence[Point]) -> None:
        """The engine made `points`: loops that send early have them now, before the commit."""
        for early in self._early:
            early.raised(points)

    async def append(self, points: Sequence[Point]) -> None:
        """Raise and commit `points`, as the pipeline does with what the engine makes."""
        self.raise_(points)
        await self.commit(points)

    async def commit(self, points: Sequence[Point]) -> None:
        await self.store.append(points)
        for wakeup in self._wakeups:
            wakeup.set()

    async def pending(self, sink: str) -> list[Stored]:
        return await self.store.pending(sink, 1000)

    def quarantined(self) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.path) as db:
            return list(db.execute("SELECT sink, reason, body FROM quarantine ORDER BY id"))

    async def stop_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        self._tasks.clear()
        self._wakeups.clear()
        self._early.clear()
        for sink in self._sinks:
            await sink.close()
        self._sinks.clear()

    async def close(self) -> None:
        await self.stop_loops()
        await self.store.close()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = Gateway(tmp_path / "outbox.sqlite3")
    yield gw
    await gw.close()


@pytest.fixture
async def receiver() -> AsyncIterator[DispatchReceiver]:
    async with DispatchReceiver(SECRET) as server:
        yield server


def webhook(
    url: str,
    *,
    secret: bytes = SECRET,
    wall_clock_ns: Callable[[], int] = time.time_ns,
    **settings: Any,
) -> WebhookSink:
    """A sink for `url` (endpoint "dispatch" unless named), as the gateway would build it."""
    values: dict[str, Any] = {"name": "dispatch", "url": f"{url}/alerts", "secret": secret.decode()}
    values.update(settings)
    return WebhookSink(WebhookEndpoint(**values), wall_clock_ns=wall_clock_ns)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Poll until `condition` holds; fail naming `what` after `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")


def received_keys(server: DispatchReceiver) -> list[str]:
    return [alert.key for alert in server.received]


def now_ns() -> int:
    return time.time_ns()


def three_officers(start_ns: int) -> list[Point]:
    return interleave(
        lifecycle("officer-01", "officer_down", "critical",
                  ["pre_alert", "active", "acknowledged", "resolved"], start_ns),
        lifecycle("officer-02", "panic", "critical",
                  ["active", "acknowledged", "resolved"], start_ns + 300_000_000),
        lifecycle("officer-03", "fall", "high", ["pre_alert", "cancelled"], start_ns + 600_000_000),
    )  # fmt: skip


# --- (1) every change, once, in order -------------------------------------------------------


async def test_every_alert_state_change_arrives_once_and_in_order(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    points = three_officers(now_ns())
    sink = webhook(receiver.url)
    await gateway.store.register_sink(sink.name)  # a known sink whose loop is not running yet
    await gateway.append(points[:5])  # a backlog, as after a restart ...
    delivery = await gateway.start(sink)
    await gateway.append(points[5:])  # ... and the rest while the loop runs
    want = expected_keys(points, "high")
    await until(lambda: len(receiver.received) >= len(want), "every alert change")
    await until(lambda: delivery.counters.delivered == len(points), "the cursor to move")

    assert received_keys(receiver) == want
    assert receiver.stats.duplicates == 0
    assert officer_story(received_keys(receiver), points) == officer_story(want, points)
    states = [a.alert["state"] for a in receiver.received if a.alert["officer"] == "officer-01"]
    assert states == ["pre_alert", "active", "acknowledged", "resolved"]
    first = receiver.received[0]
    assert first.content_type == "application/json"
    assert first.headers[IDEMPOTENCY_HEADER] == first.alert["idempotency_key"] == want[0]
    assert first.headers[SIGNATURE_HEADER].startswith("v1=")
    assert sink.counters.sent == len(want)
    assert sink.counters.skipped == len(points) - len(want)  # the telemetry
    assert sink.counters.latency.count == len(want)
    assert await gateway.pending(sink.name) == []


async def test_latency_is_measured_from_the_change_by_the_injected_clock(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    clock_ns = now_ns()
    (point,) = lifecycle("officer-01", "panic", "critical", ["active"], clock_ns - 3_500_000_000)
    # The point is stamped 2.5 s before the sink's (frozen) clock.
    sink = webhook(receiver.url, wall_clock_ns=lambda: clock_ns)
    await gateway.start(sink)
    await gateway.append([point])
    await until(lambda: sink.counters.sent == 1, "the alert")
    assert sink.counters.latency.last_s == 2.5
    assert sink.counters.latency.percentile(0.95) == 2.5
    assert receiver.received[0].headers[TIMESTAMP_HEADER] == str(clock_ns // 1_000_000_000)


async def test_cap_messages_arrive_in_order_referencing_their_predecessor(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    points = lifecycle(
        "officer-01", "officer_down", "critical",
        ["pre_alert", "active", "acknowledged", "resolved"], now_ns(),
    )  # fmt: skip
    sink = webhook(receiver.url, format="cap")
    await gateway.start(sink)
    await gateway.append(points)
    await until(lambda: len(receiver.received) == 4, "four CAP messages")
    messages = [alert.alert for alert in receiver.received]
    assert {alert.content_type for alert in receiver.received} == {"application/cap+xml"}
    assert [m["msgType"] for m in messages] == ["Alert", "Update", "Update", "Update"]
    assert [m["identifier"] for m in messages] == [key(p) for p in points]
    for earlier, later in itertools.pairwise(messages):
        assert (
            later["references"] == f"{earlier['sender']},{earlier['identifier']},{earlier['sent']}"
        )
    assert messages[0]["severity"] == "Extreme"
    assert messages[0]["parameters"]["bluewatch:officer"] == "officer-01"


# --- (2) failures and lost answers ----------------------------------------------------------


@pytest.mark.parametrize("early", [False, True], ids=["after-commit", "as-raised"])
async def test_a_receiver_failing_for_a_while_gets_every_change_once_in_order(
    gateway: Gateway, receiver: DispatchReceiver, early: bool
) -> None:
    receiver.faults = Faults(fail_first=5)
    points = three_officers(now_ns())
    sink = webhook(receiver.url)
    delivery = await gateway.start(sink, early=early)
    if early:
        for point in points:  # as the engine makes them: each raised, then committed
            await gateway.append([point])
    else:
        await gateway.append(points)
    want = expected_keys(points, "high")
    await until(lambda: len(receiver.received) >= len(want), "recovery")
    await until(lambda: delivery.counters.delivered == len(points), "the cursor to move")

    assert received_keys(receiver) == want
    assert receiver.stats.failed == 5
    assert receiver.stats.duplicates == 0
    assert sink.counters.failures == 5
    if not early:  # the first failure is the early send's, which the loop does not retry
        assert delivery.counters.retries == 5
    assert await gateway.pending(sink.name) == []


async def test_a_receiver_down_until_told_gets_every_change_once_and_logs_each_request(
    gateway: Gateway,
) -> None:
    # `failing` answers 500 for as long as it is set (an outage of unknown length); the raw log
    # has one line per request answered 200, before de-duplication.
    raw = io.StringIO()
    async with DispatchReceiver(SECRET, faults=Faults(failing=True), raw_log=raw) as receiver:
        points = three_officers(now_ns())
        sink = webhook(receiver.url)
        delivery = await gateway.start(sink)
        await gateway.append(points)
        await until(lambda: receiver.stats.failed >= 3, "three refusals")
        assert receiver.received == []
        receiver.faults = Faults()
        want = expected_keys(points, "high")
        await until(lambda: delivery.counters.delivered == len(points), "the cursor to move")

    assert received_keys(receiver) == want
    logged = [json.loads(line) for line in raw.getvalue().splitlines()]
    assert [entry["key"] for entry in logged] == want
    assert [entry["alert"]["idempotency_key"] for entry in logged] == want
    assert not any(entry["duplicate"] for entry in logged)


async def test_a_receiver_answering_too_late_gets_every_change_once_in_order(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    # The receiver handles each request at once but answers the first three only after the
    # sink gave up waiting: the sink must resend, and the receiver must drop the resends.
    receiver.faults = Faults(delay_s=5.0, delay_first=3)
    points = three_officers(now_ns())
    sink = webhook(receiver.url, timeout_s=1.0)
    delivery = await gateway.start(sink)
    await gateway.append(points)
    want = expected_keys(points, "high")
    await until(lambda: delivery.counters.delivered == len(points), "every change delivered")

    assert received_keys(receiver) == want
    assert receiver.stats.delayed == 3
    # Each lost answer cost a resend (a slow machine may lose more, never fewer).
    assert receiver.stats.duplicates >= 3
    assert sink.counters.failures >= 3
    assert await gateway.pending(sink.name) == []


async def test_retry_after_reaches_the_delivery_loop(receiver: DispatchReceiver) -> None:
    receiver.faults = Faults(fail_first=1, retry_after_s=7)
    sink = webhook(receiver.url)
    (point,) = lifecycle("officer-01", "panic", "critical", ["active"], now_ns())
    try:
        with pytest.raises(RetryableDeliveryError, match="HTTP 500") as caught:
            await sink.deliver([Stored(1, point)])
        assert caught.value.retry_after_s == 7
        await sink.deliver([Stored(1, point)])
    finally:
        await sink.close()
    assert received_keys(receiver) == [key(point)]


async def test_a_closed_port_is_retryable() -> None:
    sink = webhook(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    (point,) = lifecycle("officer-01", "panic", "critical", ["active"], now_ns())
    try:
        with pytest.raises(RetryableDeliveryError, match=r"webhook dispatch .*:1: Client"):
            await sink.deliver([Stored(1, point)])
    finally:
        await sink.close()
    assert sink.counters.failures == 1


# --- (3) forgeries and replays ---------------------------------------------------------------


async def test_forged_and_replayed_requests_are_refused(
    gateway: Gateway, receiver: DispatchReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.commands.dispatch_sink")
    (point,) = lifecycle("officer-01", "weapon_drawn", "critical", ["active"], now_ns())
    sink = webhook(receiver.url)
    await gateway.start(sink)
    await gateway.append([point])
    await until(lambda: len(receiver.received) == 1, "the genuine alert")
    genuine = receiver.received[0]
    url = f"{receiver.url}/alerts"
    base = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: genuine.key}

    async with aiohttp.ClientSession() as client:

        async def post(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
            async with client.post(url, data=body, headers=headers) as answer:
                return answer.status, await answer.text()

        # A resend of the genuine request within the tolerance: accepted, shown once.
        assert (await post(genuine.body, genuine.headers))[0] == 200
        # The genuine signature on an altered body (an attacker "resolving" the alert).
        altered = genuine.body.replace(b'"active"', b'"resolved"')
        status, text = await post(altered, genuine.headers)
        assert (status, "does not match" in text) == (401, True)
        # A body signed with another secret.
        stamp = int(time.time())
        forged = {**base, **sign_headers(WRONG_SECRET, stamp, genuine.body)}
        assert (await post(genuine.body, forged))[0] == 401
        # No signature at all.
        assert (await post(genuine.body, base))[0] == 401
        # Signed for a time far ahead (a skewed or manipulated clock).
        future = {**base, **sign_headers(SECRET, stamp + 600, genuine.body)}
        status, text = await post(genuine.body, future)
        assert (status, "in the future" in text) == (401, True)
        # The genuine request replayed later, once the tolerance has passed.
        receiver.clock_s = lambda: time.time() + 301
        status, text = await post(genuine.body, genuine.headers)
        assert (status, "old" in text) == (401, True)

    assert received_keys(receiver) == [genuine.key]
    assert receiver.stats.unauthorized == 5
    assert receiver.stats.duplicates == 1
    refusals = [r.getMessage() for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refusals) == 5
    assert any("does not match" in line for line in refusals)
    assert any("old" in line and "replayed" in line for line in refusals)
    assert all(SECRET.decode() not in line for line in refusals)


async def test_a_refused_signature_holds_alerts_until_the_secret_is_fixed(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    points = three_officers(now_ns())
    wrong = webhook(receiver.url, secret=WRONG_SECRET)
    delivery = await gateway.start(wrong)
    await gateway.append(points)
    await until(lambda: delivery.counters.retries >= 3, "a few refused attempts")
    await gateway.stop_loops()
    assert receiver.received == []
    assert gateway.quarantined() == []  # held, not set aside: every alert would fail alike
    assert receiver.stats.unauthorized >= 3

    fixed = webhook(receiver.url)  # same endpoint name: the same cursor in the outbox
    fixed_delivery = await gateway.start(fixed)
    await until(lambda: fixed_delivery.counters.delivered == len(points), "the held alerts")
    assert received_keys(receiver) == expected_keys(points, "high")


# --- (4) a refused alert is quarantined ------------------------------------------------------


async def test_a_400_quarantines_that_alert_and_the_rest_flow(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    receiver.faults = Faults(reject_kinds=frozenset({"weapon_drawn"}))
    start = now_ns()
    refused = lifecycle("officer-02", "weapon_drawn", "critical", ["active"], start + 1)
    points = interleave(
        lifecycle("officer-01", "panic", "critical", ["active", "acknowledged"], start),
        refused,
        lifecycle("officer-03", "officer_down", "critical", ["active"], start + 2),
    )
    sink = webhook(receiver.url)
    delivery = await gateway.start(sink)
    await gateway.append(points)
    await until(lambda: delivery.counters.delivered + delivery.counters.quarantined == len(points),
                "every point handled")  # fmt: skip

    assert received_keys(receiver) == [
        k for k in expected_keys(points, "high") if k != key(refused[0])
    ]
    assert delivery.counters.quarantined == 1
    assert delivery.counters.retries == 0  # refused is final: never retried
    # Bisecting the batch re-sends the bad alert at most once per level, then sets it aside.
    assert 1 <= receiver.stats.refused <= 1 + math.ceil(math.log2(len(points)))
    ((sink_name, reason, body),) = gateway.quarantined()
    assert sink_name == "webhook-dispatch"
    assert "HTTP 400" in reason
    assert "refused here (--reject-kind)" in reason
    assert json.loads(body)[2]["alert_id"] == refused[0].fields["alert_id"]
    assert await gateway.pending(sink.name) == []


# --- (5) routing by severity -------------------------------------------------------------------


async def test_each_endpoint_receives_only_its_severities(gateway: Gateway) -> None:
    start = now_ns()
    critical = lifecycle("officer-01", "officer_down", "critical", ["active", "resolved"], start)
    high = lifecycle("officer-02", "fall", "high", ["pre_alert", "active"], start + 1)
    warning = lifecycle("officer-03", "heat_strain", "warning", ["active"], start + 2)
    info = lifecycle("officer-04", "low_battery", "info", ["active", "resolved"], start + 3)
    # Escalated into dispatch's threshold: dispatch sees it from the escalation on.
    escalated = lifecycle(
        "officer-05", "tachycardia", ["high", "critical", "critical"],
        ["active", "active", "resolved"], start + 4,
    )  # fmt: skip
    # A later change of lower severity still follows an alert dispatch already has.
    settled = lifecycle(
        "officer-06", "panic", ["critical", "info"], ["active", "resolved"], start + 5
    )
    points = interleave(critical, high, warning, info, escalated, settled)
    async with (
        DispatchReceiver(SECRET) as dispatch,
        DispatchReceiver(SECRET) as supervisors,
    ):
        dispatch_sink = webhook(dispatch.url, name="dispatch", min_severity="critical")
        supervisor_sink = webhook(supervisors.url, name="supervisors", min_severity="warning")
        loops = [await gateway.start(dispatch_sink), await gateway.start(supervisor_sink)]
        await gateway.append(points)
        await until(lambda: all(d.counters.delivered == len(points) for d in loops), "both")

        want_dispatch = [
            key(p) for p in points if p.lane is Lane.ALERT
            and (p in critical or p in escalated[1:] or p in settled)
        ]  # fmt: skip
        assert received_keys(dispatch) == want_dispatch
        want_supervisors = [
            key(p) for p in points if p.lane is Lane.ALERT
            and (SEVERITY_RANK[str(p.fields["severity"])] >= 1 or p in settled)
        ]  # fmt: skip
        assert received_keys(supervisors) == want_supervisors
        info_id = str(info[0].fields["alert_id"])
        assert not any(k.startswith(info_id) for k in received_keys(supervisors))


# --- the command ------------------------------------------------------------------------------


async def test_the_dispatch_sink_command_prints_each_new_alert_once(tmp_path: Path) -> None:
    secret_file = tmp_path / "dispatch.secret"
    secret_file.write_bytes(SECRET + b"\n")
    process = await asyncio.create_subprocess_exec(
        BLUEWATCH, "dispatch-sink", "--listen", "127.0.0.1:0", "--secret-file", str(secret_file),
        "--fail-first", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        async with asyncio.timeout(30):
            announced = (await process.stderr.readline()).decode()
        assert "listening on http://127.0.0.1:" in announced, announced
        url = announced.split("listening on ", 1)[1].strip()
        points = lifecycle("officer-01", "panic", "critical", ["active", "resolved"], now_ns())
        batch = [Stored(i, p) for i, p in enumerate(points, 1)]
        sink = webhook(url)
        try:
            with pytest.raises(RetryableDeliveryError, match="HTTP 500"):
                await sink.deliver(batch)  # --fail-first 1
            await sink.deliver(batch)
            await sink.deliver(batch[:1])  # handled before: not sent again by this sink
            fresh = webhook(url)  # a restarted gateway resends: the receiver drops it
            await fresh.deliver(batch[:1])
            await fresh.close()
        finally:
            await sink.close()
        async with asyncio.timeout(30):
            lines = [json.loads(await process.stdout.readline()) for _ in points]
        assert [line["idempotency_key"] for line in lines] == [key(p) for p in points]
        assert [line["state"] for line in lines] == ["active", "resolved"]
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()
    assert rest == b""  # the redelivery was not shown again
    assert "again: a redelivery" in errors.decode()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--listen", "127.0.0.1"], "--listen must be HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "--listen must be HOST:PORT"),
        (["--secret-file", "/nonexistent/secret"], "/nonexistent/secret: cannot read"),
        (["--fail-first", "-1"], "--fail-first must be >= 0"),
    ],
)
def test_the_command_explains_bad_arguments(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    values = {"--listen": "127.0.0.1:0", "--secret-file": str(secret_file)}
    extra: list[str] = []
    for flag, value in zip(arguments[::2], arguments[1::2], strict=True):
        if flag in values:
            values[flag] = value
        else:
            extra += [flag, value]
    argv = ["dispatch-sink", *itertools.chain(*values.items()), *extra]
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(argv, stdout=out, stderr=err) == 2
    assert message in err.getvalue()
    assert SECRET.decode() not in err.getvalue()
    assert out.getvalue() == ""


# --- (6) sent as raised, before the commit ---------------------------------------------------


async def test_an_alert_reaches_dispatch_before_its_commit_and_only_once(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    (point,) = lifecycle("officer-01", "panic", "critical", ["active"], now_ns())
    sink = webhook(receiver.url)
    delivery = await gateway.start(sink, early=True)
    gateway.raise_([point])  # raised: its commit has not even begun
    await until(lambda: len(receiver.received) == 1, "the alert, before its commit")
    assert await gateway.pending(sink.name) == []  # not in the outbox yet
    await gateway.commit([point])
    await until(lambda: delivery.counters.delivered == 1, "its committed row to move the cursor")

    assert received_keys(receiver) == [key(point)]
    assert receiver.stats.requests == 1  # the committed row was not sent again
    assert sink.counters.sent == sink.counters.sent_early == 1
    assert await gateway.pending(sink.name) == []
    metrics = metrics_text(Pipeline(gateway.store, monotonic=time.monotonic), [delivery])
    assert 'bluewatch_alerts_sent_total{sink="webhook-dispatch"} 1.0' in metrics
    assert 'bluewatch_alerts_sent_early_total{sink="webhook-dispatch"} 1.0' in metrics


async def test_changes_raised_one_by_one_arrive_early_once_and_in_order(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    points = three_officers(now_ns())
    sink = webhook(receiver.url)
    delivery = await gateway.start(sink, early=True)
    for point in points:  # as the engine makes them: each raised, then committed
        await gateway.append([point])
    want = expected_keys(points, "high")
    await until(lambda: delivery.counters.delivered == len(points), "the cursor to move")

    assert received_keys(receiver) == want
    assert receiver.stats.requests == len(want)
    assert sink.counters.sent_early == len(want)
    assert sink.counters.skipped == len(points) - len(want)
    assert await gateway.pending(sink.name) == []


async def test_after_a_failed_early_send_no_change_overtakes_it(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    """The first change's early send fails: the next, raised before the first is committed,
    waits for its commit too and goes after it, with the loop's retries."""
    receiver.faults = Faults(fail_first=1)
    first, second = lifecycle("officer-01", "panic", "critical", ["active", "resolved"], now_ns())
    sink = webhook(receiver.url)
    delivery = await gateway.start(sink, early=True)
    gateway.raise_([first])
    await until(lambda: not gateway.early_ready(), "the failed early send")
    gateway.raise_([second])
    await asyncio.sleep(0.1)  # time enough for an early send that should not happen
    assert receiver.received == []
    await gateway.commit([first, second])
    await until(lambda: delivery.counters.delivered == 2, "the cursor to move")

    assert received_keys(receiver) == [key(first), key(second)]
    assert receiver.stats.failed == 1
    assert receiver.stats.duplicates == 0
    assert sink.counters.sent_early == 0
    # Caught up again, the next change goes early.
    (later,) = lifecycle("officer-02", "panic", "critical", ["active"], now_ns())
    gateway.raise_([later])
    await until(lambda: len(receiver.received) == 3, "the next alert, early")
    assert sink.counters.sent_early == 1


async def test_a_backlog_at_start_goes_before_changes_raised_meanwhile(
    gateway: Gateway, receiver: DispatchReceiver
) -> None:
    """Alerts committed before a restart and not yet delivered: a change raised while they wait
    (here for a retry) must not overtake them."""
    receiver.faults = Faults(fail_first=1)
    points = three_officers(now_ns())
    sink = webhook(receiver.url)
    await gateway.store.register_sink(sink.name)
    await gateway.commit(points[:6])  # the backlog
    wakeup = asyncio.Event()
    early = EarlyAlerts(wakeup.set)
    delivery = Delivery(
        gateway.store, sink, wakeup=wakeup, monotonic=asyncio.get_running_loop().time,
        policy=BackoffPolicy(first_s=0.5, cap_s=0.5), early=early,
    )  # fmt: skip
    task = asyncio.create_task(delivery.run())
    try:
        await until(lambda: receiver.stats.failed == 1, "the backlog's first attempt to fail")
        for point in points[6:]:  # raised while the loop waits to retry the backlog
            early.raised([point])
            await gateway.store.append([point])
            wakeup.set()
        await until(lambda: delivery.counters.delivered == len(points), "the cursor to move")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sink.close()
    assert received_keys(receiver) == expected_keys(points, "high")
    assert receiver.stats.duplicates == 0


async def test_early_changes_reach_each_endpoint_by_its_severities(gateway: Gateway) -> None:
    start = now_ns()
    critical = lifecycle("officer-01", "officer_down", "critical", ["active", "resolved"], start)
    high = lifecycle("officer-02", "fall", "high", ["pre_alert", "active"], start + 1)
    # A later change of lower severity still follows an alert dispatch already has.
    settled = lifecycle(
        "officer-06", "panic", ["critical", "info"], ["active", "resolved"], start + 5
    )
    points = interleave(critical, high, settled)
    async with DispatchReceiver(SECRET) as dispatch:
        sink = webhook(dispatch.url, name="dispatch", min_severity="critical")
        delivery = await gateway.start(sink, early=True)
        for point in points:
            await gateway.append([point])
        await until(lambda: delivery.counters.delivered == len(points), "every change")
        want = [key(p) for p in points if p in critical or p in settled]
        assert received_keys(dispatch) == want
        assert dispatch.stats.requests == len(want)
        assert sink.counters.sent_early == len(want)
