"""The vehicle's own position: gpsd's reports, the vehicle track and its rows (docs/vehicle.md)."""
