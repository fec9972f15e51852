"""The one validation pass: checks shared by the configuration, the data specs, sweep specs,
saved files read back (``--reuse``) and the Python API; one wording, exceptions that name the field.

Integers are integers (``True`` and ``20.5`` are not 20, ``"20"`` is not a number), finite
numbers are finite, sizes are bounded before anything is allocated, files are read with a
bound on their size, and names and titles are checked before any point runs (their TeX by the figures layer,
:func:`onestep_gm.experiments.figures.sweepspec.check_tex`).  A failed check
raises :class:`FieldValueError` (a :class:`ValueError`) or :class:`FieldTypeError` (a
:class:`TypeError`), whose message starts with the field's name and whose ``field`` attribute
holds it.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np

MAX_GRID_WORK = 200_000
"""Largest number of grid points times trials a figure or sweep may ask for (the paper's
largest, Fig 4: 900 points x 20 trials = 18 000)."""
MAX_GRID_POINTS = 10_000
"""Largest number of values on one axis of a sweep (``linspace``/``logspace``'s ``num``)."""
MAX_TRIALS = 100_000
"""Largest number of trials of one point."""
MAX_SPEC_BYTES = 1 << 20
"""Largest sweep spec read (1 MiB; a spec is a few hundred bytes)."""
MAX_SAVED_BYTES = 256 << 20
"""Largest saved figure read back (``--reuse``, redraws): 256 MiB."""
MAX_NAME = 100
"""Longest figure name (it becomes five file names)."""
MAX_TITLE = 300
"""Longest title or axis label."""


class FieldValueError(ValueError):
    """A value out of range, of the wrong shape or not finite; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class FieldTypeError(TypeError, ValueError):
    """A value of the wrong type (``k=True``, ``k=20.5``, ``k='20'``); ``field`` names it.

    A :class:`TypeError` that is also a :class:`ValueError`, so that callers (and the command
    line) that catch ``ValueError`` for bad input keep catching it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def require(condition: bool, message: str, field: str = "") -> None:
    """Raise :class:`FieldValueError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise FieldValueError(field, message)


def is_int(value) -> bool:
    """Whether ``value`` is a Python or NumPy integer (booleans are not)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_real(value) -> bool:
    """Whether ``value`` is a real number (Python or NumPy; booleans and complex are not)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def is_finite(value) -> bool:
    """Whether ``value`` is a real number (booleans excluded) that is finite."""
    return is_real(value) and math.isfinite(float(value))


def check_int(field: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer in ``[lo, hi]``.

    Raises
    ------
    FieldTypeError
        When ``value`` is not an integer (a bool, a float such as 20.5 or 20.0, a string).
    FieldValueError
        When it lies outside ``[lo, hi]``.
    """
    if not is_int(value):
        raise FieldTypeError(field, f"{field} must be an integer (got {value!r} of type {type(value).__name__})")
    value = int(value)
    _check_range(field, value, lo, hi)
    return value


def check_real(field: str, value, lo: float | None = None, hi: float | None = None, *,
               lo_open: bool = False) -> float:  # fmt: skip
    """``value`` as a ``float`` if it is a finite real number in ``[lo, hi]`` (``(lo, hi]``
    with ``lo_open``).

    Raises
    ------
    FieldTypeError
        When ``value`` is not a real number (a bool, a string, a complex number).
    FieldValueError
        When it is not finite or lies outside the range.
    """
    if not is_real(value):
        raise FieldTypeError(field, f"{field} must be a real number (got {value!r} of type {type(value).__name__})")
    try:
        value = float(value)
    except OverflowError:
        raise FieldValueError(field, f"{field} must be a finite number (got an integer of {len(str(value))} digits)") from None
    if not math.isfinite(value):
        raise FieldValueError(field, f"{field} must be a finite number (got {value!r})")
    if lo_open and lo is not None and value <= lo:
        raise FieldValueError(field, f"{field} must be > {lo:g} (got {_text(value)})")
    _check_range(field, value, lo, hi)
    return value


def _check_range(field: str, value, lo, hi) -> None:
    if lo is not None and value < lo:
        raise FieldValueError(field, f"{field} must be >= {lo:g} (got {_text(value)})")
    if hi is not None and value > hi:
        raise FieldValueError(field, f"{field} must be <= {hi:g} (got {_text(value)})")


def _text(value) -> str:
    return str(value) if isinstance(value, int) and abs(value) < 10**30 else f"{value:g}"


def check_choice(field: str, value, choices) -> None:
    """Refuse ``value`` unless it is one of ``choices`` (:class:`FieldValueError`)."""
    if not isinstance(value, str | type(None)) or value not in tuple(choices):
        raise FieldValueError(field, f"{field} must be one of {', '.join(map(str, choices))} (got {value!r})")


def check_bool(field: str, value) -> bool:
    """``value`` if it is a bool (:class:`FieldTypeError` for 0, 1, ``"yes"``)."""
    if not isinstance(value, bool | np.bool_):
        raise FieldTypeError(field, f"{field} must be true or false (got {value!r})")
    return bool(value)


def check_array(field: str, value, *, ndim: int | None = None, shape: tuple | None = None,
                allow_empty: bool = False) -> np.ndarray:  # fmt: skip
    """``value`` as a float64 array whose entries are finite real numbers.

    ``shape`` entries that are ``None`` match any length.

    Raises
    ------
    FieldTypeError
        When ``value`` is not a real numeric array (complex, strings, objects, None).
    FieldValueError
        For the wrong number of axes or shape, no entries, or a NaN or infinite entry.
    """
    if value is None or isinstance(value, str | bytes):
        raise FieldTypeError(field, f"{field} must be an array of real numbers (got {type(value).__name__})")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise FieldTypeError(field, f"{field} must be an array of real numbers ({exc})") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise FieldTypeError(field, f"{field} must be an array of real numbers (got dtype {arr.dtype})")
    if ndim is not None and arr.ndim != ndim:
        raise FieldValueError(field, f"{field} must have {ndim} axes (got shape {arr.shape})")
    if shape is not None and (arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape, strict=True))):  # fmt: skip
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise FieldValueError(field, f"{field} must have shape {want} (got {arr.shape})")
    if not allow_empty and arr.size == 0:
        raise FieldValueError(field, f"{field} is empty")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise FieldValueError(field, f"{field} has NaN or infinite entries")
    return arr


def check_work(field: str, points: int, trials: int, bound: int = MAX_GRID_WORK) -> None:
    """Refuse ``points x trials`` above ``bound`` (named in the message), before any point runs."""
    if points * trials > bound:
        raise FieldValueError(field, f"{field}: {points} points x {trials} trials = {points * trials} "
                                     f"exceeds the bound of {bound} point-trials per run; split the sweep")  # fmt: skip


def read_text_bounded(path: str | Path, limit: int, what: str = "file") -> str:
    """The UTF-8 text of ``path``, refusing anything larger than ``limit`` bytes or not a
    regular file (``/dev/zero``, a FIFO) without reading more than ``limit + 1`` bytes.

    Raises
    ------
    OSError
        When the file cannot be opened.
    FieldValueError
        When it is not a regular file, is larger than ``limit`` or is not UTF-8 text.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise FieldValueError(what, f"{path}: not a regular file; a {what} must be one")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FieldValueError(what, f"{path}: larger than the {limit}-byte limit of a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldValueError(what, f"{path}: not a UTF-8 text file") from None


def check_name(field: str, value, pattern, limit: int = MAX_NAME) -> str:
    """A file-name-safe name: a string matching ``pattern`` of at most ``limit`` characters."""
    if not isinstance(value, str):
        raise FieldTypeError(field, f"{field} must be a string (got {value!r})")
    if len(value) > limit:
        raise FieldValueError(field, f"{field} has {len(value)} characters; at most {limit}")
    if not pattern.match(value):
        raise FieldValueError(field, f"{field} must be a file-name-safe string (letters, digits, '.', '_', '-')")
    return value


_MARKDOWN_SPECIAL = "\\`*_[]<>|"


def escape_markdown(text: str) -> str:
    """``text`` with Markdown's special characters escaped (TeX between ``$`` kept as is), for
    names and titles written into reports."""
    out, math_mode = [], False
    for ch in text:
        if ch == "$":
            math_mode = not math_mode
            out.append(ch)
        elif not math_mode and ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)
