"""The MQTT uplink (aiomqtt): points as JSON on a per-officer topic tree, from the outbox.

Topics: `{prefix}/{agency}/{unit}/{officer}/{telemetry|status|alert}`, and the gateway's own
`{prefix}/{agency}/{unit}/gateway/status`, retained, with a last will saying "offline", so a
dispatcher's board sees a vehicle drop off the network. Every publish is QoS 1 (the broker
acknowledges it before the outbox cursor moves); status is retained so a new subscriber sees
each officer's last battery and device state at once. A pool device's release (the status rows
saying `released`, gateway/assignments.py) is published without retain and then clears the
officer's retained status (an empty retained payload, MQTT's way to delete one), so a new
subscriber does not find the device under the officer it left; the officer's other devices
retain their state again with their next status row (every 10 s).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiomqtt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from gateway.backoff import BackoffPolicy
from gateway.domain import RELEASED, Channel, Point, channel_of, iso_utc
from gateway.outbox import Stored
from gateway.secret_file import read_secret_text
from gateway.sinks.errors import RetryableDeliveryError
from gateway.sinks.sink import Sink
from gateway.tls import client_context, insecure_error, is_loopback

logger = logging.getLogger(__name__)

# Reconnect quickly after a blip, but spread vehicles out after a broker restart (jitter), and
# never wait more than 30 s: the uplink is how dispatch sees alerts when webhooks are down.
RECONNECT = BackoffPolicy(first_s=1.0, cap_s=30.0, jitter=0.5)
# The topic level of the gateway's own rows and of its status (retained, with the last will);
# no officer may have this id (gateway/config.py refuses it), or the two would share a topic.
GATEWAY_LEVEL = "gateway"


class MqttSettings(BaseModel):
    """`[mqtt]`: the broker, its credentials and TLS (on by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(default=8883, ge=1, le=65535)
    tls: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    topic_prefix: str = Field(default="bluewatch", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=600)
    # A password over a connection without TLS to a host that is not loopback: refused unless
    # this is set (gateway/tls.py).
    allow_insecure: bool = False

    @model_validator(mode="after")
    def _one_password_source(self) -> Self:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self

    @model_validator(mode="after")
    def _password_over_tls_unless_loopback(self) -> Self:
        has_password = self.password is not None or self.password_file is not None
        if has_password and not self.tls and not (self.allow_insecure or is_loopback(self.host)):
            raise insecure_error(
                self.host,
                "tls = false and a password is set (it would cross the network readable)",
                "tls = true (port 8883, with ca_file for a private CA)",
            )
        return self

    def secret(self) -> str | None:
        """The password: inline, or read from `password_file` now (SecretError names the file)."""
        if self.password_file is not None:
            return read_secret_text(self.password_file)
        return self.password.get_secret_value() if self.password else None


def render(point: Point, prefix: str) -> tuple[str, bytes]:
    """Topic and JSON payload for one point (documented in docs/data-model.md)."""
    tags = point.tags
    levels = (tags.get("agency", "-"), tags.get("unit", "-"), tags.get("officer", GATEWAY_LEVEL))
    topic = "/".join((prefix, *levels, channel_of(point).value))
    payload: dict[str, Any] = {
        "measurement": point.measurement,
        "time": iso_utc(point.time_ns),
        "time_ns": point.time_ns,
        "tags": {k: v for k, v in tags.items() if k not in ("agency", "unit", "officer")},
        "fields": dict(point.fields),
    }
    return topic, json.dumps(payload, separators=(",", ":")).encode()


class MqttSink(Sink):
    """A delivery sink that publishes over one supervised broker connection."""

    name = "mqtt"
    batch_max = 200
    linger_s = 0.0  # a live feed: publish as soon as committed

    def __init__(
        self, settings: MqttSettings, agency: str, unit: str, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self._status_topic = "/".join(
            (settings.topic_prefix, agency, unit, GATEWAY_LEVEL, Channel.STATUS.value)
        )
        self._client: aiomqtt.Client | None = None
        self._lost = asyncio.Event()
        self._random: Callable[[], float] = (rng or random.Random()).random  # noqa: S311
        self.connects = 0

    def _client_options(self) -> dict[str, Any]:
        settings = self.settings
        tls = client_context(settings.ca_file) if settings.tls else None
        will = aiomqtt.Will(
            self._status_topic, json.dumps({"state": "offline"}).encode(), qos=1, retain=True
        )
        return {
            "hostname": settings.host,
            "port": settings.port,
            "username": settings.username,
            "password": settings.secret(),
            "identifier": settings.client_id,
            "tls_context": tls,
            "keepalive": settings.keepalive_s,
            "will": will,
            "timeout": 10,
            # A whole batch is in flight at once (see deliver); the broker's default cap is 20.
            "max_inflight_messages": self.batch_max,
        }

    async def run(self) -> None:
        """Keep one connection up, reconnecting with jittered backoff, until cancelled."""
        attempt = 0
        while True:
            try:
                client = aiomqtt.Client(**self._client_options())
                # aiomqtt warns beyond 10 concurrent publishes; a pipelined batch is expected.
                client.pending_calls_threshold = self.batch_max + 1
                async with client:
                    online = {"state": "online", "time": datetime.now(UTC).isoformat()}
                    await client.publish(
                        self._status_topic, json.dumps(online).encode(), qos=1, retain=True
                    )
                    self._client = client
                    self.connects += 1
                    attempt = 0
                    logger.info("mqtt: connected to %s:%d", self.settings.host, self.settings.port)
                    self._lost.clear()
                    await self._lost.wait()
            except aiomqtt.MqttError as exc:
                logger.warning("mqtt: %s", exc)
            finally:
                self._client = None
            attempt += 1
            await asyncio.sleep(RECONNECT.delay_s(attempt, self._random))

    async def deliver(self, batch: Sequence[Stored]) -> None:
        client = self._client
        if client is None:
            raise RetryableDeliveryError("not connected to the broker")
        prefix = self.settings.topic_prefix
        try:
            publishes = []
            for item in batch:
                topic, payload = render(item.point, prefix)
                retain = channel_of(item.point) is Channel.STATUS
                if retain and item.point.fields.get(RELEASED) is True:
                    # Published in order: the live subscribers see the release, then the
                    # officer's retained status is deleted.
                    publishes.append(client.publish(topic, payload, qos=1, retain=False))
                    publishes.append(client.publish(topic, b"", qos=1, retain=True))
                    continue
                publishes.append(client.publish(topic, payload, qos=1, retain=retain))
            # Pipelined: all QoS 1 publishes in flight at once, each awaited until its PUBACK.
            await asyncio.gather(*publishes)
        except aiomqtt.MqttError as exc:
            self._lost.set()
            raise RetryableDeliveryError(f"broker: {exc}") from exc
