r"""Read-only arrays that frozen specs can hold: equal and hashed by content.

A frozen dataclass that holds a NumPy array loses ``==`` and ``hash`` (an array's ``==`` is
elementwise, and arrays are unhashable), which the caches of this package rely on (a spec is a
dictionary key; ``repr(config)`` names a cached result).  :class:`FrozenArray` wraps a
read-only float64 or int64 copy and compares, hashes and prints by its shape, dtype and the
SHA-256 of its bytes, so two specs built from equal arrays are equal, and the ``repr`` of a
spec stays one short line however large the array.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


class FrozenArray:
    """A read-only array compared, hashed and printed by content (shape, dtype, SHA-256).

    Parameters
    ----------
    value : array_like
        Copied once, as ``dtype`` (default: float64 for floats, int64 for integers); the copy
        is read-only.

    Attributes
    ----------
    array : numpy.ndarray
        The read-only copy.
    digest : str
        The SHA-256 of its dtype, shape and bytes (hex).
    """

    __slots__ = ("array", "digest")

    def __init__(self, value: Any, dtype=None):
        array = np.array(value, dtype=dtype, copy=True)
        if dtype is None and array.dtype.kind in "iub":
            array = array.astype(np.int64)
        elif dtype is None:
            array = array.astype(np.float64)
        array.setflags(write=False)
        digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "digest", digest.hexdigest())

    def __setattr__(self, name, value):
        raise AttributeError("FrozenArray is immutable")

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.array.shape

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def __eq__(self, other) -> bool:
        return isinstance(other, FrozenArray) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"FrozenArray(shape={self.array.shape}, dtype={self.array.dtype}, sha256={self.digest[:16]})"

    def __deepcopy__(self, memo) -> FrozenArray:  # immutable: dataclasses.asdict need not copy it
        return self

    def __reduce__(self):
        return (FrozenArray, (self.array,))


def freeze(value: Any, dtype=None) -> FrozenArray | None:
    """``value`` as a :class:`FrozenArray` (``None`` and frozen arrays pass through)."""
    if value is None or isinstance(value, FrozenArray):
        return value
    return FrozenArray(value, dtype)
