"""The one InfluxDB datasource every Bluewatch panel queries, named once for all who need it."""

from __future__ import annotations

from typing import Final

# A fixed uid lets provisioned dashboards reference the datasource without a lookup, and lets
# `dashboards push` create or update the same datasource on every run.
DATASOURCE_UID: Final = "bluewatch-influxdb"
DATASOURCE_NAME: Final = "Bluewatch InfluxDB"
DATASOURCE_TYPE: Final = "influxdb"
DEFAULT_DATABASE: Final = "bluewatch"
