"""The installed package: one import package, a lazy facade, no global state at import."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import onestep_gm

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          timeout=120)  # fmt: skip


def test_import_changes_no_global_state_and_loads_neither_jax_nor_sympy():
    out = _run("import sys, onestep_gm; print('jax' in sys.modules, 'sympy' in sys.modules); "
               "import jax; print(jax.config.jax_enable_x64)")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False"]


def test_every_public_name_resolves_and_the_type_checking_block_agrees():
    for name in onestep_gm.__all__:
        assert getattr(onestep_gm, name) is not None, name
    tree = ast.parse((ROOT / "onestep_gm" / "__init__.py").read_text())
    checked = {
        alias.asname: node.module
        for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        for alias in node.names if alias.asname
    }  # fmt: skip
    assert all(alias == name for name, alias in ((a.name, a.asname) for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) for a in node.names if a.asname))  # fmt: skip
    assert checked == onestep_gm._HOME
    assert set(onestep_gm.__all__) == set(onestep_gm._HOME) | {"__version__"}
    with pytest.raises(AttributeError):
        onestep_gm.not_a_name  # noqa: B018


def test_theory_package_is_lazy_and_its_type_checking_block_agrees():
    import onestep_gm.theory as theory

    tree = ast.parse((ROOT / "theory" / "__init__.py").read_text())
    checked = {
        alias.asname: node.module.rsplit(".", 1)[1]
        for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names if alias.asname
    }  # fmt: skip
    assert checked == theory._HOME
    for name in theory.__all__:
        assert getattr(theory, name) is not None, name
    out = _run("import sys, onestep_gm.theory.order; print('sympy' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]


@pytest.mark.parametrize("argv", [["--help"], ["order", "--beta", "0.6", "--alpha", "0.5", "--n", "1000"],
                                  ["order", "--help"]])  # fmt: skip
def test_help_and_order_load_neither_sympy_nor_jax(argv):
    code = ("import sys\nfrom onestep_gm.experiments.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('sympy' in sys.modules, 'jax' in sys.modules)")  # fmt: skip
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_entry_points_scope_x64_and_lower_levels_say_how():
    """``ridge_equivalent`` runs in 64-bit without switching the process; a lower-level
    function called without x64 still refuses with one sentence naming the fix."""
    code = ("import onestep_gm as og, jax, jax.numpy as jnp\n"
            "r = og.ridge_equivalent(jnp.eye(2), jnp.ones(2), 1.0, 1e-3, 10)\n"
            "print(r.gen_error.dtype, jax.config.jax_enable_x64)\n"
            "from onestep_gm.numerics import require_x64\n"
            "try:\n    require_x64('population_moments')\n"
            "except RuntimeError as e:\n    print(e)\n")  # fmt: skip
    out = _run(code)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert first == "float64 False"
    assert second == "population_moments needs 64-bit JAX: call onestep_gm.enable_x64() first"


@pytest.mark.slow  # repeats tests/test_global_state.py::test_simulate_leaves_the_process_as_it_found_it (x64 and float64 in a fresh interpreter)
def test_simulate_scopes_x64_itself():
    code = ("import onestep_gm as og, jax\n"
            "c = og.SimulationConfig(data=og.MixtureSpec(n=20), k=10, m=12, trials=1, activations=('relu',))\n"
            "r = og.simulate(c)\nprint(jax.config.jax_enable_x64, r.gen[og.Pair('relu', 'nn')].dtype)")  # fmt: skip
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "float64"]


def test_same_seed_same_trained_layer_in_simulate_and_curves():
    """``trained_layer`` (the curves' F_hat) equals the F_hat inside simulate's trial."""
    import dataclasses

    import numpy as np
    from onestep_gm.numerics.simulation import resolve, setup_trial, trial_shape
    from onestep_gm.numerics.trial import make_trial

    config = onestep_gm.SimulationConfig(data=onestep_gm.MixtureSpec(n=30), k=20, m=25, trials=2,
                                         activations=("tanh",), models=("nn",), seed=7)  # fmt: skip
    resolved = resolve(config)
    setup = setup_trial(config, resolved, 1)
    inside = make_trial(trial_shape(config, resolved, with_layers=True))(setup.key, setup.data, setup.params)
    F_hat, mixture = onestep_gm.trained_layer(config, "tanh", trial=1)
    np.testing.assert_allclose(np.asarray(F_hat), np.asarray(inside.F_hat[0]), rtol=1e-12, atol=1e-14)
    other, _ = onestep_gm.trained_layer(dataclasses.replace(config, seed=8), "tanh", trial=1)
    assert not np.allclose(np.asarray(other), np.asarray(F_hat))


def test_trial_indices_run_the_same_trials_as_a_full_run():
    """``simulate(config, trial_indices=...)`` gives trial t the values of a full run's trial t
    (the theory line alone: the trained layers of the test above, compiled once)."""
    import numpy as np

    config = onestep_gm.SimulationConfig(data=onestep_gm.MixtureSpec(n=30), k=20, m=25, trials=3, theory_trials=3,
                                         activations=("tanh",), models=("theory",), seed=7)  # fmt: skip
    full = onestep_gm.simulate(config)
    part = onestep_gm.simulate(config, trial_indices=[2, 0])
    for metric in ("gen", "train"):
        for pair, values in getattr(part, metric).items():
            np.testing.assert_allclose(values, np.asarray(getattr(full, metric)[pair])[[2, 0]], rtol=1e-12)
    for bad in ([], [0, 0], [3], [-1]):
        with pytest.raises(ValueError, match="trial_indices"):
            onestep_gm.simulate(config, trial_indices=bad)


@pytest.mark.slow
def test_wheel_holds_only_onestep_gm(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("onestep_gm-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"onestep_gm"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "onestep_gm/theory/order.py" in names and "onestep_gm/experiments/cli/main.py" in names
