r"""The order diagram: which Hermite order does the network need, against the theorem's staircase.

On a grid of :math:`\beta` × :math:`l = 2..8` the relative gap
:math:`|\bar E_{NN} - \bar E_{Herm(l)}|/\bar E_{NN}` (means over trials of the per-trial exact
errors, :mod:`onestep_gm.numerics.exact`), with the theorem's staircase
:math:`l(\beta) = \lfloor 1/(1-\beta)\rfloor + 1` drawn over it (Demir & Dogan, ICLR 2025,
Theorem 3.2).  Common random numbers: in each trial every order is fitted on the same
:math:`\hat F`, readout batch and noise draw (:func:`onestep_gm.numerics.trial.make_order_fits`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from onestep_gm.experiments.distributed import run_all, use_compile_cache
from onestep_gm.experiments.figures.protocol import PayloadRun
from onestep_gm.experiments.figures.theorem import (
    ACTIVATIONS,
    ALPHA,
    GRIDS,
    TheoremFigure,
    reusable_points,
    run_time,
)
from onestep_gm.experiments.results import cached_json, join_key, split_key
from onestep_gm.experiments.stats import relative_gap, relative_gap_se
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig
from onestep_gm.theory.order import simulation_order

NAME = "order"
ORDERS = tuple(range(2, 9))


def _beta_grid(count: int) -> tuple[float, ...]:
    """``count`` values evenly in [0.03, 0.97], none on a boundary :math:`(l-1)/l`."""
    grid = np.linspace(0.03, 0.97, count)
    for l in range(2, 400):
        assert np.all(np.abs(grid - (l - 1) / l) > 1e-6), "a beta on a theorem boundary"
    return tuple(float(round(b, 6)) for b in grid)


@dataclasses.dataclass(frozen=True)
class OrderSpec:
    """Sizes of the order diagram."""

    n_values: tuple[int, ...] = (1000, 2000)
    betas: tuple[float, ...] = _beta_grid(24)
    trials: int = 4
    orders: tuple[int, ...] = ORDERS
    activations: tuple[str, ...] = ACTIVATIONS
    alpha: float = ALPHA
    seed: int = 0


ORDER_FULL = OrderSpec()
ORDER_QUICK = OrderSpec(n_values=(120, 240), betas=_beta_grid(8), trials=2)


def order_point(n: int, beta: float, spec: OrderSpec) -> dict:
    r"""Exact errors of the network and the Hermite model at every order, per trial.

    Returns ``{"nn": (A, T), "hermite": (A, L, T), "seconds"}`` (nested lists), in the ½
    convention.  NaN marks a numerically singular ridge solve.  Runs in float64, scoped to the
    call (:func:`jax.enable_x64`): the process's setting is left as it was.
    """
    import jax  # JAX only when a point runs

    with jax.enable_x64(True):
        return _order_point(n, beta, spec)


def _order_point(n: int, beta: float, spec: OrderSpec) -> dict:
    # the engine (JAX) loads when a point runs
    from onestep_gm.numerics.simulation import resolve, serial_lapack, setup_trial, trial_shape
    from onestep_gm.numerics.trial import make_order_fits

    config = SimulationConfig(
        data=MixtureSpec(n=n, beta=beta, alpha=spec.alpha), k=n, m=n,
        activations=spec.activations, models=("nn", "hermite"), order=max(spec.orders),
        trials=spec.trials, seed=spec.seed, test="exact",
    )  # fmt: skip
    resolved = resolve(config)
    fits = make_order_fits(trial_shape(config, resolved), spec.orders)
    A = len(resolved.activations)
    nn = np.full((A, spec.trials), np.nan)
    herm = np.full((A, len(spec.orders), spec.trials), np.nan)
    start = time.perf_counter()
    with serial_lapack():
        for t in range(spec.trials):
            nn[:, t], herm[:, :, t] = _order_trial(setup_trial(config, resolved, t), resolved, fits, spec)
    return {"nn": nn.tolist(), "hermite": herm.tolist(), "seconds": time.perf_counter() - start}


def _order_trial(setup, resolved, fits, spec: OrderSpec) -> tuple[np.ndarray, np.ndarray]:
    """One trial's exact errors: the network's (A,) and the Hermite model's at each order (A, L)."""
    # the engine (JAX) loads when a point runs
    import jax.numpy as jnp
    from onestep_gm.numerics.exact import generalisation_error, hermite_population_moments
    from onestep_gm.numerics.population import component_laws, population_moments
    from onestep_gm.numerics.trial import mixture_of
    from onestep_gm.theory.hermite import hermite_coefficients

    L = max(spec.orders)
    coeffs = [hermite_coefficients(a, f"{setup.b:.15g}", L) for a in resolved.activations]
    h_stars = jnp.asarray([[float(c.h_star_at(l)) for l in spec.orders] for c in coeffs])
    F_hats, w_hats = fits(setup.key, setup.data, setup.params, h_stars)
    mixture = mixture_of(setup.data)
    nn = np.full(len(resolved.activations), np.nan)
    herm = np.full((len(resolved.activations), len(spec.orders)), np.nan)
    for i, act in enumerate(resolved.activations):
        laws = component_laws(F_hats[i], mixture)
        moments = population_moments(F_hats[i], mixture, act, laws=laws)
        nn[i] = float(generalisation_error(w_hats[i, 0], *moments[:3]))
        Om, u, s_y = hermite_population_moments(
            F_hats[i], mixture, setup.params.h[i], h_stars[i], setup.params.b, orders=spec.orders, laws=laws,
        )  # fmt: skip
        herm[i] = np.asarray(generalisation_error(w_hats[i, 1:], Om, u, s_y))
    return nn, herm


def _order_key(n: int, beta: float, spec: OrderSpec) -> str:
    """The cache key of one order-diagram point: n, β and every field of ``spec`` but the grids."""
    fixed = {k: v for k, v in dataclasses.asdict(spec).items() if k not in GRIDS["order"]}
    return f"order {n} {beta!r} {fixed!r}"


def _order_cached(item: tuple[int, float, OrderSpec], cache_dir: str | Path | None) -> dict:
    n, beta, spec = item
    return cached_json(cache_dir, _order_key(n, beta, spec), lambda: order_point(n, beta, spec))


def order_task(item: tuple[int, float, OrderSpec], cache_dir: str | None, compile_cache: str | None) -> dict:
    """One order-diagram point ``(n, β, spec)`` as a Dask task, through the per-point cache
    (see :func:`onestep_gm.experiments.distributed.run_points`)."""
    use_compile_cache(compile_cache)
    return _order_cached(item, cache_dir)


def run_order(spec: OrderSpec, *, cache_dir: str | Path | None = None, progress: bool = False,
              reuse: Mapping | None = None, workers: int | None = None, scheduler: str | None = None) -> dict:
    """Every (n, β) point of the order diagram; JSON-able data.

    Each point is cached under ``cache_dir`` (keyed by n, β and every field of ``spec`` but the
    grids), so an interrupted run resumes; a cached point keeps the seconds it took when run.
    ``reuse``: a saved run's data whose points are taken instead of simulated
    (:func:`~onestep_gm.experiments.figures.theorem.reusable_points`); their keys are listed
    under ``"reused"``.  ``workers`` / ``scheduler``: the points as Dask tasks
    (:mod:`onestep_gm.experiments.distributed`), with the same numbers.
    """
    saved = reusable_points(NAME, spec, reuse)
    points = [(n, b) for n in spec.n_values for b in spec.betas]
    todo = [(n, b, spec) for n, b in points if join_key((n, b)) not in saved]
    start = time.perf_counter()
    run = run_all(todo, lambda item: _order_cached(item, cache_dir), desc=NAME, progress=progress,
                  cache_dir=cache_dir, workers=workers, scheduler=scheduler, task=order_task)  # fmt: skip
    done = {(n, b): value for (n, b, _), value in zip(todo, run, strict=True)}
    results = {join_key(p): saved.get(join_key(p)) or done[p] for p in points}
    seconds_per_n = {str(n): sum(results[join_key((n, b))]["seconds"] for b in spec.betas) for n in spec.n_values}
    return {
        "name": NAME, "spec": dataclasses.asdict(spec), "results": results,
        "seconds": time.perf_counter() - start, "seconds_per_n": seconds_per_n,
        "reused": [key for key in results if key in saved],
        "convention": "gen_error = 1/2*E(y - y_hat)^2, exact population test error",
    }  # fmt: skip


def order_table(data: dict, *, se: bool = False) -> dict:
    """``{(activation, n): gap array (betas, orders)}`` from :func:`run_order`'s data; with
    ``se``, pairs ``(gap, standard error)`` of such arrays."""
    spec = data["spec"]
    out = {}
    for i, act in enumerate(spec["activations"]):
        for n in spec["n_values"]:
            gaps, ses = [], []
            for b in spec["betas"]:
                r = data["results"][join_key((n, b))]
                nn, herm = np.asarray(r["nn"])[i][..., None, :], np.asarray(r["hermite"])[i]
                gaps.append(relative_gap(nn, herm))
                ses.append(relative_gap_se(nn, herm))
            out[(act, n)] = (np.asarray(gaps), np.asarray(ses)) if se else np.asarray(gaps)
    return out


def draw_order(data: dict):
    """Heatmaps of the relative gap (log colour), one per (activation, n), with the staircase."""
    # matplotlib only when drawing
    from matplotlib.colors import LogNorm
    from onestep_gm.experiments.figures.plots import new_figure

    spec = data["spec"]
    table = order_table(data)
    acts, ns = spec["activations"], spec["n_values"]
    betas, orders = np.asarray(spec["betas"]), np.asarray(spec["orders"])
    fig = new_figure(figsize=(3.2 * len(ns), 2.6 * len(acts)))
    axes = fig.subplots(len(acts), len(ns), squeeze=False)
    norm = LogNorm(vmin=1e-4, vmax=1.0)
    edges_b = np.concatenate([[0.0], (betas[1:] + betas[:-1]) / 2, [1.0]])
    edges_l = np.concatenate([orders - 0.5, [orders[-1] + 0.5]])
    fine = np.linspace(0.0, 0.999, 2000)
    for r, act in enumerate(acts):
        for c, n in enumerate(ns):
            ax = axes[r][c]
            gap = np.clip(table[(act, n)].T, 1e-4, 1.0)
            mesh = ax.pcolormesh(edges_b, edges_l, np.ma.masked_invalid(gap), norm=norm, cmap="viridis")
            ax.step(fine, [simulation_order(b) for b in fine], where="post", color="white", lw=1.2,
                    label=r"theorem $l(\beta)$")
            ax.set_ylim(edges_l[0], edges_l[-1])
            ax.set_xlim(0, 1)
            ax.set_title(f"{act}, n = k = m = {n}", fontsize=7)
            ax.set_xlabel(r"strength $\beta$")
            ax.set_ylabel("Hermite order $l$")
            fig.colorbar(mesh, ax=ax, label=r"$|E_{NN}-E_{Herm}|/E_{NN}$")
    axes[0][0].legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def order_report(data: dict) -> str:
    """Markdown: per activation and n, the gap at the theorem's order and the smallest order
    within 1% of the network, per β."""
    spec = data["spec"]
    table = order_table(data, se=True)
    lines = [
        f"# Order diagram (α = {spec['alpha']}, {spec['trials']} trials per point, exact test errors)",
        "",
        run_time(data),
        "",
        "Gap = |mean over trials of E_NN − E_Herm(l)| / mean E_NN, ± the standard error of the "
        "paired difference; — where l is outside the orders run.",
        "",
        "| activation | n | β | l(β) | gap at l(β) | gap at l(β)−1 | smallest l with gap < 1% |",
        "|---|---|---|---|---|---|---|",
    ]
    orders = list(spec["orders"])

    def cell(row, err, l):
        return f"{row[orders.index(l)]:.2%} ± {err[orders.index(l)]:.2%}" if l in orders else "—"

    for (act, n), (gap, se) in table.items():
        for b, row, err in zip(spec["betas"], gap, se, strict=True):
            l = simulation_order(b)
            ok = [o for o, g in zip(orders, row, strict=True) if g < 0.01]
            lines.append(f"| {act} | {n} | {b:.3f} | {l} | {cell(row, err, l)} | {cell(row, err, l - 1)} "
                         f"| {ok[0] if ok else '—'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def order_frame(data: Mapping):
    """Tidy frame of an order run: one row per (n, β) × activation × model × trial; the Hermite
    rows carry their ``order`` (the network's is empty)."""
    import pandas as pd  # pandas only when a frame is asked for

    spec, rows = data["spec"], []
    for key, point in data["results"].items():
        n, beta = (float(v) for v in split_key(key))
        for i, act in enumerate(spec["activations"]):
            base = {"figure": NAME, "n": int(n), "beta": beta, "alpha": spec["alpha"], "activation": act}
            for t, value in enumerate(point["nn"][i]):
                rows.append({**base, "model": "nn", "order": None, "trial": t, "gen_error": value})
            for l, values in zip(spec["orders"], point["hermite"][i], strict=True):
                rows += [{**base, "model": "hermite", "order": l, "trial": t, "gen_error": v}
                         for t, v in enumerate(values)]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["order"] = frame["order"].astype("Int64")
    return frame.assign(seed=spec["seed"], convention=data["convention"])


class OrderFigure(TheoremFigure):
    """The order figure as a :class:`~onestep_gm.experiments.figures.protocol.Figure`."""

    name = NAME
    full = ORDER_FULL
    quick = ORDER_QUICK

    def simulate(self, spec, **options) -> dict:
        return run_order(spec, **options)

    def result(self, data: dict) -> PayloadRun:
        return order_run(data)


def order_run(data: dict) -> PayloadRun:
    """A saved or fresh order diagram's data as a figure run."""
    return PayloadRun(data, order_frame, draw_order, order_report, NAME)

