"""Officer-safety analytics: pure functions and streaming estimators fed by the pipeline.

No I/O, no clock, no asyncio: timestamps arrive with the data, so every algorithm replays and
tests without sockets or sleeps. The alert engine turns their outputs into alerts.
"""

from gateway.analytics.core_temp import (
    DEFAULT_CORE_TEMP_PARAMETERS,
    CoreTempEstimator,
    CoreTempParameters,
    estimate_core_temp,
)
from gateway.analytics.falls import (
    DEFAULT_FALL_PARAMETERS,
    FallDetection,
    FallDetector,
    FallParameters,
    detect_falls,
)
from gateway.analytics.strain import (
    PsiBand,
    max_heart_rate,
    physiological_strain_index,
    psi_band,
)

__all__ = [
    "DEFAULT_CORE_TEMP_PARAMETERS",
    "DEFAULT_FALL_PARAMETERS",
    "CoreTempEstimator",
    "CoreTempParameters",
    "FallDetection",
    "FallDetector",
    "FallParameters",
    "PsiBand",
    "detect_falls",
    "estimate_core_temp",
    "max_heart_rate",
    "physiological_strain_index",
    "psi_band",
]
