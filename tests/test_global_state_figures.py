"""``run_figure`` leaves the process as it found it: JAX's 64-bit and compile-cache settings,
``os.environ``, the umask and matplotlib's backend (DESIGN.md: library calls change no
process-wide state).  Run in a fresh interpreter, where nothing has switched them yet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import matplotlib

    def state():
        import jax
        mask = int(open("/proc/self/status").read().split("Umask:")[1].split()[0], 8)
        return {
            "x64": bool(jax.config.jax_enable_x64),
            "cache_dir": jax.config.jax_compilation_cache_dir,
            "cache_min_seconds": jax.config.jax_persistent_cache_min_compile_time_secs,
            "environ": dict(os.environ),
            "umask": mask,
            "backend": str(dict.__getitem__(matplotlib.rcParams, "backend")),
            "pyplot": "matplotlib.pyplot" in sys.modules,
        }

    import onestep_gm as og
    from onestep_gm.experiments.figures.catalogue import Overrides

    before = state()
    run = og.run_figure("fig1a", quick=True, trials=1,
                        overrides=Overrides(activations=("relu",), models=("nn",)))
    after = state()
    frame = run.to_frame()
    print(json.dumps({"before": before, "after": after, "rows": len(frame),
                      "dtype": str(frame["gen_error"].dtype), "x64_result": str(run.results[0].gen[("relu", "nn")].dtype)}))
""")


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPLBACKEND", "JAX_ENABLE_X64"))}
    env["ONESTEP_COMPILE_CACHE"] = "1"  # the engine would switch the cache on if it were allowed to
    if sys.platform != "linux":
        pytest.skip("reads the umask from /proc/self/status")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                         cwd=tmp_path_factory.mktemp("state"), timeout=900)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("what", ["x64", "cache_dir", "cache_min_seconds", "environ", "umask", "backend", "pyplot"])
def test_run_figure_leaves_the_process_as_it_found_it(states, what):
    assert states["after"][what] == states["before"][what]


def test_results_stay_float64_and_the_frame_is_tidy(states):
    """1 activation × 1 model × 1 trial at each of fig1a's 4 quick points; float64 numbers."""
    assert states["rows"] == 4
    assert states["dtype"] == "float64" and states["x64_result"] == "float64"
