"""The simulated vest and helmet: GATT servers built from the `sensors` profiles."""
