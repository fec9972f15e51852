"""Checks shared by the data specs and the configuration: one wording, one exception type.

Integers are integers (``True`` is not 1 here), finite numbers are finite, and a failed check
raises :class:`ValueError` with a message that names the field.
"""

from __future__ import annotations

import math

import numpy as np


def require(condition: bool, message: str) -> None:
    """Raise :class:`ValueError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(message)


def is_int(value) -> bool:
    """Whether ``value`` is a Python or NumPy integer (booleans are not)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_finite(value) -> bool:
    """Whether ``value`` is a real number (booleans excluded) that is finite."""
    return (
        isinstance(value, int | float | np.number)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
