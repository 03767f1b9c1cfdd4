"""`bluewatch dispatch-sink`: a stand-in for a dispatch centre's webhook receiver.

For demos and integration tests: it verifies each request's signature and timestamp (401 and a
log line naming the reason when either is wrong), drops redeliveries by idempotency key (200,
shown once), and prints each new alert state change as one JSON line on stdout as it arrives.
It can also misbehave on purpose to exercise at-least-once delivery: answer 500 to the first
requests (or to every request while `Faults.failing` is set), answer late, or refuse alerts of
some kinds with 400. A raw log (`--raw-log`) gets one JSON line per accepted request before
de-duplication, redeliveries included, so a test can count what the gateway sent twice.

`DispatchReceiver` is the same server as a class, for tests to start on port 0 and inspect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TextIO

from aiohttp import web

from gateway import logs
from gateway.aio import wait_event
from gateway.commands import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Streams
from gateway.dispatch import (
    DEFAULT_TOLERANCE_S,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Deduplicator,
    VerificationError,
    read_secret_file,
    verify,
)
from gateway.secret_file import SecretError
from gateway.tls import is_loopback

logger = logging.getLogger(__name__)

CAP: Final = "{urn:oasis:names:tc:emergency:cap:1.2}"
JSON_SCHEMA_PREFIX: Final = "bluewatch.alert/"


class PayloadError(ValueError):
    """An authentic request whose body is not an alert this receiver understands."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert state change as the application saw it (first delivery only)."""

    key: str
    content_type: str
    alert: dict[str, Any]  # the JSON payload, or the main fields of a CAP message
    body: bytes
    headers: dict[str, str]  # the signing headers as received, to replay them in tests


@dataclass
class Faults:
    """Misbehaviour on purpose, for tests of at-least-once delivery. Change it at any time."""

    fail_first: int = 0  # answer 500 to this many authentic requests, before handling them
    failing: bool = False  # answer 500 to every authentic request while set (an outage)
    delay_s: float = 0.0  # answer this late, after handling (the answer is what gets lost)
    delay_first: int | None = None  # delay only this many answers (None: every answer)
    reject_kinds: frozenset[str] = frozenset()  # answer 400 to alerts of these kinds
    retry_after_s: int | None = None  # a Retry-After header on the injected 500s


@dataclass
class ReceiverStats:
    requests: int = 0
    unauthorized: int = 0
    failed: int = 0  # injected 500s
    refused: int = 0  # 400 and 415 answers
    duplicates: int = 0
    delayed: int = 0


def parse_json(body: bytes) -> tuple[str, dict[str, Any]]:
    """Idempotency key and payload of a `bluewatch.alert/1` JSON body."""
    try:
        alert = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(alert, dict):
        raise PayloadError("body must be a JSON object")
    schema = alert.get("schema")
    if not (isinstance(schema, str) and schema.startswith(JSON_SCHEMA_PREFIX)):
        raise PayloadError(f"field 'schema' must be {JSON_SCHEMA_PREFIX}<version>, got {schema!r}")
    key = alert.get("idempotency_key")
    if not isinstance(key, str) or not key:
        raise PayloadError("field 'idempotency_key' must be a non-empty string")
    return key, alert


def parse_cap(body: bytes) -> tuple[str, dict[str, Any]]:
    """Identifier and main fields of a CAP 1.2 `<alert>` (its identifier is the key)."""
    try:
        # Parsed only after the HMAC check: only a holder of the shared secret reaches here.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise PayloadError(f"body is not XML: {exc}") from None
    if root.tag != f"{CAP}alert":
        raise PayloadError(f"root element must be {CAP}alert, got {root.tag}")

    def text(parent: ET.Element, tag: str) -> str | None:
        found = parent.find(f"{CAP}{tag}")
        return None if found is None else found.text

    key = text(root, "identifier")
    if not key:
        raise PayloadError("CAP <identifier> is missing or empty")
    info = root.find(f"{CAP}info")
    summary: dict[str, Any] = {
        "format": "cap",
        **{tag: text(root, tag) for tag in ("identifier", "sender", "sent", "msgType")},
        "references": text(root, "references"),
    }
    if info is not None:
        summary.update(
            {tag: text(info, tag) for tag in ("event", "urgency", "severity", "certainty")}
        )
        summary["description"] = text(info, "description")
        summary["kind"] = text(info, "eventCode/" + CAP + "value")
        summary["parameters"] = {
            text(p, "valueName"): text(p, "value") for p in info.iterfind(f"{CAP}parameter")
        }
        summary["circle"] = text(info, "area/" + CAP + "circle")
    return key, summary


class DispatchReceiver:
    """The receiving server: verify, de-duplicate, show, answer. Start on port 0 in tests."""

    def __init__(
        self,
        secret: bytes,
        *,
        faults: Faults | None = None,
        out: TextIO | None = None,
        clock_s: Callable[[], float] = time.time,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        memory: int = 100_000,
        raw_log: TextIO | None = None,
    ) -> None:
        """`raw_log`: one JSON line per request answered 200, duplicates included (`key`,
        `duplicate`, `alert`), written before the answer."""
        self._secret = secret
        self.faults = faults or Faults()
        self._out = out
        self.clock_s = clock_s  # tests move it to replay a request "later"
        self.tolerance_s = tolerance_s
        self._seen = Deduplicator(memory)
        self.received: list[ReceivedAlert] = []
        self.stats = ReceiverStats()
        self._answered = 0
        self._failed_first = 0
        self._raw_log = raw_log
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __repr__(self) -> str:
        return f"DispatchReceiver({self.url or 'not started'})"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host`:`port` (0: any free port) and return the base URL."""
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_post("/{tail:.*}", self._alert)
        # Delayed answers end when the receiver stops, so a short shutdown wait is enough.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        bound_host, bound_port = self._runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        if not self.url:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _alert(self, request: web.Request) -> web.Response:
        self.stats.requests += 1
        body = await request.read()
        try:
            verify(request.headers, body, self._secret, self.clock_s(), self.tolerance_s)
        except VerificationError as exc:
            self.stats.unauthorized += 1
            logger.warning("refused a request from %s: %s", request.remote, exc)
            return web.Response(status=401, text=f"{exc}\n")
        if self._inject_failure():
            self.stats.failed += 1
            retry = self.faults.retry_after_s
            headers = {} if retry is None else {"Retry-After": str(retry)}
            return web.Response(
                status=500, text="injected failure (--fail-first)\n", headers=headers
            )
        try:
            key, alert = self._parse(request, body)
        except PayloadError as exc:
            self.stats.refused += 1
            logger.warning("refused a request from %s: %s", request.remote, exc)
            return web.Response(status=exc.status, text=f"{exc}\n")
        duplicate = key in self._seen
        if duplicate:
            self.stats.duplicates += 1
            logger.info("%s again: a redelivery, already handled", key)
        else:
            self._show(
                ReceivedAlert(key, request.content_type, alert, body, self._signing(request))
            )
            self._seen.remember(key)
        self._log_raw(key, duplicate, alert)
        await self._pause()
        return web.json_response({"idempotency_key": key, "duplicate": duplicate})

    def _inject_failure(self) -> bool:
        """Whether to answer this request 500: while failing, or among the first N."""
        if self.faults.failing:
            return True
        if self._failed_first < self.faults.fail_first:
            self._failed_first += 1
            return True
        return False

    def _log_raw(self, key: str, duplicate: bool, alert: dict[str, Any]) -> None:
        if self._raw_log is not None:
            entry = {"key": key, "duplicate": duplicate, "alert": alert}
            self._raw_log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._raw_log.flush()

    def _parse(self, request: web.Request, body: bytes) -> tuple[str, dict[str, Any]]:
        if request.content_type == "application/json":
            key, alert = parse_json(body)
            kind = alert.get("kind")
        elif request.content_type == "application/cap+xml":
            key, alert = parse_cap(body)
            kind = alert.get("kind")
        else:
            raise PayloadError(
                f"Content-Type {request.content_type!r} is neither application/json nor "
                "application/cap+xml",
                status=415,
            )
        # The header is not signed; the key inside the signed body is the one to trust.
        if request.headers.get(IDEMPOTENCY_HEADER) != key:
            raise PayloadError(f"{IDEMPOTENCY_HEADER} header does not match the signed body")
        if kind in self.faults.reject_kinds:
            raise PayloadError(f"alerts of kind {kind!r} are refused here (--reject-kind)")
        return key, alert

    @staticmethod
    def _signing(request: web.Request) -> dict[str, str]:
        names = (TIMESTAMP_HEADER, SIGNATURE_HEADER, IDEMPOTENCY_HEADER, "Content-Type")
        return {name: request.headers[name] for name in names if name in request.headers}

    def _show(self, received: ReceivedAlert) -> None:
        self.received.append(received)
        if self._out is not None:
            self._out.write(json.dumps(received.alert, ensure_ascii=False) + "\n")
            self._out.flush()

    async def _pause(self) -> None:
        faults = self.faults
        if faults.delay_s <= 0:
            return
        if faults.delay_first is not None and self._answered >= faults.delay_first:
            return
        self._answered += 1
        self.stats.delayed += 1
        await wait_event(self._stopping, faults.delay_s)


# --- the command ----------------------------------------------------------------------------


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT or [IPV6]:PORT; ValueError names what is wrong."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT (e.g. 127.0.0.1:8090), got {text!r}")
    return host, int(port)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "dispatch-sink",
        help="receive signed alert webhooks (a dispatch stand-in for demos and tests)",
        description=(
            "Receive the gateway's alert webhooks: verify signatures and timestamps, drop "
            "redeliveries, and print each new alert state change as one JSON line."
        ),
    )
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on (port 0: any)")
    parser.add_argument("--secret-file", type=Path, required=True, help="the shared secret")
    parser.add_argument(
        "--fail-first", type=int, default=0, metavar="N", help="answer 500 to the first N requests"
    )
    parser.add_argument(
        "--delay-s", type=float, default=0.0, metavar="S", help="answer S seconds late"
    )
    parser.add_argument(
        "--delay-first", type=int, default=None, metavar="N", help="delay only the first N answers"
    )
    parser.add_argument(
        "--reject-kind", action="append", default=[], metavar="KIND",
        help="answer 400 to alerts of KIND (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--tolerance-s", type=float, default=DEFAULT_TOLERANCE_S, metavar="S",
        help="refuse timestamps further than S from this clock (default 300)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=0.0, metavar="S", help="stop after S (0: on a signal)"
    )
    parser.add_argument(
        "--raw-log", type=Path, default=None, metavar="FILE",
        help="append one JSON line per accepted request, redeliveries included (before "
        "de-duplication)",
    )  # fmt: skip
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    parser.set_defaults(handler=run)


async def serve(
    receiver: DispatchReceiver, host: str, port: int, seconds: float, io: Streams
) -> None:
    url = await receiver.start(host, port)
    io.stderr.write(f"dispatch-sink: listening on {url}\n")
    io.stderr.flush()
    try:
        if not is_loopback(host):
            logger.warning("plain HTTP on a non-loopback address: for demos on a trusted network")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if seconds:
            loop.call_later(seconds, stop.set)
        await stop.wait()
    finally:
        await receiver.stop()


def run(args: argparse.Namespace, io: Streams) -> int:
    try:
        host, port = parse_listen(args.listen)
        secret = read_secret_file(args.secret_file)
    except (ValueError, SecretError) as exc:
        io.stderr.write(f"bluewatch dispatch-sink: {exc}\n")
        return EXIT_USAGE
    for name in ("fail_first", "delay_first"):
        if (getattr(args, name) or 0) < 0:
            io.stderr.write(f"bluewatch dispatch-sink: --{name.replace('_', '-')} must be >= 0\n")
            return EXIT_USAGE
    if args.delay_s < 0 or args.tolerance_s <= 0:
        io.stderr.write("bluewatch dispatch-sink: --delay-s must be >= 0, --tolerance-s > 0\n")
        return EXIT_USAGE
    logs.configure(args.log_level, "text", io.stderr)
    faults = Faults(
        fail_first=args.fail_first,
        delay_s=args.delay_s,
        delay_first=args.delay_first,
        reject_kinds=frozenset(args.reject_kind),
    )

    async def main(raw_log: TextIO | None) -> None:
        receiver = DispatchReceiver(
            secret, faults=faults, out=io.stdout, tolerance_s=args.tolerance_s, raw_log=raw_log
        )
        await serve(receiver, host, port, args.seconds, io)

    try:
        raw_log = None if args.raw_log is None else args.raw_log.open("a", encoding="utf-8")
    except OSError as exc:
        io.stderr.write(f"bluewatch dispatch-sink: cannot open {args.raw_log}: {exc.strerror}\n")
        return EXIT_USAGE
    try:
        asyncio.run(main(raw_log))
    except OSError as exc:
        io.stderr.write(
            f"bluewatch dispatch-sink: cannot listen on {args.listen}: {exc.strerror}\n"
        )
        return EXIT_FAILURE
    finally:
        if raw_log is not None:
            raw_log.close()
    return EXIT_OK
