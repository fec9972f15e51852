r"""Convergence in :math:`n`: do the equivalent models' errors approach the network's?

The signed relative gaps :math:`(E_{NN} - E_X)/E_{NN}` for the Hermite model at
:math:`l(\beta)`, the conditional Gaussian model and the deterministic-equivalent theory,
against :math:`n = k = m`, on log-log axes, with a weighted least-squares slope of
:math:`\log|\text{gap}|` on :math:`\log n` (weights from the standard errors over trials;
points whose gap is within two standard errors of 0 are drawn hollow and left out of the
fit), and the RMS of the per-trial gap with its own slope (:mod:`onestep_gm.experiments.stats`).
Test errors are exact for the network and the Hermite model (Demir & Dogan, ICLR 2025,
Theorem 3.2).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from onestep_gm.experiments.distributed import run_all
from onestep_gm.experiments.figures.protocol import PayloadRun
from onestep_gm.experiments.figures.theorem import (
    ACTIVATIONS,
    ALPHA,
    TheoremFigure,
    reusable_points,
    run_time,
)
from onestep_gm.experiments.results import (
    decode_pairs,
    encode_pairs,
    join_key,
    simulate_cached,
    split_key,
)
from onestep_gm.experiments.stats import fit_slope, gap_stats, rms_stats
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig
from onestep_gm.theory.order import simulation_order

NAME = "convergence"


@dataclasses.dataclass(frozen=True)
class ConvergenceSpec:
    """Sizes of the convergence figure: the points :math:`(\\beta, \\alpha)` and :math:`n = k = m`."""

    n_values: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    points: tuple[tuple[float, float], ...] = ((0.74, ALPHA), (0.3, ALPHA), (0.6, ALPHA), (0.77, ALPHA))
    trials: int = 8
    activations: tuple[str, ...] = ACTIVATIONS
    models: tuple[str, ...] = ("nn", "hermite", "conditional", "theory")
    test_factor: int = 2
    seed: int = 0


CONVERGENCE_FULL = ConvergenceSpec()
CONVERGENCE_QUICK = ConvergenceSpec(n_values=(100, 200, 400), trials=2)


def convergence_config(n: int, beta: float, alpha: float, spec: ConvergenceSpec) -> SimulationConfig:
    """One point of the convergence figure: :math:`n = k = m`, the theorem's order, exact test."""
    return SimulationConfig(
        data=MixtureSpec(n=n, beta=beta, alpha=alpha), k=n, m=n, activations=spec.activations,
        models=spec.models, trials=spec.trials, theory_trials=spec.trials, seed=spec.seed,
        test="exact", test_factor=spec.test_factor,
    )  # fmt: skip


def run_convergence(spec: ConvergenceSpec, *, cache_dir: str | Path | None = None, progress: bool = False,
                    reuse: Mapping | None = None, workers: int | None = None,
                    scheduler: str | None = None) -> dict:  # fmt: skip
    """Simulate every (point, n); JSON-able data with the per-trial errors.

    Each point is cached under ``cache_dir``; ``reuse``: a saved run's data whose points are
    taken instead of simulated (:func:`~onestep_gm.experiments.figures.theorem.reusable_points`),
    listed under ``"reused"``.  ``workers`` / ``scheduler``: the points as Dask tasks, with the
    same numbers.
    """
    saved = reusable_points(NAME, spec, reuse)
    points = [(b, a, n) for n in spec.n_values for b, a in spec.points]  # small n first: resumable
    todo = [p for p in points if join_key(p) not in saved]
    configs = [convergence_config(n, b, a, spec) for b, a, n in todo]
    start = time.perf_counter()
    run = run_all(configs, lambda config: simulate_cached(config, cache_dir=cache_dir), desc=NAME,
                  progress=progress, cache_dir=cache_dir, workers=workers, scheduler=scheduler)  # fmt: skip
    results = dict(saved)
    for p, res in zip(todo, run, strict=True):
        results[join_key(p)] = {
            "gen": encode_pairs({pair: v.tolist() for pair, v in res.gen.items()}),
            "seconds": res.seconds, "order": res.info["order"],
        }  # fmt: skip
    results = {join_key(p): results[join_key(p)] for p in points}
    seconds_per_n = {str(n): sum(results[join_key((b, a, n))]["seconds"] for b, a in spec.points) for n in spec.n_values}
    return {
        "name": NAME, "spec": dataclasses.asdict(spec), "results": results,
        "seconds": time.perf_counter() - start, "seconds_per_n": seconds_per_n,
        "reused": [key for key in results if key in saved],
        "convention": "gen_error = 1/2*E(y - y_hat)^2; nn and hermite exact, conditional sampled",
    }  # fmt: skip


def convergence_table(data: dict) -> list[dict]:
    """One row per (point, activation, model): n, gap means and SEs with the fitted slope, and
    the RMS per-trial gaps (:func:`rms_stats`) with theirs (``rms_slope``, ``rms_ci``)."""
    spec = data["spec"]
    rows = []
    for b, a in spec["points"]:
        for act in spec["activations"]:
            for mdl in [m for m in spec["models"] if m != "nn"]:
                ns, gs, ses, rms, rms_se = [], [], [], [], []
                for n in spec["n_values"]:
                    gen = data["results"][join_key((b, a, n))]["gen"]
                    pair = np.asarray(gen[join_key((act, "nn"))]), np.asarray(gen[join_key((act, mdl))])
                    g, se = gap_stats(*pair)
                    r, r_se = rms_stats(*pair)
                    ns.append(n)
                    gs.append(g)
                    ses.append(se)
                    rms.append(r)
                    rms_se.append(r_se)
                rms_fit = {f"rms_{k}": v for k, v in fit_slope(ns, rms, rms_se)._asdict().items()}
                rows.append({"beta": b, "alpha": a, "order": simulation_order(b), "activation": act,
                             "model": mdl, "n": ns, "gap": gs, "se": ses, **fit_slope(ns, gs, ses)._asdict(),
                             "rms": rms, "rms_se": rms_se, **rms_fit})  # fmt: skip
    return rows


_MODEL_STYLE = {"hermite": ("s", "#0C5DA5"), "conditional": ("^", "#00B945"), "theory": ("o", "#FF2C00")}
_PANEL = (4.6, 2.6)
"""Inches of one panel: two panels side by side make the picture about 2100 px wide at the
figures' resolution, so the docs draw it at their full column width."""


def draw_convergence(data: dict):
    """|mean gap| (solid, hollow where within 2 SE of 0) and the RMS per-trial gap (dashed)
    against n, log-log: one row per point :math:`(\\beta, \\alpha)`, one column per activation,
    and one legend for all panels above them (the slopes are in the report's tables)."""
    # matplotlib only when drawing
    import matplotlib
    import matplotlib.style
    from matplotlib.lines import Line2D
    from onestep_gm.experiments.figures.plots import FONT, STYLE, new_figure

    spec = data["spec"]
    rows = convergence_table(data)
    acts, points = spec["activations"], [tuple(p) for p in spec["points"]]
    models = [m for m in spec["models"] if m != "nn"]
    with matplotlib.style.context(STYLE), matplotlib.rc_context(FONT):
        fig = new_figure(figsize=(_PANEL[0] * len(acts), _PANEL[1] * len(points) + 0.9), layout="constrained")
        axes = fig.subplots(len(points), len(acts), squeeze=False, sharex=True)
        for row in rows:
            ax = axes[points.index((row["beta"], row["alpha"]))][acts.index(row["activation"])]
            marker, colour = _MODEL_STYLE.get(row["model"], ("x", "k"))
            ns, g, se = (np.asarray(row[k], float) for k in ("n", "gap", "se"))
            resolved = np.abs(g) > 2 * se
            ax.errorbar(ns, np.abs(g), yerr=se, color=colour, ls="-", lw=1.0, marker="none", capsize=2)
            ax.plot(ns[resolved], np.abs(g[resolved]), marker, color=colour, ms=5)
            ax.plot(ns[~resolved], np.abs(g[~resolved]), marker, color=colour, ms=5, mfc="none")
            ax.plot(ns, np.asarray(row["rms"], float), color=colour, ls="--", lw=1.0, marker=marker,
                    ms=3, mfc="none")  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(spec["n_values"], [str(n) for n in spec["n_values"]], minor=False)
            ax.set_xticks([], minor=True)
            ax.set_title(f"{row['activation']}, β = {row['beta']}, α = {row['alpha']} (l = {row['order']})")
        for ax in axes[-1]:
            ax.set_xlabel("n = k = m")
        for ax_row in axes:
            ax_row[0].set_ylabel(r"$|E_{NN}-E_X|\,/\,E_{NN}$")
        grey = "#333333"
        handles = [Line2D([], [], color=_MODEL_STYLE.get(m, ("x", "k"))[1], marker=_MODEL_STYLE.get(m, ("x", "k"))[0],
                          ls="-", lw=1.0, ms=5) for m in models]  # fmt: skip
        labels = [{"hermite": "Hermite model", "conditional": "conditional Gaussian"}.get(m, m) for m in models]
        handles += [Line2D([], [], color=grey, ls="-", lw=1.0, marker="o", ms=5),
                    Line2D([], [], color=grey, ls="none", marker="o", ms=5, mfc="none"),
                    Line2D([], [], color=grey, ls="--", lw=1.0)]  # fmt: skip
        labels += ["|mean gap| over trials", "within 2 s.e. of 0", "RMS of the per-trial gap"]
        fig.legend(handles, labels, loc="outside upper center", ncol=3, frameon=False)
    return fig


def convergence_report(data: dict) -> str:
    """Markdown tables of the signed gaps (mean ± SE over trials) and of the RMS per-trial gaps,
    each with its slopes."""
    spec = data["spec"]
    ns = spec["n_values"]
    lines = [
        f"# Convergence in n (k = m = n, {spec['trials']} trials per point, exact test errors; "
        f"conditional sampled on {spec['test_factor']}m fresh samples)",
        "",
        run_time(data) + "  Gap = (E_NN − E_X)/E_NN, mean ± SE over trials; slope of "
        "log|gap| on log n with a 95% interval (points within 2 SE of 0 left out).",
        "",
        "| β, α (l) | activation | model | " + " | ".join(f"n = {n}" for n in ns) + " | slope |",
        "|---|---|---|" + "---|" * len(ns) + "---|",
    ]
    rows = convergence_table(data)

    def slope(row, prefix=""):
        value = row[f"{prefix}slope"]
        return f"{value:.2f} ± {row[f'{prefix}ci']:.2f} ({row[f'{prefix}points']} pts)" if np.isfinite(value) else "—"

    def label(row):
        return f"| {row['beta']}, {row['alpha']} ({row['order']}) | {row['activation']} | {row['model']} |"

    for row in rows:
        cells = " | ".join(f"{g:+.2%} ± {s:.2%}" for g, s in zip(row["gap"], row["se"], strict=True))
        lines.append(f"{label(row)} {cells} | {slope(row)} |")
    lines += [
        "",
        "## Size of one trial's gap",
        "",
        "RMS over trials of the per-trial gap (E_NN − E_X)/E_NN, ± its standard error (delta "
        "method), and the slope of log RMS on log n with a 95% interval: how fast one "
        "realisation's gap shrinks, which the mean gap cannot show once its sign varies between "
        "trials.",
        "",
        "| β, α (l) | activation | model | " + " | ".join(f"n = {n}" for n in ns) + " | slope |",
        "|---|---|---|" + "---|" * len(ns) + "---|",
    ]
    for row in rows:
        cells = " | ".join(f"{r:.2%} ± {s:.2%}" for r, s in zip(row["rms"], row["rms_se"], strict=True))
        lines.append(f"{label(row)} {cells} | {slope(row, 'rms_')} |")
    return "\n".join(lines) + "\n"


def convergence_frame(data: Mapping):
    """Tidy frame of a convergence run: one row per (β, α, n) × activation × model × trial."""
    import pandas as pd  # pandas only when a frame is asked for

    spec, rows = data["spec"], []
    for key, point in data["results"].items():
        beta, alpha, n = (float(v) for v in split_key(key, 3))
        for (act, model), values in decode_pairs(point["gen"]).items():
            rows += [{"figure": NAME, "beta": beta, "alpha": alpha, "n": int(n), "k": int(n), "m": int(n),
                      "order": point.get("order"), "activation": act, "model": model, "trial": t,
                      "gen_error": v} for t, v in enumerate(values)]  # fmt: skip
    frame = pd.DataFrame(rows)
    return frame.assign(seed=spec["seed"], test_factor=spec["test_factor"], convention=data["convention"])


class ConvergenceFigure(TheoremFigure):
    """The convergence figure as a :class:`~onestep_gm.experiments.figures.protocol.Figure`."""

    name = NAME
    full = CONVERGENCE_FULL
    quick = CONVERGENCE_QUICK

    def simulate(self, spec, **options) -> dict:
        return run_convergence(spec, **options)

    def result(self, data: dict) -> PayloadRun:
        return convergence_run(data)


def convergence_run(data: dict) -> PayloadRun:
    """A saved or fresh convergence study's data as a figure run."""
    return PayloadRun(data, convergence_frame, draw_convergence, convergence_report, NAME)
