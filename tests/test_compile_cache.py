"""The persistent compilation cache: where it lives, how it is switched off, and that a second
process actually loads the compiled trial from it instead of compiling again."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest
from jax.experimental.compilation_cache import compilation_cache as _jax_cache
from onestep_gm.numerics import compile_cache

# A fresh process switches the cache on, simulates a tiny point and reports the compile-cache events JAX recorded.
_PROBE = textwrap.dedent("""
    import json, time
    import jax
    counts = {}
    jax.monitoring.register_event_listener(lambda event, **kw: counts.__setitem__(event, counts.get(event, 0) + 1))
    from onestep_gm import MixtureSpec, SimulationConfig, enable_compile_cache, simulate
    enable_compile_cache()  # the library switches it on only when asked (the CLI does by default)
    t0 = time.perf_counter()
    # the network alone: the Hermite model adds compilation to both processes, not a check
    config = SimulationConfig(data=MixtureSpec(n=48), k=40, m=40, activations=("relu",), models=("nn",),
                              trials=1)
    result = simulate(config)
    print(json.dumps({"hits": counts.get("/jax/compilation_cache/cache_hits", 0),
                      "misses": counts.get("/jax/compilation_cache/cache_misses", 0),
                      "seconds": time.perf_counter() - t0,
                      "gen": float(result.gen[("relu", "nn")][0])}))
""")


def _probe(env):
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def restore_jax_cache():
    saved = {name: getattr(jax.config, name) for name in (
        "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
        "jax_compilation_cache_max_size")}  # fmt: skip
    opted = dict(compile_cache._state)
    yield
    for name, value in saved.items():
        jax.config.update(name, value)
    _jax_cache.reset_cache()
    compile_cache._state.update(opted)


def test_second_process_hits_the_cache(tmp_path):
    env = {**os.environ, "ONESTEP_COMPILE_CACHE_DIR": str(tmp_path / "jax")}
    env.pop("ONESTEP_COMPILE_CACHE", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    first = _probe(env)
    entries = list((tmp_path / "jax").glob("*-cache"))
    second = _probe(env)
    assert first["misses"] > 0 and first["hits"] == 0
    assert len(entries) >= first["misses"]  # every executable was written, the trial included
    assert second["misses"] == 0 and second["hits"] == first["misses"]
    assert second["gen"] == first["gen"]  # a loaded executable computes the same numbers


def test_switched_off_by_the_environment(tmp_path, monkeypatch, restore_jax_cache):
    jax.config.update("jax_compilation_cache_dir", None)
    compile_cache._state["opted_out"] = False
    monkeypatch.setenv("ONESTEP_COMPILE_CACHE_DIR", str(tmp_path / "jax"))
    for value in ("0", "off", "False", " no "):
        monkeypatch.setenv("ONESTEP_COMPILE_CACHE", value)
        assert compile_cache.enable_compile_cache() is None
        assert compile_cache.compile_cache_dir() is None
    assert not (tmp_path / "jax").exists()
    monkeypatch.setenv("ONESTEP_COMPILE_CACHE", "1")
    assert compile_cache.enable_compile_cache() == tmp_path / "jax"


def test_default_folder_is_the_user_cache_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("ONESTEP_COMPILE_CACHE_DIR", raising=False)
    expected = os.path.join(platformdirs.user_cache_dir("onestep-gm"), "jax")
    assert str(compile_cache.default_cache_dir()) == expected
    monkeypatch.setenv("ONESTEP_COMPILE_CACHE_DIR", "/somewhere/else")
    assert str(compile_cache.default_cache_dir()) == "/somewhere/else"


def test_enable_disable_and_user_folder(tmp_path, monkeypatch, restore_jax_cache):
    monkeypatch.delenv("ONESTEP_COMPILE_CACHE", raising=False)
    compile_cache.disable_compile_cache()
    assert compile_cache.compile_cache_dir() is None
    assert compile_cache.enable_compile_cache() is None  # opted out: the entry points keep off
    folder = compile_cache.enable_compile_cache(tmp_path / "mine")  # an explicit path wins
    assert folder == tmp_path / "mine" and folder.is_dir()
    assert jax.config.jax_compilation_cache_dir == str(folder)
    assert jax.config.jax_compilation_cache_max_size == compile_cache.MAX_BYTES  # locks entries
    monkeypatch.setenv("ONESTEP_COMPILE_CACHE_DIR", str(tmp_path / "other"))
    assert compile_cache.enable_compile_cache() == folder  # a folder already set is kept


_MOVE = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp
    from onestep_gm.numerics import compile_cache
    first, second = sys.argv[1:3]
    compile_cache.enable_compile_cache(first)
    jax.jit(lambda x: x + 1.0)(jnp.ones(3)).block_until_ready()
    compile_cache.enable_compile_cache(second)
    jax.jit(lambda x: x * 3.0)(jnp.ones(3)).block_until_ready()
    compile_cache.disable_compile_cache()
    jax.jit(lambda x: x - 7.0)(jnp.ones(3)).block_until_ready()
""")


def test_moving_and_disabling_take_effect_in_a_process_that_used_the_cache(tmp_path):
    """JAX opens its persistent cache once per process: a later folder, or switching it off,
    must still be honoured (each jitted lambda writes one entry ``jit__lambda-*-cache``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ONESTEP_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    first, second = tmp_path / "first", tmp_path / "second"
    subprocess.run([sys.executable, "-c", _MOVE, str(first), str(second)], env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    in_first = {p.name for p in first.glob("jit__lambda-*-cache")}
    in_second = {p.name for p in second.glob("jit__lambda-*-cache")}
    assert len(in_first) == 1 and len(in_second) == 1, (in_first, in_second)  # the third went nowhere


def test_programs_are_released_near_the_memory_map_limit():
    import jax.numpy as jnp

    kept = [jax.jit(lambda x, i=i: jnp.cos(x) + i) for i in range(20)]
    for i, f in enumerate(kept):
        f(jnp.ones(i + 1)).block_until_ready()
    used, _ = compile_cache._memory_maps()
    assert not compile_cache.release_near_map_limit(limit=4 * used)
    assert compile_cache._memory_maps()[0] >= used - 20
    assert compile_cache.release_near_map_limit(limit=used)
    assert compile_cache._memory_maps()[0] < used - 20 * 4  # each program had held maps of its own


# --- issue 28, kind 5: an unwritable cache folder ---------------------------------------------


def test_an_unwritable_folder_is_refused_and_leaves_the_cache_as_it_was(tmp_path, monkeypatch, restore_jax_cache):
    compile_cache.disable_compile_cache()
    (tmp_path / "file").write_text("")
    for folder in (tmp_path / "file" / "jax", "/proc/self/onestep-jax"):  # under a file; under /proc
        with pytest.raises(OSError, match="cannot use the compile-cache folder"):
            compile_cache.enable_compile_cache(folder)
        assert jax.config.jax_compilation_cache_dir is None
    monkeypatch.setenv("HOME", str(tmp_path / "file"))  # HOME is a file: the default folder fails
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(compile_cache.ENV_DIR, raising=False)
    compile_cache._state["opted_out"] = False
    with pytest.raises(OSError, match="compile-cache folder"):
        compile_cache.enable_compile_cache()
    assert jax.config.jax_compilation_cache_dir is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path, restore_jax_cache):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(OSError, match="cannot use the compile-cache folder"):
        compile_cache.enable_compile_cache(tmp_path / "ro")


def test_the_command_runs_without_a_persistent_cache_and_says_so_in_one_line(tmp_path):
    """A fresh ``onestep`` (its cache switch is process-wide) with ONESTEP_COMPILE_CACHE_DIR
    under a file: one line on stderr, then the command runs and exits 0."""
    (tmp_path / "file").write_text("")
    env = {**os.environ, compile_cache.ENV_DIR: str(tmp_path / "file" / "jax")}
    env.pop("ONESTEP_COMPILE_CACHE", None)
    proc = subprocess.run([sys.executable, "-m", "onestep_gm.experiments.cli", "moments", "--activation", "relu"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "running without a persistent compile cache" in lines[0], proc.stderr
    assert "M0" in proc.stdout or proc.stdout.strip()
