"""The test session is an entry point: it switches JAX to 64-bit, as the CLI does.

It keeps JAX's persistent compilation cache off in its own process (the CLI commands it runs
in subprocesses, and the probes of ``test_compile_cache.py``, still use theirs).  One pytest
process compiles the programs of every shape of every test; with the cache on it also loaded
executables written by other processes, and the full run died of a segmentation fault inside
``backend.deserialize_executable`` (jaxlib 0.10.2, CPU) at the same test twice, in CI and
here, while either half of the suite with that test passed.
"""

import jax
from onestep_gm.numerics.compile_cache import disable_compile_cache

jax.config.update("jax_enable_x64", True)
disable_compile_cache()
