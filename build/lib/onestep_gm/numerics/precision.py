"""64-bit JAX, switched on explicitly (never at import)."""

from __future__ import annotations

import jax


def enable_x64() -> None:
    """Switch JAX to 64-bit floats for this process (``jax_enable_x64 = True``).

    The engine computes ridge solves, population moments and every error in float64; call
    this once before using :mod:`onestep_gm.numerics` directly.  The command line and
    :func:`onestep_gm.simulate`, :func:`onestep_gm.learning_curve` and
    :func:`onestep_gm.run_figure` call it themselves.  Arrays created before the switch keep
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


def require_x64(what: str) -> None:
    """Raise ``RuntimeError`` unless 64-bit JAX is on.

    Parameters
    ----------
    what : str
        The entry point that needs it, named in the message.

    Raises
    ------
    RuntimeError
        ``"<what> needs 64-bit JAX: call onestep_gm.enable_x64() first"`` when
        ``jax_enable_x64`` is off (the computation would otherwise run silently in float32).
    """
    if not jax.config.jax_enable_x64:
        raise RuntimeError(f"{what} needs 64-bit JAX: call onestep_gm.enable_x64() first")
