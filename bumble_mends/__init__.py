"""Workarounds for Bumble 0.0.236 that both the gateway and the simulated firmware need.

A leaf package: it imports only Bumble and the standard library, so `gateway` and
`firmware_mocks`, which never import each other, can share one copy of each correction.
"""

from bumble_mends.host import QuietHost

__all__ = ["QuietHost"]
