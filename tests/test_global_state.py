"""Library calls leave the process as they found it (issue 24, item 5).

After :func:`onestep_gm.simulate`, :func:`onestep_gm.learning_curve`,
:func:`onestep_gm.predict` and :func:`onestep_gm.limit_point` return, ``jax_enable_x64``, the persistent compilation cache's
setting, ``os.environ`` and the umask are what they were, and the results are float64.  The
calls run in a fresh interpreter (the test session itself switches x64 on, as the CLI does),
at tiny sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import json, os
import jax
import numpy as np
import onestep_gm as og

os.umask(0o027)  # not the usual 0o022: a library that resets it would show


def state():
    mask = os.umask(0o027)
    os.umask(mask)
    return {"x64": bool(jax.config.jax_enable_x64),
            "cache_dir": jax.config.jax_compilation_cache_dir,
            "environ": dict(os.environ), "umask": mask}


config = og.SimulationConfig(data=og.MixtureSpec(n=16), k=8, m=10, trials=1, activations=("relu",),
                             models=("nn", "hermite", "theory"))
report = {}
before = state()
result = og.simulate(config)
report["simulate"] = {"changed": [k for k, v in state().items() if v != before[k]],
                      "dtypes": sorted({str(np.asarray(v).dtype) for v in result.gen.values()})}
before = state()
curve = og.learning_curve(config, points=3, trials=1)
report["learning_curve"] = {"changed": [k for k, v in state().items() if v != before[k]],
                            "dtypes": sorted({str(np.asarray(v).dtype) for v in curve.mean.values()})}
F_hat, mixture = og.trained_layer(config)
before = state()
prediction = og.predict(F_hat, mixture, "relu", config.lam, config.m)
report["predict"] = {"changed": [k for k, v in state().items() if v != before[k]],
                     "dtypes": [type(prediction.gen_error).__name__, str(F_hat.dtype)]}
before = state()
point = og.limit_point(og.IsotropicLimit.from_sizes(n=100, k=100, m=100, lam=1e-2, eta=100.0,
                                                   activation="tanh", teacher="tanh"))
report["limit_point"] = {"changed": [k for k, v in state().items() if v != before[k]],
                         "dtypes": [type(point.gen_error).__name__]}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "JAX_COMPILATION_CACHE_DIR")}
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env,
                         timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


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
