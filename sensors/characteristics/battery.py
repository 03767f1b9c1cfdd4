"""Battery service: Battery Level (GSS 0x2A19)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sensors.characteristic import Characteristic
from sensors.uuids import sig_uuid
from sensors.wire import Reader, Writer


class BatteryLevel(Characteristic):
    """0x2A19: remaining charge in percent, 0-100 (101-255 are refused as out of range)."""

    UUID = sig_uuid(0x2A19)
    NAME = "Battery Level (0x2A19)"

    battery_pct: int = Field(ge=0, le=100)

    @classmethod
    def _read(cls, reader: Reader) -> dict[str, Any]:
        return {"battery_pct": reader.uint(1, "battery_pct")}

    def _write(self, writer: Writer) -> None:
        writer.uint(1, self.battery_pct)
