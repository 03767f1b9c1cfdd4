"""The dispatch webhook contract without a network: signing, verification, replay, dedup,
the alert record, the JSON payload against its schema, CAP 1.2, settings and answer rules."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import ssl
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from gateway.alerts.record import AlertChange, AlertRecordError
from gateway.dispatch import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BadSignatureError,
    Deduplicator,
    MalformedHeaderError,
    MissingHeaderError,
    StaleTimestampError,
    check_secret,
    read_secret_file,
    sign_headers,
    signature,
    verify,
)
from gateway.domain import Lane, Point
from gateway.latency import LatencyWindow
from gateway.outbox import Stored
from gateway.secret_file import SecretError
from gateway.sinks.alert_payloads import (
    CAP_NAMESPACE,
    CapOptions,
    cap_datetime,
    iso_utc,
    render_cap,
    render_json,
)
from gateway.sinks.errors import RejectedDeliveryError
from gateway.sinks.webhook import WebhookSink
from gateway.sinks.webhook_settings import WebhookEndpoint

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "alert-webhook.schema.json").read_text())
SECRET = b"bluewatch-test-secret-0123456789abcdef"
NOW_S = 1_795_617_005  # 2026-11-25T14:30:05Z
T0 = NOW_S * 1_000_000_000 + 123_000_000
BODY = b'{"alert_id":"a-1"}'
CAP = f"{{{CAP_NAMESPACE}}}"
TAGS = {
    "agency": "metro-pd",
    "unit": "car-12",
    "officer": "officer-01",
    "device": "officer-01-vest",
}


def alert_point(sequence: int = 1, time_ns: int = T0, **changes: Any) -> Point:
    """A synthetic alert point as the alert engine writes it; `changes` replace fields."""
    fields: dict[str, Any] = {
        "alert_id": "a-3f2b9c0d1e4a4b5c8d7e6f5a4b3c2d1e",
        "sequence": sequence,
        "kind": "officer_down",
        "severity": "critical",
        "state": "active",
        "reason": "no movement for 30 s after a fall",
        "rule": "officer_down",
        "rule_version": "2",
        "config_hash": "c0ffee12",
        "started_ns": T0 - 30_000_000_000,
        "latitude_deg": 40.758896,
        "longitude_deg": -73.98513,
        "escalated": False,
    }
    fields.update(changes)
    fields = {k: v for k, v in fields.items() if v is not None}
    return Point("alert", dict(TAGS), fields, time_ns, Lane.ALERT)


def change(sequence: int = 1, time_ns: int = T0, **changes: Any) -> AlertChange:
    return AlertChange.from_point(alert_point(sequence, time_ns, **changes))


# --- a validator for the subset of JSON Schema 2020-12 that docs/alert-webhook.schema.json uses

ANNOTATIONS = {"$schema", "$id", "title", "description", "examples", "$comment", "$defs"}
ASSERTIONS = {
    "$ref", "type", "const", "enum", "pattern", "minLength", "format", "minimum", "maximum",
    "required", "properties", "additionalProperties",
}  # fmt: skip


def _is_type(value: Any, name: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[name]


def schema_errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any] = SCHEMA, at: str = "$"
) -> list[str]:
    """Where `value` breaks `schema`; refuses any keyword it does not implement."""
    unknown = set(schema) - ANNOTATIONS - ASSERTIONS
    assert not unknown, f"the test validator does not implement {unknown} (at {at})"
    errors: list[str] = []
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        errors += schema_errors(value, target, root, at)
    if "type" in schema:
        names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_is_type(value, name) for name in names):
            return [*errors, f"{at}: {value!r} is not of type {names}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        errors += _string_errors(value, schema, at)
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{at}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{at}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        errors += _object_errors(value, schema, root, at)
    return errors


def _string_errors(value: str, schema: dict[str, Any], at: str) -> list[str]:
    errors = []
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{at}: {value!r} does not match {schema['pattern']}")
    if len(value) < schema.get("minLength", 0):
        errors.append(f"{at}: {value!r} is shorter than {schema['minLength']}")
    if schema.get("format") == "date-time":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            errors.append(f"{at}: {value!r} is not an RFC 3339 date-time")
    return errors


def _object_errors(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], at: str
) -> list[str]:
    errors = [f"{at}: missing {name!r}" for name in schema.get("required", ()) if name not in value]
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            errors += schema_errors(item, properties[name], root, f"{at}.{name}")
        elif schema.get("additionalProperties", True) is False:
            errors.append(f"{at}: unexpected property {name!r}")
    return errors


def payload(alert: AlertChange) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render_json(alert))
    return parsed


# --- signing and verification ---------------------------------------------------------------


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Independently checked: printf '1795617005.{"alert_id":"a-1"}' | openssl dgst -sha256 -hmac KEY
    assert signature(SECRET, NOW_S, BODY) == (
        "169e22fe13dafb0f9963490c6c8694c3a3d8bcff378b743afccba8296c1da8d4"
    )
    expected = hmac.new(SECRET, b"1795617005." + BODY, hashlib.sha256).hexdigest()
    assert sign_headers(SECRET, NOW_S, BODY) == {
        TIMESTAMP_HEADER: "1795617005",
        SIGNATURE_HEADER: f"v1={expected}",
    }


@pytest.mark.parametrize("now", [NOW_S, NOW_S + 300, NOW_S - 300, NOW_S + 299.5])
def test_a_fresh_authentic_request_verifies(now: float) -> None:
    verify(sign_headers(SECRET, NOW_S, BODY), BODY, SECRET, now_s=now, tolerance_s=300)


def test_header_names_are_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in sign_headers(SECRET, NOW_S, BODY).items()}
    verify(headers, BODY, SECRET, now_s=NOW_S)
    verify(CIMultiDict(sign_headers(SECRET, NOW_S, BODY)), BODY, SECRET, now_s=NOW_S)


@pytest.mark.parametrize(
    ("secret", "body", "timestamp_header"),
    [
        (b"another-secret-of-enough-length-000000", BODY, None),  # forged: wrong secret
        (SECRET, BODY + b" ", None),  # altered body
        (SECRET, BODY, str(NOW_S + 1)),  # altered timestamp
    ],
)
def test_a_forged_or_altered_request_is_refused(
    secret: bytes, body: bytes, timestamp_header: str | None
) -> None:
    headers = sign_headers(secret, NOW_S, BODY)
    if timestamp_header is not None:
        headers[TIMESTAMP_HEADER] = timestamp_header
    with pytest.raises(BadSignatureError, match="does not match") as caught:
        verify(headers, body, SECRET, now_s=NOW_S)
    assert SECRET.decode() not in str(caught.value)


@pytest.mark.parametrize(("now", "word"), [(NOW_S + 301, "old"), (NOW_S - 301, "in the future")])
def test_a_replayed_or_future_request_is_refused(now: float, word: str) -> None:
    with pytest.raises(StaleTimestampError, match=word) as caught:
        verify(sign_headers(SECRET, NOW_S, BODY), BODY, SECRET, now_s=now, tolerance_s=300)
    assert caught.value.skew_s == now - NOW_S


def test_a_stale_forgery_is_reported_as_forged_not_stale() -> None:
    # The signature is checked first: "stale" is only ever said of an authentic request.
    headers = sign_headers(b"x" * 40, NOW_S, BODY)
    with pytest.raises(BadSignatureError):
        verify(headers, BODY, SECRET, now_s=NOW_S + 10_000)


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_a_missing_header_is_named(missing: str) -> None:
    headers = sign_headers(SECRET, NOW_S, BODY)
    del headers[missing]
    with pytest.raises(MissingHeaderError, match=missing):
        verify(headers, BODY, SECRET, now_s=NOW_S)


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        (TIMESTAMP_HEADER, "1795617005.5", "whole Unix seconds"),
        (TIMESTAMP_HEADER, "-1795617005", "whole Unix seconds"),
        (TIMESTAMP_HEADER, "soon", "whole Unix seconds"),
        # Thousands of digits: int() itself refuses them with a ValueError of its own.
        (TIMESTAMP_HEADER, "1" * 5000, "at most 12 digits"),
        (SIGNATURE_HEADER, "v0=abcdef", "no v1= entry"),
        (SIGNATURE_HEADER, "abcdef", "no v1= entry"),
    ],
)
def test_a_malformed_header_is_named(header: str, value: str, message: str) -> None:
    headers = sign_headers(SECRET, NOW_S, BODY)
    headers[header] = value
    with pytest.raises(MalformedHeaderError, match=message):
        verify(headers, BODY, SECRET, now_s=NOW_S)


def test_a_long_but_authentic_timestamp_is_malformed_not_an_overflow() -> None:
    # Signed with the right secret, so only the length can refuse it (the skew, computed in
    # floating point, would overflow).
    headers = sign_headers(SECRET, int("9" * 400), BODY)
    with pytest.raises(MalformedHeaderError, match="at most 12 digits"):
        verify(headers, BODY, SECRET, now_s=NOW_S)


def test_a_repeated_header_is_refused() -> None:
    headers = CIMultiDict(sign_headers(SECRET, NOW_S, BODY))
    headers.add(SIGNATURE_HEADER, "v1=" + "0" * 64)
    with pytest.raises(MalformedHeaderError, match="appears 2 times"):
        verify(headers, BODY, SECRET, now_s=NOW_S)


def test_any_matching_v1_entry_is_enough_for_secret_rotation() -> None:
    headers = sign_headers(SECRET, NOW_S, BODY)
    good = headers[SIGNATURE_HEADER]
    headers[SIGNATURE_HEADER] = f"v1={'0' * 64}, {good}, v2=future-scheme"
    verify(headers, BODY, SECRET, now_s=NOW_S)


# --- secrets --------------------------------------------------------------------------------


def test_short_secrets_are_refused_without_showing_them() -> None:
    with pytest.raises(SecretError, match="has 9 bytes; at least 32") as caught:
        check_secret(b"too-short", "webhook dispatch")
    assert "too-short" not in str(caught.value)
    assert check_secret(SECRET, "x") == SECRET


def test_a_secret_file_loses_its_newline_and_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "secret"
    good.write_bytes(SECRET + b"\n")
    assert read_secret_file(good) == SECRET
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    with pytest.raises(SecretError, match=re.escape(str(short))):
        read_secret_file(short)
    with pytest.raises(SecretError, match=r"missing.*cannot read"):
        read_secret_file(tmp_path / "missing")


# --- de-duplication -------------------------------------------------------------------------


def test_the_deduplicator_remembers_keys_within_its_capacity() -> None:
    seen = Deduplicator(capacity=3)
    assert "a:1" not in seen
    for key in ("a:1", "a:2", "a:3"):
        seen.remember(key)
    assert "a:1" in seen
    seen.remember("a:1")  # handled again: now the newest
    seen.remember("a:4")  # forgets the oldest, a:2
    assert len(seen) == 3
    assert "a:2" not in seen
    assert {"a:1", "a:3", "a:4"} <= {k for k in ("a:1", "a:2", "a:3", "a:4") if k in seen}


def test_the_deduplicator_needs_room() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Deduplicator(capacity=0)


# --- the alert record -----------------------------------------------------------------------


def test_an_alert_point_reads_into_a_change() -> None:
    read = change(3, evidence_id="ev-77", acknowledged_by="dispatcher-4")
    assert read.idempotency_key == "a-3f2b9c0d1e4a4b5c8d7e6f5a4b3c2d1e:3"
    alert = read.alert
    assert (alert.officer_id, alert.device_id, alert.changed_ns) == (
        "officer-01",
        "officer-01-vest",
        T0,
    )
    assert (alert.latitude_deg, alert.longitude_deg) == (40.758896, -73.98513)
    assert (alert.evidence_id, alert.acknowledged_by) == ("ev-77", "dispatcher-4")
    assert (read.unit.agency, read.unit.unit) == ("metro-pd", "car-12")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alert_id": None}, "'alert_id' must be a non-empty string"),
        ({"alert_id": "a 1,<x>"}, "'alert_id' must match"),
        ({"sequence": 0}, "'sequence' must be an integer >= 1"),
        ({"sequence": True}, "'sequence' must be an integer"),
        ({"sequence": "2"}, "'sequence' must be an integer"),
        ({"severity": "extreme"}, "'severity' must be one of info, warning, high, critical"),
        ({"state": "open"}, "'state' must be one of"),
        ({"kind": "Officer Down"}, "'kind' must match"),
        ({"reason": ""}, "'reason' must be a non-empty string"),
        ({"started_ns": 1.5}, "'started_ns' must be an integer"),
        ({"latitude_deg": 91.0}, "'latitude_deg' must be a number within ±90"),
        ({"longitude_deg": float("nan")}, "'longitude_deg' must be a number"),
        ({"longitude_deg": None}, "come together"),
    ],
)
def test_a_malformed_alert_point_names_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(AlertRecordError, match=re.escape(message)):
        change(**changes)


def test_tags_are_checked_and_unknown_kinds_or_fields_are_accepted() -> None:
    point = alert_point()
    bad = Point("alert", {**point.tags, "officer": "Officer 01"}, point.fields, T0, Lane.ALERT)
    with pytest.raises(AlertRecordError, match="tag 'officer'"):
        AlertChange.from_point(bad)
    # A kind added later must still reach dispatch; fields added later are ignored.
    unknown = change(kind="drone_sighted", escalated=True, future_field="x")
    assert unknown.alert.kind == "drone_sighted"
    assert unknown.alert.escalated


# --- the JSON payload -----------------------------------------------------------------------


def test_the_schema_is_draft_2020_12_and_the_validator_knows_its_keywords() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema_errors(payload(change()), SCHEMA) == []


@pytest.mark.parametrize(
    "alert",
    [
        change(),
        change(4, state="acknowledged", evidence_id="ev-1", acknowledged_by="dispatcher-4"),
        change(1, latitude_deg=None, longitude_deg=None, severity="info", state="pre_alert"),
        change(2, kind="low_battery", severity="warning", state="cancelled"),
    ],
)
def test_payloads_follow_the_schema(alert: AlertChange) -> None:
    assert schema_errors(payload(alert), SCHEMA) == []


def test_the_payload_carries_the_record() -> None:
    body = payload(change(2, evidence_id="ev-1"))
    assert body["schema"] == "bluewatch.alert/1"
    assert body["idempotency_key"] == f"{body['alert_id']}:2"
    assert body["changed_at"] == "2026-11-25T14:30:05.123+00:00"
    assert body["started_at"] == "2026-11-25T14:29:35.123+00:00"
    assert body["location"] == {"latitude_deg": 40.758896, "longitude_deg": -73.98513}
    assert body["rule"] == {"name": "officer_down", "version": "2"}
    assert (body["device"], body["evidence_id"], body["acknowledged_by"]) == (
        "officer-01-vest",
        "ev-1",
        None,
    )
    assert "escalated" not in body
    no_fix = payload(change(latitude_deg=None, longitude_deg=None))
    assert no_fix["location"] is None


def test_a_redelivery_is_byte_identical() -> None:
    assert render_json(change(2)) == render_json(change(2))
    options = CapOptions()
    assert render_cap(change(2), options, T0 - 1) == render_cap(change(2), options, T0 - 1)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda p: p.pop("officer"), "missing 'officer'"),
        (lambda p: p.update(severity="extreme"), "$.severity"),
        (lambda p: p.update(sequence=0), "$.sequence"),
        (lambda p: p.update(extra=1), "unexpected property 'extra'"),
        (lambda p: p.update(location={"latitude_deg": 91, "longitude_deg": 0}), "latitude_deg"),
        (lambda p: p.update(changed_at="2026-11-25 14:30"), "$.changed_at"),
        (lambda p: p.update(schema="bluewatch.alert/2"), "$.schema"),
        (lambda p: p.update(device=5), "$.device"),
    ],
)
def test_the_validator_catches_what_it_should(edit: Any, where: str) -> None:
    broken = payload(change())
    edit(broken)
    errors = schema_errors(broken, SCHEMA)
    assert errors
    assert any(where in error for error in errors), errors


def test_times_keep_exact_milliseconds() -> None:
    assert iso_utc(1_795_617_005_999_999_999) == "2026-11-25T14:30:05.999+00:00"
    assert cap_datetime(1_795_617_005_999_999_999) == "2026-11-25T14:30:05-00:00"


# --- CAP 1.2 --------------------------------------------------------------------------------

# The element order of the CAP 1.2 XSD's xs:sequence for <alert>, <info> and <area>.
ALERT_ORDER = [
    "identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
    "addresses", "code", "note", "references", "incidents", "info",
]  # fmt: skip
INFO_ORDER = [
    "language", "category", "event", "responseType", "urgency", "severity", "certainty",
    "audience", "eventCode", "effective", "onset", "expires", "senderName", "headline",
    "description", "instruction", "web", "contact", "parameter", "resource", "area",
]  # fmt: skip
AREA_ORDER = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]
CAP_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")  # the XSD's pattern


def cap(alert: AlertChange, previous_ns: int | None = None, **options: Any) -> ET.Element:
    document = render_cap(alert, CapOptions(**options), previous_ns)
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    return ET.fromstring(document)


def names(element: ET.Element) -> list[str]:
    return [child.tag.removeprefix(CAP) for child in element]


def in_schema_order(found: list[str], order: list[str]) -> bool:
    positions = [order.index(name) for name in found]  # ValueError: an unknown element
    return positions == sorted(positions)


def text(element: ET.Element, path: str) -> str | None:
    return element.findtext("/".join(CAP + part for part in path.split("/")))


def test_cap_has_the_required_elements_in_schema_order() -> None:
    root = cap(change(1, state="pre_alert"))
    assert root.tag == f"{CAP}alert"
    assert all(child.tag.startswith(CAP) for child in root.iter())
    assert in_schema_order(names(root), ALERT_ORDER)
    for required in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert text(root, required), required
    (info,) = root.findall(f"{CAP}info")
    assert in_schema_order(names(info), INFO_ORDER)
    for required in ("category", "event", "urgency", "severity", "certainty"):
        assert text(info, required), required
    area = info.find(f"{CAP}area")
    assert area is not None
    assert in_schema_order(names(area), AREA_ORDER)
    assert text(root, "status") == "Actual"
    assert text(root, "scope") == "Restricted"
    assert text(root, "restriction")  # CAP 1.2: required when scope is Restricted


def test_cap_identity_times_and_first_message() -> None:
    root = cap(change(1, state="pre_alert"))
    identifier = text(root, "identifier")
    assert identifier == "a-3f2b9c0d1e4a4b5c8d7e6f5a4b3c2d1e:1"
    assert not re.search(r"[\s,<&]", identifier)  # CAP 1.2 3.2.1
    assert text(root, "sender") == "bluewatch.metro-pd.car-12"
    assert text(root, "sent") == "2026-11-25T14:30:05-00:00"
    assert CAP_DATETIME.match(text(root, "sent") or "")
    assert CAP_DATETIME.match(text(root, "info/onset") or "")
    assert text(root, "msgType") == "Alert"
    assert root.find(f"{CAP}references") is None
    assert text(root, "incidents") == "a-3f2b9c0d1e4a4b5c8d7e6f5a4b3c2d1e"
    assert text(root, "info/certainty") == "Likely"  # a pre-alert awaits the officer's answer


def test_cap_updates_reference_the_previous_message() -> None:
    previous_ns = T0 - 10_000_000_000
    root = cap(change(3, state="acknowledged", acknowledged_by="dispatcher-4"), previous_ns)
    assert text(root, "msgType") == "Update"
    assert text(root, "references") == (
        "bluewatch.metro-pd.car-12,a-3f2b9c0d1e4a4b5c8d7e6f5a4b3c2d1e:2,2026-11-25T14:29:55-00:00"
    )
    # Without the previous change's time (after a restart): the first message, at the start.
    fallback = cap(change(3, state="acknowledged"))
    assert text(fallback, "references") == (
        "bluewatch.metro-pd.car-12,a-3f2b9c0d1e4a4b5c8d7e6f5a4b3c2d1e:1,2026-11-25T14:29:35-00:00"
    )


def test_cap_cancel_and_resolution() -> None:
    cancelled = cap(change(2, state="cancelled"), T0 - 1)
    assert text(cancelled, "msgType") == "Cancel"
    assert (text(cancelled, "info/urgency"), text(cancelled, "info/certainty")) == (
        "Past",
        "Unlikely",
    )
    resolved = cap(change(4, state="resolved"), T0 - 1)
    assert text(resolved, "msgType") == "Update"
    assert text(resolved, "info/responseType") == "AllClear"
    assert text(resolved, "info/urgency") == "Past"
    # A first message is never a Cancel: a Cancel must reference something.
    assert text(cap(change(1, state="cancelled")), "msgType") == "Alert"


@pytest.mark.parametrize(
    ("severity", "urgency", "cap_severity"),
    [
        ("critical", "Immediate", "Extreme"),
        ("high", "Immediate", "Severe"),
        ("warning", "Expected", "Moderate"),
        ("info", "Future", "Minor"),
    ],
)
def test_cap_severity_table(severity: str, urgency: str, cap_severity: str) -> None:
    root = cap(change(severity=severity))
    assert (text(root, "info/urgency"), text(root, "info/severity")) == (urgency, cap_severity)
    assert text(root, "info/certainty") == "Observed"


def test_cap_info_content() -> None:
    root = cap(change(kind="weapon_drawn", reason="holster sensor: drawn <at> 14:30 & moving"))
    info = root.find(f"{CAP}info")
    assert info is not None
    assert [c.text for c in info.findall(f"{CAP}category")] == ["Security"]
    assert text(info, "event") == "Weapon drawn"
    assert text(info, "description") == "holster sensor: drawn <at> 14:30 & moving"
    assert text(info, "eventCode/value") == "weapon_drawn"
    parameters = {text(p, "valueName"): text(p, "value") for p in info.findall(f"{CAP}parameter")}
    assert parameters["bluewatch:officer"] == "officer-01"
    assert parameters["bluewatch:sequence"] == "1"
    assert "bluewatch:evidence_id" not in parameters
    assert text(info, "area/circle") == "40.758896,-73.985130 0.05"
    categories = [c.text for c in cap(change(kind="officer_down")).iter(f"{CAP}category")]
    assert categories == ["Security", "Rescue"]
    assert text(cap(change(kind="drone_sighted")), "info/event") == "drone sighted"


def test_cap_area_only_with_a_location_and_options_apply() -> None:
    root = cap(change(latitude_deg=None, longitude_deg=None), sender="psap@metro.example")
    assert root.find(f"{CAP}info/{CAP}area") is None
    assert text(root, "sender") == "psap@metro.example"
    wide = cap(change(), radius_km=0.5, restriction="Patrol supervisors only.")
    assert (text(wide, "info/area/circle") or "").endswith(" 0.5")
    assert text(wide, "restriction") == "Patrol supervisors only."


# --- settings -------------------------------------------------------------------------------

SECRET_TEXT = SECRET.decode()


def endpoint(**changes: Any) -> WebhookEndpoint:
    values: dict[str, Any] = {"name": "dispatch", "url": "https://cad.example/alerts"}
    values.update(changes)
    if "secret_file" not in values:
        values.setdefault("secret", SECRET_TEXT)
    return WebhookEndpoint(**values)


def test_endpoint_defaults() -> None:
    settings = endpoint()
    assert (settings.min_severity, settings.format, settings.timeout_s) == ("high", "json", 5.0)
    assert settings.verify_tls
    assert settings.signing_secret() == SECRET


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8090/alerts", "http://[::1]:8090/", "http://localhost/x"]
)
def test_plain_http_is_allowed_on_loopback_only(url: str) -> None:
    assert endpoint(url=url).url == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cad.example/alerts", "must use https:// .* allowed only for a loopback host"),
        ("http://10.0.0.5/alerts", "loopback"),
        ("ftp://cad.example/alerts", "must be https://"),
        ("https://user:pw@cad.example/alerts", "must not carry credentials"),
        ("https://cad.example/alerts#x", "fragment"),
    ],
)
def test_a_bad_url_is_explained(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        endpoint(url=url)
    assert "url" in str(caught.value)


def test_exactly_one_secret_source(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET_TEXT + "\n")
    assert endpoint(secret=None, secret_file=path).signing_secret() == SECRET
    with pytest.raises(ValidationError, match="exactly one of secret and secret_file"):
        endpoint(secret=SECRET_TEXT, secret_file=path)
    with pytest.raises(ValidationError, match="exactly one of secret and secret_file"):
        WebhookEndpoint(name="dispatch", url="https://cad.example/alerts")
    with pytest.raises(ValidationError, match="secret_file"):
        endpoint(secret=None, secret_file=tmp_path / "missing")


def test_secrets_never_show(tmp_path: Path) -> None:
    settings = endpoint()
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET_TEXT not in shown
    with pytest.raises(ValidationError, match="at least 32") as caught:
        endpoint(secret="short-but-secret")
    assert "short-but-secret" not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        endpoint(secret=SECRET_TEXT, unknown_key=1)
    assert SECRET_TEXT not in str(caught.value)
    path = tmp_path / "secret"
    path.write_text(SECRET_TEXT)
    sink = WebhookSink(endpoint(secret=None, secret_file=path))
    assert SECRET_TEXT not in repr(sink)
    assert SECRET_TEXT not in repr(sink.endpoint)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Dispatch Centre"},
        {"min_severity": "extreme"},
        {"format": "xml"},
        {"timeout_s": 0},
        {"cap_sender": "has space"},
        {"verify": False},
    ],
)
def test_bad_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        endpoint(**changes)


def test_tls_verification_is_on_unless_turned_off(tmp_path: Path) -> None:
    strict = endpoint().ssl_context()
    assert (strict.verify_mode, strict.check_hostname) == (ssl.CERT_REQUIRED, True)
    lax = endpoint(verify_tls=False, allow_insecure=True).ssl_context()
    assert (lax.verify_mode, lax.check_hostname) == (ssl.CERT_NONE, False)
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=re.escape(f"ca_file {junk}")):
        WebhookSink(endpoint(ca_file=junk))


def test_a_short_secret_file_fails_when_the_sink_is_built(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("hunter2\n")
    settings = endpoint(secret=None, secret_file=path)
    with pytest.raises(SecretError, match=re.escape(str(path))):
        WebhookSink(settings)


# --- latency --------------------------------------------------------------------------------


def test_the_latency_window_is_bounded_and_gives_percentiles() -> None:
    window = LatencyWindow(size=4)
    assert window.percentile(0.5) is None
    assert window.last_s is None
    for seconds in (9.0, 1.0, 2.0, 3.0, 4.0):
        window.add(seconds)
    assert (len(window), window.count, window.last_s) == (4, 5, 4.0)
    assert window.percentile(0.5) == 2.0  # nearest rank over 1, 2, 3, 4 (9 left the window)
    assert window.percentile(1.0) == 4.0
    assert window.percentile(0.0) == 1.0
    with pytest.raises(ValueError, match="fraction"):
        window.percentile(95)


# --- the sink without a network -------------------------------------------------------------


async def test_points_for_nobody_here_are_skipped_without_a_request() -> None:
    sink = WebhookSink(endpoint(url="http://127.0.0.1:9/never-called", min_severity="critical"))
    assert sink.name == "webhook-dispatch"
    telemetry = Point("heart_rate", TAGS, {"bpm": 72}, T0)
    wrong_lane = Point("alert", TAGS, dict(alert_point().fields), T0, Lane.EVENT)
    batch = [
        Stored(1, telemetry),
        Stored(2, wrong_lane),
        Stored(3, alert_point(severity="high")),
        Stored(4, alert_point(severity="warning", kind="low_battery")),
    ]
    await sink.deliver(batch)  # port 9 would refuse: nothing was sent
    assert sink.counters.skipped == 4
    assert sink.counters.sent == 0
    await sink.close()


async def test_a_malformed_alert_is_refused_naming_the_point_and_field() -> None:
    sink = WebhookSink(endpoint(url="http://127.0.0.1:9/never-called"))
    with pytest.raises(RejectedDeliveryError, match=r"alert point 17: field 'severity'"):
        await sink.deliver([Stored(17, alert_point(severity="urgent"))])
    assert sink.counters.refused == 1


def test_headers_are_named_as_documented() -> None:
    assert (IDEMPOTENCY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) == (
        "Idempotency-Key",
        "X-Bluewatch-Timestamp",
        "X-Bluewatch-Signature",
    )
