"""Library calls leave the process as they found it (issue 24, item 5).

After :func:`onestep_gm.run_figure`, :func:`onestep_gm.simulate`,
:func:`onestep_gm.learning_curve`, :func:`onestep_gm.predict` and
:func:`onestep_gm.limit_point` return, ``jax_enable_x64``, the persistent compilation cache's
settings, ``os.environ``, the umask and matplotlib's backend are what they were (and pyplot is
not imported), and the results are float64.  All the calls run, one after the other, in ONE
fresh interpreter (the test session itself switches x64 and the compile cache on, as the CLI
does; one interpreter instead of one per entry point saves a start-up and its imports), at
tiny sizes.  Each call is compared with the state just before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, os, sys
import matplotlib

os.umask(0o027)  # not the usual 0o022: a library that resets it would show


def state():
    import jax
    mask = os.umask(0o027)
    os.umask(mask)
    return {"x64": bool(jax.config.jax_enable_x64),
            "cache_dir": jax.config.jax_compilation_cache_dir,
            "cache_min_seconds": jax.config.jax_persistent_cache_min_compile_time_secs,
            "environ": dict(os.environ), "umask": mask,
            "backend": str(dict.__getitem__(matplotlib.rcParams, "backend")),
            "pyplot": "matplotlib.pyplot" in sys.modules}


report = {}


def check(name, call):
    before = state()
    out = call()
    report[name] = {"changed": sorted(k for k, v in state().items() if v != before[k])}
    return out


import numpy as np
import onestep_gm as og
from onestep_gm.experiments.figures.catalogue import Overrides

run = check("run_figure", lambda: og.run_figure("fig1b", quick=True, trials=1,
                                                overrides=Overrides(activations=("relu",), models=("nn",))))
frame = run.to_frame()
report["run_figure"].update(rows=len(frame), dtypes=sorted({str(frame["gen_error"].dtype),
                                                            str(run.results[0].gen[("relu", "nn")].dtype)}))
config = og.SimulationConfig(data=og.MixtureSpec(n=16), k=8, m=10, trials=1, activations=("relu",),
                             models=("nn", "hermite", "theory"))
result = check("simulate", lambda: og.simulate(config))
report["simulate"]["dtypes"] = sorted({str(np.asarray(v).dtype) for v in result.gen.values()})
curve = check("learning_curve", lambda: og.learning_curve(config, points=3, trials=1))
report["learning_curve"]["dtypes"] = sorted({str(np.asarray(v).dtype) for v in curve.mean.values()})
F_hat, mixture = og.trained_layer(config)
prediction = check("predict", lambda: og.predict(F_hat, mixture, "relu", config.lam, config.m))
report["predict"]["dtypes"] = [type(prediction.gen_error).__name__, str(F_hat.dtype)]
limit = og.IsotropicLimit.from_sizes(n=100, k=100, m=100, lam=1e-2, eta=100.0, activation="tanh",
                                     teacher="tanh")
point = check("limit_point", lambda: og.limit_point(limit))
report["limit_point"]["dtypes"] = [type(point.gen_error).__name__]
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    drop = ("MPLBACKEND", "JAX_ENABLE_X64", "JAX_COMPILATION_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["ONESTEP_COMPILE_CACHE"] = "1"  # the engine would switch the cache on if it were allowed to
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env,
                         cwd=tmp_path_factory.mktemp("state"), timeout=900)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_run_figure_leaves_the_process_as_it_found_it(report):
    """1 activation × 1 model × 1 trial at each of fig1b's 6 quick points: a tidy frame of 6
    float64 rows.  fig1b varies alpha, a traced parameter, so its points share compiled
    programs (fig1a varies k: one compilation per point, ~13 s more)."""
    assert report["run_figure"] == {"changed": [], "rows": 6, "dtypes": ["float64"]}


def test_simulate_leaves_the_process_as_it_found_it(report):
    assert report["simulate"] == {"changed": [], "dtypes": ["float64"]}


def test_learning_curve_leaves_the_process_as_it_found_it(report):
    assert report["learning_curve"] == {"changed": [], "dtypes": ["float64"]}


def test_predict_leaves_the_process_as_it_found_it(report):
    assert report["predict"] == {"changed": [], "dtypes": ["float", "float64"]}


def test_limit_point_leaves_the_process_as_it_found_it(report):
    assert report["limit_point"] == {"changed": [], "dtypes": ["float"]}


def test_importing_results_does_not_touch_the_umask():
    """The atomic writer creates files with mode 0o666 and lets the kernel apply the umask;
    it never reads or sets the umask."""
    code = ("import os\nos.umask(0o027)\nfrom onestep_gm.experiments import results\n"
            "results.write_atomic(os.path.join(os.environ['TMPDIR_'], 'f'), 'x')\n"
            "print(oct(os.umask(0o022)))")  # fmt: skip
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "TMPDIR_": folder}, timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "0o27"
        assert oct(os.stat(os.path.join(folder, "f")).st_mode & 0o777) == oct(0o640)
