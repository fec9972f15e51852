"""JAX's persistent compilation cache, switched on by the ``onestep`` command line, and in Python
only when asked (:func:`enable_compile_cache`; never at import, never by a library call).

The jitted trial of a shape takes seconds to compile (most of a cold ``onestep simulate
--trials 1``; the numbers are on the Performance page of the docs); with the persistent cache
a later process, or another worker of a Dask cluster, loads the compiled executable from disk
instead.

Where: ``$ONESTEP_COMPILE_CACHE_DIR`` if set, else ``<user cache dir>/onestep-gm/jax``
(:func:`platformdirs.user_cache_dir`).  Off: ``ONESTEP_COMPILE_CACHE=0`` (or ``off``,
``false``, ``no``) in the environment, or :func:`disable_compile_cache` in Python.  A cache
directory the user already gave JAX (``jax_compilation_cache_dir`` or
``JAX_COMPILATION_CACHE_DIR``) is kept as it is.

Concurrent writers are safe: JAX keys each entry by a hash of the program, the compiler
options and the backend (two processes compiling the same program write the same bytes),
and with a size limit set (:data:`MAX_BYTES`) it reads and writes every entry under a file
lock (``filelock``; a soft lock on network file systems), so no process reads an entry
another one is still writing.  JAX writes an entry in place, not by renaming: a process
killed in the middle of a write can leave a truncated entry, which JAX reports as a warning
and compiles around; delete the folder to clear it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jax
import platformdirs
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

ENV_SWITCH = "ONESTEP_COMPILE_CACHE"
ENV_DIR = "ONESTEP_COMPILE_CACHE_DIR"
_OFF = {"0", "off", "false", "no"}

MIN_COMPILE_SECONDS = 0.0
"""Cache every executable, however fast it compiled: the cold start is made of one large
compilation (the trial) and dozens of small ones (data set-up) whose sum is comparable;
reading an entry back is much cheaper than compiling it."""

MAX_BYTES = 4 << 30
"""Size limit of the cache folder (least recently used entries go first).  Setting one is
also what makes JAX lock the folder around each read and write."""

_state = {"opted_out": False}


def default_cache_dir() -> Path:
    """``$ONESTEP_COMPILE_CACHE_DIR``, or the per-user cache folder ``.../onestep-gm/jax``."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("onestep-gm")) / "jax"


def compile_cache_enabled_by_env() -> bool:
    """False when ``ONESTEP_COMPILE_CACHE`` is ``0``/``off``/``false``/``no``."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() not in _OFF


def enable_compile_cache(path: str | Path | None = None) -> Path | None:
    """Switch on JAX's persistent compilation cache for this process.

    Parameters
    ----------
    path : str or Path, optional
        The cache folder (created); default :func:`default_cache_dir`.  Passing a path
        overrides an earlier :func:`disable_compile_cache` and the environment switch.

    Returns
    -------
    Path or None
        The folder in use, or ``None`` when the cache is switched off (environment variable
        ``ONESTEP_COMPILE_CACHE=0`` or :func:`disable_compile_cache`, with no ``path``).
        A folder the user set in JAX's own configuration is kept and returned.

    Raises
    ------
    OSError
        When the folder cannot be created or written (``HOME`` read-only or a file,
        ``ONESTEP_COMPILE_CACHE_DIR`` read-only); the cache stays as it was (off, unless it was
        on before).  The ``onestep`` command catches it, says so in one line on stderr and runs
        without a persistent cache.

    Examples
    --------
    >>> import onestep_gm as og
    >>> folder = og.enable_compile_cache()  # doctest: +SKIP
    """
    if path is None:
        if _state["opted_out"] or not compile_cache_enabled_by_env():
            return None
        current = jax.config.jax_compilation_cache_dir
        if current:
            return Path(current)
        path = default_cache_dir()
    else:
        _state["opted_out"] = False
    folder = Path(path).expanduser()
    check_cache_folder(folder)  # before JAX is pointed at it: a failure leaves the cache off
    if jax.config.jax_compilation_cache_dir != str(folder):
        jax.config.update("jax_compilation_cache_dir", str(folder))
        _jax_cache.reset_cache()  # JAX opens its cache once per process, at the folder set then
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if jax.config.jax_compilation_cache_max_size == -1:
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return folder


def check_cache_folder(folder: Path) -> None:
    """Create ``folder`` if missing and make sure a file can be created in it.

    Raises
    ------
    OSError
        Naming the folder, when it cannot be created or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OSError(f"cannot use the compile-cache folder {folder}: {reason}") from None


def disable_compile_cache() -> None:
    """Opt out: later calls of :func:`enable_compile_cache` without a path do nothing (the
    command line's and the figure runner's included).

    Takes effect at once, also in a process that had already used the cache: executables
    already loaded stay in memory, later compilations neither read nor write the folder.
    """
    _state["opted_out"] = True
    if jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", None)
        _jax_cache.reset_cache()  # otherwise JAX keeps the cache it opened first


def release_compiled_programs() -> None:
    """Drop every compiled program JAX keeps in this process (:func:`jax.clear_caches`).

    Each kept program holds memory maps of its own (about 6 for a one-line function, more
    for a trial), and Linux caps them per process (``vm.max_map_count``, 65530 by default):
    a process that compiles a few thousand distinct programs and keeps them dies inside XLA
    ("LLVM compilation error: Cannot allocate memory", then a segmentation fault).  A program
    needed again is compiled again, or read back from the persistent cache when it is on.
    """
    jax.clear_caches()


def _memory_maps() -> tuple[int, int] | None:
    """(maps this process holds, ``vm.max_map_count``), or ``None`` where Linux's ``/proc``
    does not say."""
    try:
        with open("/proc/self/maps", "rb") as f:
            used = f.read().count(b"\n")
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
    except (OSError, ValueError):
        return None
    return used, limit


def release_near_map_limit(fraction: float = 0.5, limit: int | None = None) -> bool:
    """:func:`release_compiled_programs` once this process holds ``fraction`` of the memory
    maps Linux allows it.

    The figures' point runner (:func:`onestep_gm.experiments.results.simulate_cached`) calls it
    before each point, so a long sweep in one process (``onestep figure``) stays clear of the
    limit; :func:`onestep_gm.simulate` itself leaves the process's compiled programs alone (call
    this between sweeps in a notebook).  Before the exact test errors' rule plans stopped
    varying with the data, one point with 40 trials compiled up to 42 programs holding about
    11,000 maps; a sweep over many shapes still adds programs.

    Parameters
    ----------
    fraction : float
        Share of the limit at which to release, in (0, 1].
    limit : int, optional
        The limit; default ``/proc/sys/vm/max_map_count`` (65530 on most systems).

    Returns
    -------
    bool
        Whether the programs were released (always ``False`` where ``/proc`` is missing).
    """
    counts = _memory_maps()
    if counts is None:
        return False
    used, system_limit = counts
    if used < fraction * (system_limit if limit is None else limit):
        return False
    release_compiled_programs()
    return True


def compile_cache_dir() -> Path | None:
    """The folder JAX's persistent cache uses now, or ``None`` when it is off."""
    current = jax.config.jax_compilation_cache_dir
    return Path(current) if current else None


def coefficient_cache_dir() -> Path | None:
    """Folder of the cached float Hermite coefficients (beside the compile cache), or ``None``
    when the compile cache is off: one switch for everything cached across processes."""
    folder = compile_cache_dir()
    return None if folder is None else folder.parent / (folder.name + "-hermite")
