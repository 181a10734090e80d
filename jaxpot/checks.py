"""Argument checks shared by constructors: bad input raises ValueError naming the argument."""

from __future__ import annotations

import numpy as np


def positive_finite(value, name: str, unit: str = "Å") -> float:
    """``float(value)`` if it is a positive finite number (not a string or bool), else
    ValueError naming ``name``."""
    try:
        x = None if isinstance(value, (str, bytes, bool, np.bool_)) else float(value)
    except (TypeError, ValueError):
        x = None
    if x is None or not (np.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be positive and finite ({unit}), got {value!r}")
    return x
