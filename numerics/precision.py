"""64-bit JAX: scoped inside the entry points, never switched on for the process by the library.

The engine computes ridge solves, population moments and every error in float64.  The public
entry points (:func:`onestep_gm.simulate`, :func:`onestep_gm.learning_curve`,
:func:`onestep_gm.predict`, :func:`onestep_gm.trained_layer`,
:func:`onestep_gm.population_moments`, :func:`onestep_gm.ridge_equivalent`) run inside
:func:`x64` and leave ``jax_enable_x64`` as they found it; the arrays they return stay float64.
:func:`enable_x64` switches it on for the whole process, for users of the lower-level modules.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

import jax

F = TypeVar("F", bound=Callable)


def enable_x64() -> None:
    """Switch JAX to 64-bit floats for this process (``jax_enable_x64 = True``).

    Only needed to call :mod:`onestep_gm.numerics`'s lower-level functions directly: the
    entry points scope it themselves (:func:`x64`).  Arrays created before the switch keep
    their dtype.

    Examples
    --------
    >>> import onestep_gm
    >>> onestep_gm.enable_x64()
    >>> import jax.numpy as jnp
    >>> jnp.zeros(1).dtype
    dtype('float64')
    """
    jax.config.update("jax_enable_x64", True)


@contextlib.contextmanager
def x64() -> Iterator[None]:
    """64-bit JAX for the duration of the block; the previous setting comes back on exit.

    ``jax.enable_x64`` (JAX >= 0.8, thread-local) where JAX has it, else the configuration
    flag set and restored.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from onestep_gm.numerics.precision import x64
    >>> with x64():
    ...     jnp.zeros(1).dtype
    dtype('float64')
    """
    scoped = getattr(jax, "enable_x64", None)
    if scoped is not None:
        with scoped(True):
            yield
        return
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def scoped_x64(function: F) -> F:
    """Run ``function`` inside :func:`x64` (the entry points' decorator)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with x64():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_x64(what: str) -> None:
    """Raise ``RuntimeError`` unless 64-bit JAX is on.

    Parameters
    ----------
    what : str
        The function that needs it, named in the message.

    Raises
    ------
    RuntimeError
        ``"<what> needs 64-bit JAX: call onestep_gm.enable_x64() first"`` when
        ``jax_enable_x64`` is off (the computation would otherwise run silently in float32).
    """
    if not jax.config.jax_enable_x64:
        raise RuntimeError(f"{what} needs 64-bit JAX: call onestep_gm.enable_x64() first")
