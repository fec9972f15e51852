"""Points of a sweep as Dask tasks: a local cluster (``--workers N``) or any scheduler address.

Each grid point is one task, :func:`run_point`: it simulates the point through the per-point
cache (:func:`onestep_gm.experiments.results.simulate_cached`) and returns the result.  So a
worker that dies loses only the point it was running (Dask re-runs it elsewhere), and a sweep
that is stopped resumes from the cache when it is run again.  The numbers do not depend on
where a point ran: a point's random draws depend on its seed only, and its compiled trial is
the same program on every worker.

``dask.distributed`` is an optional dependency (``pip install 'onestep-gm[distributed]'``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from onestep_gm.numerics.runtime import (
    restored_environ as restored_environ,  # one copy, with the engine
)
from onestep_gm.numerics.validation import FieldTypeError, FieldValueError, check_int

WORKERS_PER_CORE = 4
"""Local workers allowed per core (``--workers``): each is a process with its own JAX."""
HANDSHAKE_SECONDS = 20.0
"""Default bound on connecting to a scheduler, handshake included."""
WORKER_WAIT_SECONDS = 60.0
"""Default bound on waiting for a scheduler to have at least one worker."""
INSTALL_HINT = "distributed sweeps need dask.distributed: pip install 'onestep-gm[distributed]'"


def use_compile_cache(compile_cache: str | None) -> None:
    """On a worker: use the client's persistent compilation-cache folder (``None``: off), so
    every worker that can see it shares the client's compiled programs."""
    # the engine (JAX) loads on the worker, when its first task runs
    from onestep_gm.numerics.compile_cache import disable_compile_cache, enable_compile_cache

    if compile_cache is None:
        disable_compile_cache()
    else:
        try:
            enable_compile_cache(compile_cache)
        except OSError:  # the client's folder is not writable here: compile without it
            disable_compile_cache()


def run_point(config, cache_dir: str | None, compile_cache: str | None):
    """One task: simulate ``config`` through the per-point cache, on whichever worker runs it
    (``compile_cache``: see :func:`use_compile_cache`)."""
    from onestep_gm.experiments.results import simulate_cached  # the engine loads on the worker

    use_compile_cache(compile_cache)
    return simulate_cached(config, cache_dir=cache_dir, progress=False)


def _worker_env(workers: int) -> dict[str, str]:
    """Environment of local workers: XLA and BLAS threads split between the workers, so N
    workers on N cores do not each start a pool as large as the machine."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    env = {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    if flags:
        env["XLA_FLAGS"] = flags
    return env


def _import_distributed():
    try:
        import distributed  # optional extra: only distributed sweeps need it
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return distributed


def max_workers() -> int:
    """The most local workers allowed: :data:`WORKERS_PER_CORE` per core."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def check_options(workers: int | None, scheduler: str | None) -> None:
    """``ValueError``/``TypeError`` (one sentence, naming the option) for options that cannot
    be used together or at all; ``workers`` at most :func:`max_workers`."""
    if workers is not None and scheduler is not None:
        raise ValueError("give either --workers or --scheduler, not both")
    if workers is not None:
        check_int("workers", workers, 1)
        if workers > max_workers():
            raise FieldValueError("workers", f"--workers {workers} is more than {WORKERS_PER_CORE} per core "
                                  f"({os.cpu_count()} cores here): at most {max_workers()}")  # fmt: skip
    if scheduler is not None and not isinstance(scheduler, str):
        raise FieldTypeError("scheduler", f"scheduler must be an address such as tcp://host:8786 (got {scheduler!r})")
    if workers is not None or scheduler is not None:
        _import_distributed()


def run_points(
    configs: Sequence[Any],
    *,
    cache_dir: str | Path | None,
    workers: int | None = None,
    scheduler: str | None = None,
    on_done: Callable[[], None] | None = None,
    timeout: float = HANDSHAKE_SECONDS,
    task: Callable[[Any, str | None, str | None], Any] = run_point,
    worker_wait: float = WORKER_WAIT_SECONDS,
) -> list[Any]:
    """Simulate ``configs`` as Dask tasks; results in the order of ``configs``.

    Parameters
    ----------
    configs : sequence of SimulationConfig
        One task per config (or per item that ``task`` takes).
    cache_dir : str or Path, optional
        The per-point cache; it must be visible to every worker (a shared file system on a
        cluster).  ``None`` simulates without one (nothing survives a lost worker then).
    workers : int, optional
        Start a ``dask.distributed.LocalCluster`` of this many single-threaded worker
        processes, closed at the end.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) to submit to instead.
    on_done : callable, optional
        Called once per completed point (the progress bar).
    timeout : float
        Seconds to wait for the scheduler, the whole handshake included (a listener that
        accepts and never answers ends after ``timeout`` plus a 5-second margin at most).
    worker_wait : float
        Seconds to wait for the scheduler to have a worker before giving up.
    task : callable
        ``task(item, cache_dir, compile_cache)``, run on a worker for each item of ``configs``
        (default :func:`run_point`); a module-level function, so that workers can import it.

    Returns
    -------
    list of SimulationResult

    Raises
    ------
    ValueError
        When dask.distributed is missing, the options conflict, or a point is unusable.
    OSError
        When the scheduler cannot be reached, does not complete the handshake within
        ``timeout`` (plus a 5-second margin), or has no worker within ``worker_wait`` seconds
        (:class:`TimeoutError`, one line).
    """
    check_options(workers, scheduler)
    if workers is None and scheduler is None:
        raise ValueError("run_points needs --workers or --scheduler")
    if scheduler is None:
        with local_cluster(workers) as address:
            return run_points(configs, cache_dir=cache_dir, scheduler=address, on_done=on_done,
                              timeout=timeout, task=task, worker_wait=worker_wait)  # fmt: skip
    distributed = _import_distributed()
    # the compile-cache folder travels with each task (JAX loads only if the cache is on)
    from onestep_gm.numerics.compile_cache import compile_cache_dir

    folder = compile_cache_dir()
    compile_cache = None if folder is None else str(folder)
    cache = None if cache_dir is None else str(Path(cache_dir).resolve())
    client = connect(distributed, scheduler, timeout)
    with client:
        try:
            client.wait_for_workers(1, timeout=worker_wait)
        except (OSError, TimeoutError):
            raise TimeoutError(f"the Dask scheduler at {scheduler} has no worker after {worker_wait:g} s; "
                               "start workers (dask worker ADDRESS) or use --workers N") from None  # fmt: skip
        futures = [
            client.submit(task, config, cache, compile_cache, pure=False)
            for config in configs
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for future in distributed.as_completed(futures):
            results[index[future.key]] = future.result()
            if on_done is not None:
                on_done()
        return results


def connect(distributed, scheduler: str, timeout: float):
    """A ``distributed.Client`` of ``scheduler``, or :class:`OSError` within ``timeout`` plus a 5-second margin.

    ``Client(timeout=...)`` bounds the TCP connection, not the handshake that follows: a
    listener that accepts and never answers would hold it for ever.  The client is made in a
    helper thread that is abandoned (a daemon) when the bound passes.
    """
    box: dict[str, Any] = {}

    def make() -> None:
        try:
            box["client"] = distributed.Client(scheduler, timeout=f"{timeout}s")
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=make, daemon=True, name="onestep-dask-connect")
    thread.start()
    thread.join(timeout + 5.0)
    if thread.is_alive():
        raise TimeoutError(f"the Dask scheduler at {scheduler} did not answer within {timeout + 5:g} s "
                           "(connected, but no handshake)")  # fmt: skip
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, OSError | TimeoutError | ValueError):
            raise OSError(f"cannot reach the Dask scheduler at {scheduler} ({' '.join(str(exc).split())})") from None
        raise exc
    return box["client"]


def run_all(items: Sequence[Any], compute: Callable[[Any], Any], *, desc: str, progress: bool = False,
            cache_dir: str | Path | None = None, workers: int | None = None, scheduler: str | None = None,
            task: Callable[[Any, str | None, str | None], Any] = run_point) -> list[Any]:  # fmt: skip
    """``compute(item)`` for every item in this process, or ``task`` on Dask with ``workers`` or
    ``scheduler`` (:func:`run_points`); results in the order of ``items``, and with ``progress``
    a bar on stderr that counts completed points.  No items: no cluster is started."""
    bar = None
    if progress:
        # progress bars for terminals only
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc=desc, unit="point", dynamic_ncols=True)
    try:
        if not items:
            return []
        if workers is None and scheduler is None:
            out = []
            for item in items:
                out.append(compute(item))
                if bar is not None:
                    bar.update(1)
            return out
        return run_points(items, cache_dir=cache_dir, workers=workers, scheduler=scheduler, task=task,
                          on_done=None if bar is None else (lambda: bar.update(1)))  # fmt: skip
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def local_cluster(workers: int):
    """A ``dask.distributed.LocalCluster`` of ``workers`` single-threaded processes; yields its address.

    ``onestep figure all --workers N`` starts one and hands its address to every figure (a
    cluster costs seconds to start); it is closed on leaving the block.
    """
    distributed = _import_distributed()
    with restored_environ():
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            env=_worker_env(workers), silence_logs=logging.ERROR,
        )  # fmt: skip
        try:
            yield cluster.scheduler_address
        finally:
            cluster.close()
