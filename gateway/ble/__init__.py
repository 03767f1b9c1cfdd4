"""BLE access for the gateway, always through the bleak API.

On a vehicle's computer bleak talks to BlueZ; in tests and demos (and on machines with a USB HCI
dongle but no BlueZ) it talks to a Bumble host through the backend in `bumble_backend`.
"""
