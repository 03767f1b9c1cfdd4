"""The PMD service and its two characteristics.

Source: *Polar Measurement Data Specification for 3rd Party* (2021), "Gatt Service and
Characteristics Declaration"; the same UUIDs are the `PMD_SERVICE`, `PMD_CP` and `PMD_DATA`
constants of the SDK's `BlePMDClient.kt`.
"""

from __future__ import annotations

from typing import Final

# The three UUIDs differ only in the last byte of their first group.
_PREFIX: Final = "fb005c"
_SUFFIX: Final = "-02e7-f387-1cad-8acd2d8df0c8"


def _pmd_uuid(slot: int) -> str:
    return f"{_PREFIX}{slot:02x}{_SUFFIX}"


PMD_SERVICE_UUID: Final = _pmd_uuid(0x80)
# Read (the feature bitmap), write (commands), indicate (responses and the sensor's own stops).
PMD_CONTROL_POINT_UUID: Final = _pmd_uuid(0x81)
# Notify: one measurement data frame per notification ("PMD Data MTU Characteristic").
PMD_DATA_UUID: Final = _pmd_uuid(0x82)
