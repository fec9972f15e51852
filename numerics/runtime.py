"""Runtime settings of the trial loop: host BLAS/LAPACK threads.

JAX's CPU Cholesky and triangular solves call OpenBLAS, whose own thread pool then competes
with XLA's for the same cores: a Cholesky issued next to a running matrix product then takes
several times as long, and a whole trial about a quarter longer (the numbers are on the
Performance page of the docs).  XLA's own products keep all cores.  The pin is scoped (a context manager) and
restored on exit; on an accelerator it is not applied.
"""

from __future__ import annotations

import contextlib
import functools
import os


@contextlib.contextmanager
def restored_environ():
    """Give this process its environment back on leaving the block.

    Libraries write into ``os.environ`` for the whole process: importing :mod:`threadpoolctl`
    sets ``KMP_DUPLICATE_LIB_OK=True`` (for Intel's OpenMP; JAX's CPU LAPACK is OpenBLAS), and
    Dask's nannies, before spawning each worker of a ``LocalCluster``, write
    ``distributed.nanny.pre-spawn-environ`` (``OMP_NUM_THREADS=1``, ...), where it would stay for
    every later subprocess of a notebook or a test session.  A library call leaves the
    environment as it found it.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)


@functools.cache
def _blas_controller():
    import scipy.linalg  # noqa: F401  (loads the OpenBLAS that JAX's CPU LAPACK calls)

    with restored_environ():
        from threadpoolctl import ThreadpoolController  # optional at import: used by trials only

        controller = ThreadpoolController()
    threads = [lib.num_threads for lib in controller.lib_controllers if lib.user_api == "blas"]
    return controller, max(threads, default=1)


@contextlib.contextmanager
def serial_lapack(serial: bool = True):
    """Run host BLAS/LAPACK (OpenBLAS) on one thread for the duration (``serial=False``: on
    all the threads it had at first use, e.g. for SciPy work inside a serial block).

    The previous limits come back on exit (:mod:`threadpoolctl`).  On an accelerator this does
    nothing.
    """
    import jax  # this module stays JAX-free at import (the figures' Dask client uses it)

    if jax.default_backend() != "cpu":
        yield
        return
    controller, threads = _blas_controller()
    with controller.limit(limits=1 if serial else threads, user_api="blas"):
        yield
