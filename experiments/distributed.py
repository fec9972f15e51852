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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from onestep_gm.numerics.runtime import (
    restored_environ as restored_environ,  # one copy, with the engine
)

INSTALL_HINT = "distributed sweeps need dask.distributed: pip install 'onestep-gm[distributed]'"


def use_compile_cache(compile_cache: str | None) -> None:
    """On a worker: use the client's persistent compilation-cache folder (``None``: off), so
    every worker that can see it shares the client's compiled programs."""
    # the engine (JAX) loads on the worker, when its first task runs
    from onestep_gm.numerics.compile_cache import disable_compile_cache, enable_compile_cache

    if compile_cache is None:
        disable_compile_cache()
    else:
        enable_compile_cache(compile_cache)


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


def check_options(workers: int | None, scheduler: str | None) -> None:
    """``ValueError`` (one sentence) for options that cannot be used together or at all."""
    if workers is not None and scheduler is not None:
        raise ValueError("give either --workers or --scheduler, not both")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be a positive integer (got {workers})")
    if workers is not None or scheduler is not None:
        _import_distributed()


def run_points(
    configs: Sequence[Any],
    *,
    cache_dir: str | Path | None,
    workers: int | None = None,
    scheduler: str | None = None,
    on_done: Callable[[], None] | None = None,
    timeout: float = 20.0,
    task: Callable[[Any, str | None, str | None], Any] = run_point,
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
        Seconds to wait for the scheduler before giving up.
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
        When the scheduler cannot be reached.
    """
    check_options(workers, scheduler)
    if workers is None and scheduler is None:
        raise ValueError("run_points needs --workers or --scheduler")
    if scheduler is None:
        with local_cluster(workers) as address:
            return run_points(configs, cache_dir=cache_dir, scheduler=address, on_done=on_done,
                              timeout=timeout, task=task)  # fmt: skip
    distributed = _import_distributed()
    # the compile-cache folder travels with each task (JAX loads only if the cache is on)
    from onestep_gm.numerics.compile_cache import compile_cache_dir

    folder = compile_cache_dir()
    compile_cache = None if folder is None else str(folder)
    cache = None if cache_dir is None else str(Path(cache_dir).resolve())
    try:
        client = distributed.Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    with client:
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
