"""The sinks a configuration asks for, built in one place."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.sinks.influx import make_writer
from gateway.sinks.influx_sink import InfluxSink
from gateway.sinks.mqtt import MqttSink
from gateway.sinks.sink import Sink
from gateway.sinks.webhook import WebhookSink


def build_sinks(config: GatewayConfig) -> list[Sink]:
    """InfluxDB, MQTT and dispatch webhooks as configured; with none, data stays in the outbox."""
    sinks: list[Sink] = []
    if config.influx is not None:
        sinks.append(InfluxSink(make_writer(config.influx)))
    if config.mqtt is not None:
        sinks.append(MqttSink(config.mqtt, config.agency, config.unit))
    sinks.extend(WebhookSink(endpoint) for endpoint in config.webhooks)
    return sinks
