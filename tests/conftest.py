"""The test session is an entry point: it switches JAX to 64-bit and on the persistent compile
cache, as the CLI does.

One pytest process compiles the programs of every test, and every compiled program JAX keeps
holds memory maps of its own (about 6 for a one-line function, more for a trial).  Kept for
the whole session they reached Linux's ``vm.max_map_count`` (65530) at about 94% of the
suite: XLA then fails with "LLVM compilation error: Cannot allocate memory" and the process
dies of a segmentation fault or an abort.  So JAX's compilation caches are cleared after each
test module; a program compiled again is read back from the persistent compile cache.
"""

import jax
import pytest
from onestep_gm.numerics.compile_cache import enable_compile_cache, release_compiled_programs

jax.config.update("jax_enable_x64", True)
enable_compile_cache()  # as the CLI does (the library no longer switches it on by itself)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    yield
    release_compiled_programs()


@pytest.fixture
def activation_registrations():
    """Every activation a test registers ends with it; the test fails if one leaks out of the scope."""
    from onestep_gm.theory.activations import activation_scope, registered_names

    before = registered_names()
    with activation_scope():
        yield
    assert registered_names() == before
