"""Build bleak scanners and clients for the configured backend: BlueZ, or Bumble over HCI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from bleak import BleakScanner
from pydantic import BaseModel, ConfigDict, model_validator

from gateway.ble.bonds import PrivateKeyStore
from gateway.ble.bumble_backend import BumbleClient, BumbleScanner
from gateway.ble.bumble_stack import BumbleStack


class BleSettings(BaseModel):
    """`ble.*` configuration: which stack bleak runs on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["bluez", "bumble"] = "bluez"
    # A Bumble transport: `tcp-client:127.0.0.1:9002` (a simulated fleet), `usb:0` (a USB HCI
    # dongle on a machine without BlueZ), `unix:/path`...
    bumble_transport: str | None = None

    @model_validator(mode="after")
    def _transport_for_bumble(self) -> Self:
        if self.backend == "bumble" and not self.bumble_transport:
            raise ValueError(
                "ble.backend = 'bumble' needs ble.bumble_transport (e.g. tcp-client:127.0.0.1:9002)"
            )
        return self


class BleakFactory:
    """Owns the process's one Bumble stack (if any) and hands bleak the right backend."""

    def __init__(self, stack: BumbleStack | None = None) -> None:
        self.stack = stack

    @classmethod
    async def open(cls, settings: BleSettings, key_store: Path | None = None) -> BleakFactory:
        """The factory for `settings`; bonds kept in `key_store` (Bumble), or in memory only
        when None. BlueZ keeps its bonds itself (/var/lib/bluetooth)."""
        if settings.backend == "bluez":
            return cls()
        assert settings.bumble_transport is not None  # checked by BleSettings
        keys = None if key_store is None else PrivateKeyStore.open(key_store)
        return cls(await BumbleStack.open(settings.bumble_transport, key_store=keys))

    def backend_kwargs(self, *, client: bool) -> dict[str, Any]:
        """Keyword arguments for BleakScanner, BleakClient or bleak-retry-connector."""
        if self.stack is None:
            return {}
        return {"backend": BumbleClient if client else BumbleScanner, "bumble_stack": self.stack}

    def scanner(self, **kwargs: Any) -> BleakScanner:
        return BleakScanner(**kwargs, **self.backend_kwargs(client=False))

    async def close(self) -> None:
        if self.stack is not None:
            await self.stack.close()
