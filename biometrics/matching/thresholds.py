"""The model's decision threshold and the bounds an organization may tune it within.

``DLIB_COSINE_THRESHOLD`` is DeepFace's own cosine threshold for Dlib (``deepface.config.
threshold``), which it tuned on LFW. Measured here on the test photos: the same person
(obama/obama2/obama3) at 0.027-0.049, different people (obama, biden, astronaut) at
0.097-0.155.

Bounds an organization may choose from, and why:

- ``DLIB_THRESHOLD_MIN = 0.03``: stricter than that, the same person photographed on another day
  is refused most of the time (our own same-person pairs reach 0.049), so the system would
  appear broken rather than safe.
- ``DLIB_THRESHOLD_MAX = 0.09``: looser than that, different people start to match (our closest
  different pair is 0.097), and 1:N identification over thousands of people turns into
  guessing. A value outside the bounds is clamped, never refused, so a bad setting can only
  make the system more cautious or as permissive as the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DLIB_COSINE_THRESHOLD",
    "DLIB_THRESHOLDS",
    "DLIB_THRESHOLD_MAX",
    "DLIB_THRESHOLD_MIN",
    "ThresholdBounds",
    "clamp_threshold",
    "is_match",
]

DLIB_COSINE_THRESHOLD: Final = 0.07
DLIB_THRESHOLD_MIN: Final = 0.03
DLIB_THRESHOLD_MAX: Final = 0.09


@dataclass(frozen=True)
class ThresholdBounds:
    """A model's default cosine threshold and the safe range an organization may tune in."""

    default: float
    minimum: float
    maximum: float

    def __post_init__(self) -> None:
        if not (0.0 < self.minimum <= self.default <= self.maximum < 2.0):
            raise ValueError(f"inconsistent threshold bounds {self}")


DLIB_THRESHOLDS: Final = ThresholdBounds(
    default=DLIB_COSINE_THRESHOLD, minimum=DLIB_THRESHOLD_MIN, maximum=DLIB_THRESHOLD_MAX
)


def clamp_threshold(requested: float | None, bounds: ThresholdBounds = DLIB_THRESHOLDS) -> float:
    """The threshold to use for an organization's setting: the default when unset or not a
    number, otherwise the setting clamped into ``[bounds.minimum, bounds.maximum]``."""
    if requested is None or not math.isfinite(requested):
        return bounds.default
    return min(bounds.maximum, max(bounds.minimum, float(requested)))


def is_match(distance: float, threshold: float) -> bool:
    """The one comparison used everywhere: a distance at the threshold still matches."""
    return distance <= threshold
