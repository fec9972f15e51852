"""Theory-only figures (issue 26: a "theory only" mode): a figure or sweep whose models are
predictors only (theory, limit) runs without the network and reports values, not gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onestep_gm.experiments.figures.catalogue import Overrides
from onestep_gm.experiments.figures.grid import check_points
from onestep_gm.experiments.figures.runner import run_figure
from onestep_gm.experiments.figures.sweepspec import load_sweep
from onestep_gm.numerics.limit import IsotropicLimit, limit_point
from onestep_gm.numerics.models import theory_only
from onestep_gm.numerics.precision import x64
from onestep_gm.numerics.result import SimulationResult

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "limit-isotropic.toml"


def test_predictors_alone_make_a_theory_only_figure():
    assert theory_only(("theory",)) and theory_only(("limit", "theory"))
    assert not theory_only(()) and not theory_only(("nn", "theory")) and not theory_only(("hermite",))
    assert Overrides(models=("theory",)).models == ("theory",)
    with pytest.raises(ValueError, match="must include nn"):
        Overrides(models=("hermite", "theory"))


def _fake(config, *, progress=False, cache_dir=None):
    """theory: 3 draws around 0.1 + m/1e5 with spread 0.01 (one value where trials = 1)."""
    values = 0.1 + config.m / 1e5 + 0.01 * np.arange(config.trials)
    gen = {(a, m): values for a in config.activations for m in config.models}
    return SimulationResult(config=config, train=gen, gen=gen, seconds=0.0, info={"n": config.data.n})


def test_theory_only_report_gives_values_not_gaps(tmp_path):
    text = EXAMPLE.read_text().replace('models = ["limit"]', 'models = ["theory"]').replace("trials = 1", "trials = 3")
    spec = tmp_path / "theory-only.toml"
    spec.write_text(text)
    run = run_figure(spec, quick=True, simulate_fn=_fake)
    report = run.report()
    assert "Theory only: no network was simulated" in report and "z =" not in report
    row = next(line for line in report.splitlines() if line.startswith("| 400 |"))
    assert "0.114 ± 0.0058" in row  # mean 0.1 + 0.004 + 0.01, s.e. 0.01/sqrt(3)
    assert "Markers" not in report.split("**Verdict.**")[0]
    data = run.data()
    assert {k.split("|")[1] for p in data["points"] for k in p["gen"]} == {"theory"}


def test_limit_sweep_example_resolves_at_every_point():
    spec = load_sweep(EXAMPLE)
    check_points(spec)  # the limit's own check accepts every point (isotropic, constant readout)
    assert spec.base.models == ("limit",)


@pytest.mark.slow
def test_limit_sweep_example_values_are_the_limits():
    """The example's values are limit_point's at each point's ratios (compiles the limit for
    tanh and relu; the limit model's values inside simulate are checked by test_limit_model)."""
    run = run_figure(EXAMPLE)
    report = run.report()
    for point in run.data()["points"]:
        m = point["coords"]["m"]
        with x64():
            limit = IsotropicLimit.from_sizes(n=1000, k=1000, m=int(m), m_step=500, lam=1e-5, eta=1000.0,
                                              activation="tanh", teacher="tanh", readout_init="constant")
            expected = limit_point(limit).gen_error
        assert point["gen"]["tanh|limit"] == [pytest.approx(expected, rel=1e-10)]
        row = next(line for line in report.splitlines() if line.startswith(f"| {m:.4g} |"))
        assert " ± " not in row  # one value per point: no s.e.


def test_theory_only_paper_figure_on_the_results_page(tmp_path):
    """A paper figure run theory-only: no comparison with the published (network) markers, and
    the summary says so."""
    from onestep_gm.experiments.figures.results_page import gather

    run = run_figure("fig1b", quick=True, simulate_fn=_fake, overrides=Overrides(models=("theory",)))
    run.save(tmp_path)
    page = gather(tmp_path, tmp_path / "docs" / "results.md").read_text()
    assert "| fig1b | quick | theory only |" in page and "Beside Figure" not in page
