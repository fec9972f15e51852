"""Fast layer: JAX simulations of one-step networks and their equivalent models.

Importing this package changes no JAX setting.  The engine needs 64-bit JAX (ridge solves,
moments and errors are float64; the large feature products may run in float32 with
``dtype="float32"``, which each function states): the command line and the high-level entry
points (:func:`onestep_gm.simulate`, :func:`onestep_gm.learning_curve`,
:func:`onestep_gm.run_figure`) switch it on with :func:`enable_x64`; lower-level functions
called without it raise :class:`RuntimeError` naming the fix.
"""

from onestep_gm.numerics.precision import enable_x64, require_x64

__all__ = ["enable_x64", "require_x64"]
