"""The sinks a configuration asks for, built in one place."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.delivery import Sink
from gateway.sinks.influx import make_writer
from gateway.sinks.influx_sink import InfluxSink
from gateway.sinks.mqtt import MqttSink


def build_sinks(config: GatewayConfig) -> list[Sink]:
    """InfluxDB and MQTT when configured; with neither, the gateway keeps data in its outbox."""
    sinks: list[Sink] = []
    if config.influx is not None:
        sinks.append(InfluxSink(make_writer(config.influx)))
    if config.mqtt is not None:
        sinks.append(MqttSink(config.mqtt, config.agency, config.unit))
    return sinks
