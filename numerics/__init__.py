"""Fast layer: JAX simulations of one-step networks and their equivalent models.

Importing :mod:`numerics` switches JAX to 64-bit: accuracy-critical parts (ridge
solves, moments) run in float64; the large feature products may run in float32
(``dtype="float32"``), which each function states.
"""

import jax

jax.config.update("jax_enable_x64", True)
