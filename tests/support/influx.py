"""Opening InfluxDB writers in tests: settings with placeholder names, and the `writers` fixture
that closes every writer a test opened."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, Literal, TypeVar, overload

import pytest

from gateway.sinks.influx import InfluxV1Settings, InfluxV2Settings, InfluxWriter, make_writer

Api = Literal["v1", "v2"]
Writer = TypeVar("Writer", bound=InfluxWriter)

# Distinct from one another, so a name sent as the wrong query parameter shows.
PLACEHOLDERS: Final[Mapping[Api, Mapping[str, str]]] = {
    "v1": {"database": "bluewatch"},
    "v2": {"org": "metro", "bucket": "telemetry", "token": "t0ken"},
}


@overload
def influx_settings(api: Literal["v1"], url: str, **settings: Any) -> InfluxV1Settings: ...
@overload
def influx_settings(api: Literal["v2"], url: str, **settings: Any) -> InfluxV2Settings: ...
@overload
def influx_settings(api: Api, url: str, **settings: Any) -> InfluxV1Settings | InfluxV2Settings: ...
def influx_settings(api: Api, url: str, **settings: Any) -> InfluxV1Settings | InfluxV2Settings:
    """Settings for an `api` writer at `url`: `settings`, and placeholders for the other names."""
    chosen = {**PLACEHOLDERS[api], **settings, "url": url}
    return InfluxV1Settings(**chosen) if api == "v1" else InfluxV2Settings(**chosen)


class InfluxWriters:
    """The writers one test opens; the `writers` fixture closes them all at the test's end."""

    def __init__(self) -> None:
        self._opened: list[InfluxWriter] = []

    def open(self, api: Api, url: str, **settings: Any) -> InfluxWriter:
        """The writer `make_writer` gives for `influx_settings(api, url, **settings)`."""
        return self.adopt(make_writer(influx_settings(api, url, **settings)))

    def adopt(self, writer: Writer) -> Writer:
        """A writer the test built itself, to be closed with the others."""
        self._opened.append(writer)
        return writer

    async def close(self) -> None:
        for writer in self._opened:
            await writer.close()


@pytest.fixture
async def writers() -> AsyncIterator[InfluxWriters]:
    """Writers a test opened, closed at its end whatever happened."""
    opened = InfluxWriters()
    yield opened
    await opened.close()
