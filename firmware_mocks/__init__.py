"""Simulated vest and helmet firmware on a virtual BLE stack; encodes through `sensors` only."""
