"""Three-axis vector math shared by the activity summary and the fall detector. Pure."""

from __future__ import annotations

import math

Vector = tuple[float, float, float]


def angle_deg(u: Vector, v: Vector) -> float:
    """Angle between two vectors in degrees (0 if either is zero)."""
    nu = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    nv = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    if nu == 0.0 or nv == 0.0:
        return 0.0
    cosine = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (nu * nv)
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))
