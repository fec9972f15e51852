"""Sweeps on Dask: a LocalCluster of two worker processes, reached by its scheduler address,
gives the in-process numbers; a worker killed mid-sweep loses nothing; a re-run resumes.

The sweep varies alpha at a fixed Hermite order, so each process compiles one trial.

The module's cluster is started as on a machine with 2 cores per worker, so its workers run
with the XLA flags of the test process and read the trials the test process compiled from the
persistent compile cache (on a 2-core machine ``--workers 2`` adds
``--xla_cpu_multi_thread_eigen=false``, a different compile-cache key: every worker compiled
every program again, ~40 s of the suite).  That single-threaded case, bit for bit, is
``test_single_threaded_xla_workers_reproduce_in_process`` (slow)."""

import contextlib
import os
import signal
import threading
import time

import numpy as np
import pytest
from onestep_gm.experiments import distributed as dist
from onestep_gm.experiments.figures.catalogue import FigureSpec
from onestep_gm.experiments.figures.runner import run_figure
from onestep_gm.experiments.results import cache_path
from onestep_gm.numerics import simulation
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig

distributed = pytest.importorskip("distributed", reason="the test extra installs dask[distributed]")

SPEC = FigureSpec(
    name="tiny", title="tiny", xlabel="alpha", ylabel="error", vary="alpha",
    grid=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), quick_grid=(0.0,),
    base=SimulationConfig(data=MixtureSpec(n=48), k=40, m=40, activations=("relu", "tanh"),
                          models=("nn", "hermite"), order=3, trials=3),
)  # fmt: skip


def _same(a, b):
    assert a.coords == b.coords
    for ra, rb in zip(a.results, b.results, strict=True):
        assert set(ra.gen) == set(rb.gen)
        for pair in ra.gen:
            np.testing.assert_array_equal(ra.gen[pair], rb.gen[pair])
            np.testing.assert_array_equal(ra.train[pair], rb.train[pair])


_CLEARED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")


class _Cluster:
    """The module's one cluster (``dist.local_cluster(2)``, as ``onestep figure --workers 2``
    starts it; a cluster costs seconds to start and to close), the environment before it
    started, and its closing, which the last test calls and checks."""

    def __init__(self, stack: contextlib.ExitStack, before: dict[str, str], cores: int):
        self.stack, self.before = stack, before
        with pytest.MonkeyPatch.context() as patch:  # the cores local_cluster splits between workers
            patch.setattr(os, "cpu_count", lambda: cores)
            self.scheduler_address = stack.enter_context(dist.local_cluster(2))

    def close(self) -> None:
        self.stack.close()


@contextlib.contextmanager
def _started_cluster(cores: int):
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as stack:
        for name in _CLEARED:  # Dask's nannies write these into the starting process's environment
            patch.delenv(name, raising=False)
        yield _Cluster(stack, dict(os.environ), cores)


@pytest.fixture(scope="module")
def cluster():
    """Two workers of 2 XLA threads each (no extra XLA flag: they share the compile cache)."""
    with _started_cluster(cores=4) as started:
        yield started


@pytest.fixture(scope="module")
def in_process():
    return run_figure(SPEC)


def test_cluster_by_address_reproduces_in_process(cluster, in_process, tmp_path):
    address = cluster.scheduler_address
    assert address.startswith("tcp://")
    remote = run_figure(SPEC, scheduler=address, cache_dir=tmp_path)
    _same(remote, in_process)
    assert len(list(tmp_path.glob("point-*.json"))) == len(SPEC.grid)


@pytest.mark.slow
def test_single_threaded_xla_workers_reproduce_in_process(in_process, tmp_path):
    """``onestep figure --workers 2`` on a 2-core machine: single-threaded workers (OMP 1,
    ``--xla_cpu_multi_thread_eigen=false``, so every program is compiled again under that flag)
    give the in-process numbers bit for bit.  The default run checks the cluster route with
    workers that share the test process's flags (``test_cluster_by_address_reproduces_in_process``)."""
    with _started_cluster(cores=2) as started:
        with distributed.Client(started.scheduler_address) as client:
            flags = client.run(lambda: os.environ.get("XLA_FLAGS", ""))
        assert all("xla_cpu_multi_thread_eigen=false" in f for f in flags.values())
        remote = run_figure(SPEC, scheduler=started.scheduler_address, cache_dir=tmp_path)
        started.close()
    _same(remote, in_process)


def test_killed_worker_loses_nothing_and_rerun_resumes(cluster, in_process, tmp_path, monkeypatch):
    address = cluster.scheduler_address
    out = {}
    runner = threading.Thread(
        target=lambda: out.setdefault("run", run_figure(SPEC, scheduler=address, cache_dir=tmp_path))
    )
    runner.start()
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("point-*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    done_at_kill = len(list(tmp_path.glob("point-*.json")))
    with distributed.Client(address) as client:
        pids = client.run(os.getpid)  # worker address -> process id
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # its nanny starts a new worker
    runner.join(timeout=300)
    assert not runner.is_alive()
    assert 1 <= done_at_kill < len(SPEC.grid), "the worker must die while points remain"
    _same(out["run"], in_process)
    entries = {p: p.stat().st_mtime_ns for p in tmp_path.glob("point-*.json")}
    assert len(entries) == len(SPEC.grid)

    def no_simulation(*args, **kwargs):
        raise AssertionError("a cached point was simulated again")

    monkeypatch.setattr(simulation, "simulate", no_simulation)
    again = run_figure(SPEC, cache_dir=tmp_path)  # every point is read back from the cache
    _same(again, in_process)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("point-*.json")} == entries
    assert all(cache_path(tmp_path, c).exists() for c in again.configs)


def test_bad_options_are_one_sentence():
    with pytest.raises(ValueError, match="either --workers or --scheduler"):
        run_figure(SPEC, workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="cannot be combined"):
        run_figure(SPEC, workers=2, simulate_fn=lambda *a, **k: None)
    with pytest.raises(OSError, match="cannot reach the Dask scheduler"):
        dist.run_points([SPEC.base], cache_dir=None, scheduler="tcp://127.0.0.1:9", timeout=1)


def test_worker_env_splits_threads(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert dist._worker_env(2)["OMP_NUM_THREADS"] == "4"
    one = dist._worker_env(8)
    assert one["OMP_NUM_THREADS"] == "1" and one["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"


def test_theorem_figures_on_the_cluster_reproduce_in_process(cluster, tmp_path):
    """``onestep figure order|convergence --scheduler``: the points run as tasks (the order
    diagram's through its JSON point cache) and give the in-process numbers, bit for bit."""
    from onestep_gm.experiments.figures import convergence
    from onestep_gm.experiments.figures import order as diagram

    # one activation, relu (closed kernels): each of the three processes compiles and derives
    # for one activation, not two (~half the time); tanh (its quadrature coefficients and
    # Mehler series) reproduces bit for bit on the cluster in test_cluster_by_address_... (SPEC)
    order = diagram.OrderSpec(n_values=(40,), betas=(0.3, 0.8), trials=2, orders=(2, 3),
                              activations=("relu",))  # fmt: skip
    conv = convergence.ConvergenceSpec(n_values=(40,), points=((0.3, 0.5),), trials=2,
                                       models=("nn", "hermite"), activations=("relu",))  # fmt: skip
    address = cluster.scheduler_address
    local = diagram.run_order(order)  # first: the workers read its programs from the compile cache
    remote = diagram.run_order(order, scheduler=address, cache_dir=tmp_path / "order")
    for key, point in local["results"].items():
        assert {**remote["results"][key], "seconds": 0} == {**point, "seconds": 0}
    assert len(list((tmp_path / "order").glob("json-*.json"))) == 2
    local = convergence.run_convergence(conv)
    remote = convergence.run_convergence(conv, scheduler=address, cache_dir=tmp_path / "conv")
    assert remote["results"].keys() == local["results"].keys()
    for key, point in local["results"].items():
        assert remote["results"][key]["gen"] == point["gen"]


# --- issue 28: bounded waits ------------------------------------------------------------------


def test_a_listener_that_never_answers_ends_within_the_bound():
    """A loopback listener that accepts and never speaks: the handshake is bounded as a whole
    (``timeout`` + 5 s), not only the TCP connect, and the refusal is one OSError line."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    t0 = time.perf_counter()
    try:
        with pytest.raises(OSError, match="did not answer within 6 s|cannot reach the Dask scheduler") as info:
            dist.run_points([SPEC.base], cache_dir=None, scheduler=address, timeout=1)
    finally:
        stop.set()
        for conn in held:
            conn.close()
        server.close()
    assert time.perf_counter() - t0 < 6 + 5
    assert "\n" not in str(info.value)


def test_a_scheduler_without_workers_ends_within_the_bound():
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        t0 = time.perf_counter()
        with pytest.raises(TimeoutError, match="has no worker after 2 s"):
            dist.run_points([SPEC.base], cache_dir=None, scheduler=empty.scheduler_address, worker_wait=2)
        assert time.perf_counter() - t0 < 2 + 10


def test_workers_are_at_most_a_multiple_of_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert dist.max_workers() == 2 * dist.WORKERS_PER_CORE
    dist.check_options(8, None)
    for bad in (9, 10**6, 99999999999999999999999):
        with pytest.raises(ValueError, match=f"--workers {bad} is more than 4 per core .* at most 8"):
            dist.check_options(bad, None)
    for bad in (2.5, True, "2"):
        with pytest.raises(TypeError, match="workers must be an integer"):
            dist.check_options(bad, None)


def test_local_cluster_leaves_the_environment_as_it_found_it(cluster):
    """Dask's nannies write OMP_NUM_THREADS=1 etc. into the starting process's environment while
    the cluster runs; closing it restores the environment.  The module's cluster (so this test
    comes last: it closes it)."""
    assert os.environ.get("OMP_NUM_THREADS") == "1"  # what the nanny wrote while it ran
    assert dict(os.environ) != cluster.before
    cluster.close()
    assert dict(os.environ) == cluster.before
