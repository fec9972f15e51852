"""The test session is an entry point: it switches JAX to 64-bit, as the CLI does."""

import jax

jax.config.update("jax_enable_x64", True)
