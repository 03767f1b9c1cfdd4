"""Layouts of GATT servers by Database Hash, shared by every device and adapter of a gateway.

An agency's wearables of one model run one firmware, so one discovery serves them all: a layout
is kept once a device that reported its hash has proved itself by encrypting its link with a
bond (a spoofer cannot), and only if the layout has that hash (a firmware that forgets to update
its hash is never trusted with a cache); the others with that hash then connect without
discovery. Kept in the state directory, so a gateway restarted at the next shift discovers
nothing it knew. Holds no officer data: handles and UUIDs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Final

from gateway.ble.gatt_layout import GattLayout, LayoutError
from gateway.private_file import write_private

# Layouts kept: one per model and firmware version in use; a few dozen is generous.
MAX_LAYOUTS: Final = 64
# The file's format, so a later one is not misread.
FORMAT: Final = 1
# How long a bonding device waits for another device's layout of the same hash, discovered and
# about to be learned once that device's link is encrypted: longer than a discovery and a
# pairing take on air (some 35 round trips at a 50 ms connection interval and the pairing's
# few, 2 s), far shorter than a GATT request's timeout, so a first device that stops answering
# holds the others of its model back once, and briefly.
LEARNING_WAIT_S: Final = 3.0

logger = logging.getLogger(__name__)


class GattCache:
    """Layouts by Database Hash: `get` one, `learn` one discovered on a bonded link."""

    def __init__(
        self,
        path: Path | None = None,
        max_layouts: int = MAX_LAYOUTS,
        learning_wait_s: float = LEARNING_WAIT_S,
    ) -> None:
        """`path`: where the layouts are kept across restarts (None: in memory only)."""
        self._path = path
        self._max = max_layouts
        self._learning_wait_s = learning_wait_s
        # Per hash, the device that is discovering it to learn it: done when it has (or gave
        # up), so that devices of its model connecting meanwhile wait rather than discover.
        self._learning: dict[bytes, asyncio.Future[None]] = {}
        self._layouts: OrderedDict[bytes, GattLayout] = OrderedDict()
        # Hashes a discovered layout did not have: their devices are discovered every time.
        self._untrusted: set[bytes] = set()
        self.hits = 0
        self.misses = 0

    @classmethod
    def open(cls, path: Path, max_layouts: int = MAX_LAYOUTS) -> GattCache:
        """The cache kept at `path`; an unreadable or malformed file is set aside with a
        warning that names it (the cache is only an optimisation: discovery still works)."""
        cache = cls(path, max_layouts)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cache
        except OSError as exc:
            logger.warning("%s: cannot read the GATT cache (%s); starting empty", path, exc)
            return cache
        try:
            cache._load(json.loads(text))
        except (ValueError, LayoutError) as exc:
            logger.warning("%s: the GATT cache is not valid (%s); starting empty", path, exc)
            cache._layouts.clear()
        return cache

    def _load(self, data: object) -> None:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LayoutError(f"expected an object with format {FORMAT}")
        layouts = data.get("layouts")
        if not isinstance(layouts, dict):
            raise LayoutError("layouts is not an object")
        for key, value in layouts.items():
            try:
                digest = bytes.fromhex(key)
            except ValueError:
                raise LayoutError(f"{key!r} is not a hash in hex") from None
            layout = GattLayout.from_json(value)
            # A file edited by hand, or a layout from a version that hashed otherwise.
            if layout.database_hash() != digest:
                raise LayoutError(f"the layout under {key} does not have that hash")
            self._layouts[digest] = layout

    def __len__(self) -> int:
        return len(self._layouts)

    def get(self, digest: bytes) -> GattLayout | None:
        """The layout kept for `digest`, if any."""
        known = self._layouts.get(digest)
        if known is None:
            self.misses += 1
        else:
            self.hits += 1
            self._layouts.move_to_end(digest)
        return known

    def claim(self, digest: bytes) -> bool:
        """Whether the caller is to learn `digest` (no other device is): it then `learn`s or
        `abandon`s it."""
        if digest in self._learning:
            return False
        self._learning[digest] = asyncio.get_running_loop().create_future()
        return True

    def abandon(self, digest: bytes) -> None:
        """The claimant of `digest` will not learn it (its link ended, its pairing failed)."""
        if (learning := self._learning.pop(digest, None)) is not None:
            learning.set_result(None)

    async def learned(self, digest: bytes) -> GattLayout | None:
        """`digest`'s layout once another device has learned it (None if nobody is learning
        it, or not within `learning_wait_s`)."""
        if (learning := self._learning.get(digest)) is not None:
            await asyncio.wait({learning}, timeout=self._learning_wait_s)
        return self.get(digest)

    def untrusted(self, digest: bytes) -> bool:
        """Whether a layout discovered under `digest` did not have it: no use learning it."""
        return digest in self._untrusted

    async def learn(self, digest: bytes, layout: GattLayout) -> bool:
        """Keep `layout` for `digest` if it has that hash (whether it was kept)."""
        try:
            return await self._learn(digest, layout)
        finally:
            self.abandon(digest)  # learned or not, whoever waits for it waits no more

    async def _learn(self, digest: bytes, layout: GattLayout) -> bool:
        if digest in self._layouts:
            return True
        if layout.database_hash() != digest:
            if digest not in self._untrusted:
                self._untrusted.add(digest)
                logger.warning(
                    "a device reports GATT database hash %s, but its layout does not have it: "
                    "devices reporting it are discovered on every connection",
                    digest.hex(),
                )
            return False
        self._layouts[digest] = layout
        self.abandon(digest)  # its waiters go on now; the file can follow
        while len(self._layouts) > self._max:
            self._layouts.popitem(last=False)
        if self._path is not None:
            try:
                await asyncio.to_thread(write_private, self._path, [self._text()])
            except OSError as exc:  # kept in memory; the next layout learned tries again
                logger.warning("%s: cannot write the GATT cache: %s", self._path, exc)
        return True

    def _text(self) -> str:
        layouts = {digest.hex(): layout.to_json() for digest, layout in self._layouts.items()}
        return json.dumps({"format": FORMAT, "layouts": layouts}, separators=(",", ":"))
