"""numerics.memory: lower-bound estimates, the blamed parameter, refusal before any work."""

import time

import pytest
from onestep_gm.numerics.memory import (
    MemoryLimitError,
    available_memory,
    check_memory,
    check_simulation_memory,
    curve_bytes,
    format_bytes,
    trial_bytes,
)
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig, simulate


def test_trial_bytes_counts_the_samples_and_layers():
    # (2 + 5) m n samples + 3 k n + 2 k m + min(k, m)^2 + C (d + 1) n, 8 bytes each
    n = k = m = 1000
    expected = 8 * (7 * m * n + 3 * k * n + 2 * k * m + m * m + 2 * 2 * n)
    assert trial_bytes(n=n, k=k, m=m) == expected
    assert trial_bytes(n=n, k=k, m=m, sample_bytes=4) == expected - 4 * 7 * m * n
    assert trial_bytes(n=n, k=k, m=m, theory=True) == expected + 8 * 3 * k * k


def test_available_memory_is_positive_and_env_limit_lowers_it(monkeypatch):
    assert available_memory() > 0
    monkeypatch.setenv("ONESTEP_MEMORY_LIMIT", "1.5G")
    assert available_memory() == 1_500_000_000
    monkeypatch.setenv("ONESTEP_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="ONESTEP_MEMORY_LIMIT"):
        available_memory()


@pytest.mark.parametrize(
    ("sizes", "blamed"),
    [({"n": 10**9, "k": 1000, "m": 1000}, "n"), ({"n": 1000, "k": 10**9, "m": 1000}, "k"),
     ({"n": 1000, "k": 1000, "m": 10**9}, "m"),
     ({"n": 1000, "k": 1000, "m": 1000, "test_factor": 10**9}, "test_factor"),
     ({"n": 1000, "k": 1000, "m": 1000, "components": 10**9}, "components")],
)  # fmt: skip
def test_check_memory_blames_the_large_size(sizes, blamed):
    with pytest.raises(MemoryLimitError) as info:
        check_memory(trial_bytes, sizes, what="one trial", available=16 * 10**9)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.parameter == blamed and err.value == 10**9 and err.needed > 16 * 10**9
    assert f"{blamed} = 1000000000 is too large" in str(err) and "16 GB available" in str(err)


def test_check_memory_passes_what_fits():
    assert check_memory(trial_bytes, {"n": 1000, "k": 1000, "m": 1000}, available=10**9) > 0


def test_curve_points_are_bounded():
    with pytest.raises(MemoryLimitError) as info:
        check_memory(curve_bytes, {"n": 100, "k": 100, "m": 100, "points": 10**9}, available=10**10)
    assert info.value.parameter == "points"


def test_format_bytes():
    assert format_bytes(56e12) == "56 TB" and format_bytes(512) == "512 B"


def test_simulate_refuses_a_huge_n_before_any_work():
    config = SimulationConfig(data=MixtureSpec(n=10**9), trials=1, activations=("relu",))
    t0 = time.perf_counter()
    with pytest.raises(MemoryLimitError, match="n = 1000000000 is too large"):
        simulate(config)
    assert time.perf_counter() - t0 < 2.0
    check_simulation_memory(SimulationConfig(data=MixtureSpec(n=50), k=20, m=20))


# --- issue 28, kind 5: the process's own cgroup, and a limit that is to blame ------------------


def _limits(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_own_cgroup_limit_is_read_in_v2_and_v1(tmp_path):
    from onestep_gm.numerics.memory import cgroup_limits

    v2 = tmp_path / "v2"  # unified hierarchy: the job's own cgroup is limited, the root is not
    _limits(v2, {"memory.max": "max\n", "system.slice/job.scope/memory.max": "6442450944\n",
                 "system.slice/memory.max": "max\n"})  # fmt: skip
    found = cgroup_limits("0::/system.slice/job.scope\n", v2)
    assert [limit for limit, _ in found] == [6442450944]
    assert found[0][1] == v2 / "system.slice/job.scope/memory.max"
    _limits(v2, {"system.slice/memory.max": "4000000000\n"})  # a parent's smaller limit applies too
    assert min(cgroup_limits("0::/system.slice/job.scope\n", v2))[0] == 4_000_000_000
    v1 = tmp_path / "v1"  # v1: the memory controller's own hierarchy, on a line with others
    _limits(v1, {"memory/memory.limit_in_bytes": "9223372036854771712\n",
                 "memory/slurm/uid_0/job_7/memory.limit_in_bytes": "2147483648\n"})  # fmt: skip
    text = "12:cpu,cpuacct:/slurm/uid_0/job_7\n4:memory:/slurm/uid_0/job_7\n1:name=systemd:/x\n"
    assert [limit for limit, _ in cgroup_limits(text, v1)] == [2147483648]
    assert cgroup_limits("", tmp_path / "none") == []


def test_a_tiny_limit_is_named_instead_of_a_parameter(monkeypatch):
    monkeypatch.setenv("ONESTEP_MEMORY_LIMIT", "1K")
    config = SimulationConfig(data=MixtureSpec(n=20), k=20, m=20, trials=1, models=("nn", "hermite"))
    with pytest.raises(MemoryLimitError) as info:
        check_simulation_memory(config)
    assert info.value.parameter is None and "ONESTEP_MEMORY_LIMIT=1K" in str(info.value)
    assert "--models" not in str(info.value) and "1 kB" in str(info.value)
