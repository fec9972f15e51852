r"""Figures that check the theorem itself: the order diagram and convergence in :math:`n`.

The theorem (Demir & Dogan, ICLR 2025, Theorem 3.2) says that for
:math:`(l-2)/(l-1) < \beta < (l-1)/l` the order-:math:`l` Hermite model has the network's
generalisation error as :math:`n\to\infty`.  Two figures test that directly, with exact test
errors (:mod:`onestep_gm.numerics.exact`: no sampling noise in the test error):

* ``order``: the relative gap :math:`|\bar E_{NN} - \bar E_{Herm(l)}|/\bar E_{NN}` (means over trials
  of the per-trial errors) on a grid of :math:`\beta` × :math:`l = 2..8`, with the theorem's
  staircase :math:`l(\beta) = \lfloor 1/(1-\beta)\rfloor + 1` drawn over it.  Common random
  numbers: in each trial every order is fitted on the same :math:`\hat F`, readout batch and
  noise draw (:func:`onestep_gm.numerics.trial.make_order_fits`).
* ``convergence``: the signed relative gaps :math:`(E_{NN} - E_X)/E_{NN}` for the Hermite model
  at :math:`l(\beta)`, the conditional Gaussian model and the deterministic-equivalent theory,
  against :math:`n = k = m`, on log-log axes, with a weighted least-squares slope of
  :math:`\log|\text{gap}|` on :math:`\log n` (weights from the standard errors over trials;
  points whose gap is within two standard errors of 0 are drawn hollow and left out of the fit).

Both write ``<name>.{json,md,png,pdf}``; the JSON holds every per-trial error.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onestep_gm.experiments.distributed import run_all, use_compile_cache
from onestep_gm.experiments.results import cached_json, dumps, simulate_cached, staged
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.simulation import SimulationConfig

NAMES = ("order", "convergence")
ACTIVATIONS = ("relu", "tanh")
ORDERS = tuple(range(2, 9))
ALPHA = 0.5


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


def theorem_order(beta: float) -> int:
    r""":math:`l(\beta) = \lfloor 1/(1-\beta)\rfloor + 1` for :math:`0\le\beta<1`."""
    return math.floor(1.0 / (1.0 - beta)) + 1


# ---------------------------------------------------------------------------------------------
# Order diagram
# ---------------------------------------------------------------------------------------------


def order_point(n: int, beta: float, spec: OrderSpec) -> dict:
    r"""Exact errors of the network and the Hermite model at every order, per trial.

    Returns ``{"nn": (A, T), "hermite": (A, L, T), "seconds"}`` (nested lists), in the ½
    convention.  NaN marks a numerically singular ridge solve.
    """
    # JAX only when used
    import jax.numpy as jnp
    from onestep_gm.numerics.exact import generalisation_error, hermite_population_moments
    from onestep_gm.numerics.population import component_laws, population_moments
    from onestep_gm.numerics.precision import enable_x64
    from onestep_gm.numerics.simulation import resolve, serial_lapack, setup_trial, trial_shape
    from onestep_gm.numerics.trial import make_order_fits, mixture_of
    from onestep_gm.theory.hermite import hermite_coefficients

    enable_x64()  # as simulate does: a fresh process (a Dask worker) starts in 32-bit
    L = max(spec.orders)
    config = SimulationConfig(
        data=MixtureSpec(n=n, beta=beta, alpha=spec.alpha), k=n, m=n,
        activations=spec.activations, models=("nn", "hermite"), order=L, trials=spec.trials,
        seed=spec.seed, test="exact",
    )  # fmt: skip
    resolved = resolve(config)
    fits = make_order_fits(trial_shape(config, resolved), spec.orders)
    A = len(resolved.activations)
    nn = np.full((A, spec.trials), np.nan)
    herm = np.full((A, len(spec.orders), spec.trials), np.nan)
    start = time.perf_counter()
    with serial_lapack():
        for t in range(spec.trials):
            setup = setup_trial(config, resolved, t)
            coeffs = [hermite_coefficients(a, f"{setup.b:.15g}", L) for a in resolved.activations]
            h_stars = jnp.asarray([[float(c.h_star_at(l)) for l in spec.orders] for c in coeffs])
            F_hats, w_hats = fits(setup.key, setup.data, setup.params, h_stars)
            mixture = mixture_of(setup.data)
            for i, act in enumerate(resolved.activations):
                laws = component_laws(F_hats[i], mixture)
                moments = population_moments(F_hats[i], mixture, act, laws=laws)
                nn[i, t] = float(generalisation_error(w_hats[i, 0], *moments[:3]))
                Om, u, s_y = hermite_population_moments(
                    F_hats[i], mixture, setup.params.h[i], h_stars[i], setup.params.b,
                    orders=spec.orders, laws=laws,
                )  # fmt: skip
                herm[i, :, t] = np.asarray(generalisation_error(w_hats[i, 1:], Om, u, s_y))
    return {"nn": nn.tolist(), "hermite": herm.tolist(), "seconds": time.perf_counter() - start}


def order_gap(nn: np.ndarray, herm: np.ndarray) -> np.ndarray:
    r""":math:`|\overline{E_{NN} - E_H}|/\bar E_{NN}` over the last (trial) axis; ``nn`` (..., T),
    ``herm`` (..., L, T)."""
    diff = nn[..., None, :] - herm
    return np.abs(np.mean(diff, axis=-1)) / np.mean(nn, axis=-1)[..., None]


_GRIDS = {"order": ("n_values", "betas"), "convergence": ("n_values", "points")}


def reusable_points(name: str, spec: OrderSpec | ConvergenceSpec, reuse: Mapping | None) -> dict:
    """The points of a saved ``order.json`` / ``convergence.json`` (its data, ``reuse``) that a
    run of ``spec`` may take instead of simulating them: all of them, keyed as in ``results``.

    A saved figure counts only if it was run with the same settings as ``spec`` apart from the
    grids (``n_values`` and ``betas`` or ``points``): the same trials, seed, activations, models,
    orders, α.  The same settings give the same numbers, since every point's draws depend only on
    the seed and the point (up to rounding where the code has changed since the saved run: e.g.
    the exact Hermite errors moved by up to 7e-15 relative when the coefficients were padded to
    :data:`~onestep_gm.numerics.trial.HERMITE_SLOTS`).

    Raises
    ------
    ValueError
        If ``reuse`` is another figure's data or was run with other settings (named).
    """
    if reuse is None:
        return {}
    if reuse.get("name") != name or not isinstance(reuse.get("results"), Mapping):
        raise ValueError(f"the saved figure to reuse holds no {name} figure")
    ours = json.loads(dumps(dataclasses.asdict(spec)))
    theirs = reuse.get("spec")
    if not isinstance(theirs, Mapping):
        raise ValueError(f"the saved {name} figure has no settings (its 'spec')")
    differ = [k for k in ours if k not in _GRIDS[name] and theirs.get(k) != ours[k]]
    if differ:
        field = differ[0]
        raise ValueError(f"the saved {name} figure was run with {field} = {theirs.get(field)!r}, "
                         f"this run with {ours[field]!r}; its points cannot be reused")  # fmt: skip
    needed = {"order": ("nn", "hermite", "seconds"), "convergence": ("gen", "seconds")}[name]
    pairs = [f"{a}|{m}" for a in ours["activations"] for m in ours.get("models", ())]

    def usable(point) -> bool:
        return (isinstance(point, Mapping) and all(k in point for k in needed)
                and isinstance(point["seconds"], (int, float))
                and (name == "order" or (isinstance(point["gen"], Mapping) and all(p in point["gen"] for p in pairs))))  # fmt: skip

    points = dict(reuse["results"])
    bad = [key for key, point in points.items() if not usable(point)]
    if bad:
        raise ValueError(f"the saved {name} figure's point {bad[0]} lacks {', '.join(needed)} "
                         "(numbers, and every activation|model)")  # fmt: skip
    return points


def _order_key(n: int, beta: float, spec: OrderSpec) -> str:
    """The cache key of one order-diagram point: n, β and every field of ``spec`` but the grids."""
    fixed = {k: v for k, v in dataclasses.asdict(spec).items() if k not in _GRIDS["order"]}
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
    (:func:`reusable_points`); their keys are listed under ``"reused"``.  ``workers`` /
    ``scheduler``: the points as Dask tasks (:mod:`onestep_gm.experiments.distributed`), with
    the same numbers.
    """
    saved = reusable_points("order", spec, reuse)
    points = [(n, b) for n in spec.n_values for b in spec.betas]
    todo = [(n, b, spec) for n, b in points if f"{n}|{b}" not in saved]
    start = time.perf_counter()
    run = run_all(todo, lambda item: _order_cached(item, cache_dir), desc="order", progress=progress,
                  cache_dir=cache_dir, workers=workers, scheduler=scheduler, task=order_task)  # fmt: skip
    done = {f"{n}|{b}": value for (n, b, _), value in zip(todo, run, strict=True)}
    results = {f"{n}|{b}": saved.get(f"{n}|{b}") or done[f"{n}|{b}"] for n, b in points}
    seconds_per_n = {str(n): sum(results[f"{n}|{b}"]["seconds"] for b in spec.betas) for n in spec.n_values}
    return {
        "name": "order", "spec": dataclasses.asdict(spec), "results": results,
        "seconds": time.perf_counter() - start, "seconds_per_n": seconds_per_n,
        "reused": [key for key in results if key in saved],
        "convention": "gen_error = 1/2*E(y - y_hat)^2, exact population test error",
    }  # fmt: skip


def order_gap_se(nn: np.ndarray, herm: np.ndarray) -> np.ndarray:
    r"""Standard error of :func:`order_gap` over trials: the paired difference's
    :math:`\mathrm{sd}/\sqrt T` over :math:`\bar E_{NN}` (NaN for one trial)."""
    diff = nn[..., None, :] - herm
    T = diff.shape[-1]
    sd = np.std(diff, axis=-1, ddof=1) if T > 1 else np.full(diff.shape[:-1], np.nan)
    return sd / math.sqrt(T) / np.mean(nn, axis=-1)[..., None]


def order_table(data: dict, *, se: bool = False) -> dict:
    """``{(activation, n): gap array (betas, orders)}`` from :func:`run_order`'s data; with
    ``se``, pairs ``(gap, standard error)`` of such arrays."""
    spec = data["spec"]
    out = {}
    for i, act in enumerate(spec["activations"]):
        for n in spec["n_values"]:
            gaps, ses = [], []
            for b in spec["betas"]:
                r = data["results"][f"{n}|{b}"]
                nn, herm = np.asarray(r["nn"])[i], np.asarray(r["hermite"])[i]
                gaps.append(order_gap(nn, herm))
                ses.append(order_gap_se(nn, herm))
            out[(act, n)] = (np.asarray(gaps), np.asarray(ses)) if se else np.asarray(gaps)
    return out


def draw_order(data: dict):
    """Heatmaps of the relative gap (log colour), one per (activation, n), with the staircase."""
    # matplotlib only when drawing
    from matplotlib.colors import LogNorm
    from onestep_gm.experiments import plots

    plt = plots.plt
    spec = data["spec"]
    table = order_table(data)
    acts, ns = spec["activations"], spec["n_values"]
    betas, orders = np.asarray(spec["betas"]), np.asarray(spec["orders"])
    fig, axes = plt.subplots(len(acts), len(ns), figsize=(3.2 * len(ns), 2.6 * len(acts)), squeeze=False)
    norm = LogNorm(vmin=1e-4, vmax=1.0)
    edges_b = np.concatenate([[0.0], (betas[1:] + betas[:-1]) / 2, [1.0]])
    edges_l = np.concatenate([orders - 0.5, [orders[-1] + 0.5]])
    fine = np.linspace(0.0, 0.999, 2000)
    for r, act in enumerate(acts):
        for c, n in enumerate(ns):
            ax = axes[r][c]
            gap = np.clip(table[(act, n)].T, 1e-4, 1.0)
            mesh = ax.pcolormesh(edges_b, edges_l, np.ma.masked_invalid(gap), norm=norm, cmap="viridis")
            ax.step(fine, [theorem_order(b) for b in fine], where="post", color="white", lw=1.2,
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


def _run_time(data: dict) -> str:
    """This run's wall time and the simulation time per n (cached points keep the time they
    took when run, so a resumed or re-drawn run still reports the cost of its points)."""
    per_n = data.get("seconds_per_n")
    if per_n is None:  # outputs written before the per-n times were recorded
        per_n = {}
        for key, point in data["results"].items():
            n = key.rsplit("|", 1)[-1] if data["name"] == "convergence" else key.split("|", 1)[0]
            per_n[n] = per_n.get(n, 0.0) + point["seconds"]
    reused = data.get("reused") or []
    note = f"  {len(reused)} of {len(data['results'])} points were taken from a saved run (`--reuse`)." if reused else ""
    return (f"Run time {data['seconds']:.0f} s; simulation time per n (cached and reused points keep "
            "the time they took when run): " + ", ".join(f"n = {n}: {s:.0f} s" for n, s in per_n.items()) + "."
            + note)  # fmt: skip


def order_report(data: dict) -> str:
    """Markdown: per activation and n, the gap at the theorem's order and the smallest order
    within 1% of the network, per β."""
    spec = data["spec"]
    table = order_table(data, se=True)
    lines = [
        f"# Order diagram (α = {spec['alpha']}, {spec['trials']} trials per point, exact test errors)",
        "",
        _run_time(data),
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
            l = theorem_order(b)
            ok = [o for o, g in zip(orders, row, strict=True) if g < 0.01]
            lines.append(f"| {act} | {n} | {b:.3f} | {l} | {cell(row, err, l)} | {cell(row, err, l - 1)} "
                         f"| {ok[0] if ok else '—'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Convergence in n
# ---------------------------------------------------------------------------------------------


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
    taken instead of simulated (:func:`reusable_points`), listed under ``"reused"``.
    ``workers`` / ``scheduler``: the points as Dask tasks, with the same numbers.
    """
    saved = reusable_points("convergence", spec, reuse)
    points = [(b, a, n) for n in spec.n_values for b, a in spec.points]  # small n first: resumable
    todo = [(b, a, n) for b, a, n in points if f"{b}|{a}|{n}" not in saved]
    configs = [convergence_config(n, b, a, spec) for b, a, n in todo]
    start = time.perf_counter()
    run = run_all(configs, lambda config: simulate_cached(config, cache_dir=cache_dir), desc="convergence",
                  progress=progress, cache_dir=cache_dir, workers=workers, scheduler=scheduler)  # fmt: skip
    results = dict(saved)
    for (b, a, n), res in zip(todo, run, strict=True):
        results[f"{b}|{a}|{n}"] = {
            "gen": {"|".join(p): v.tolist() for p, v in res.gen.items()},
            "seconds": res.seconds, "order": res.info["order"],
        }  # fmt: skip
    results = {f"{b}|{a}|{n}": results[f"{b}|{a}|{n}"] for b, a, n in points}
    seconds_per_n = {str(n): sum(results[f"{b}|{a}|{n}"]["seconds"] for b, a in spec.points) for n in spec.n_values}
    return {
        "name": "convergence", "spec": dataclasses.asdict(spec), "results": results,
        "seconds": time.perf_counter() - start, "seconds_per_n": seconds_per_n,
        "reused": [key for key in results if key in saved],
        "convention": "gen_error = 1/2*E(y - y_hat)^2; nn and hermite exact, conditional sampled",
    }  # fmt: skip


def _relative_gaps(nn: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The finite per-trial gaps :math:`(E_{NN} - E_X)/E_{NN}` over the trials both ran."""
    t = min(len(nn), len(other))
    d = (nn[:t] - other[:t]) / nn[:t]
    return d[np.isfinite(d)]


def gap_stats(nn: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """Mean and standard error over trials of :math:`(E_{NN} - E_X)/E_{NN}`."""
    d = _relative_gaps(nn, other)
    if d.size == 0:
        return float("nan"), float("nan")
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
    return float(np.mean(d)), se


def rms_stats(nn: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    r"""Root mean square over trials of the per-trial gap :math:`d_t = (E_{NN} - E_X)/E_{NN}`,
    and its standard error.

    The theorem states :math:`E_{NN} - E_X \to 0` for each realisation (in probability), so
    the typical size of one trial's gap, :math:`\sqrt{\overline{d^2}}`, is what must shrink
    with :math:`n`; unlike the mean gap it stays resolved when the gap's sign varies between
    trials.  Standard error by the delta method,
    :math:`\mathrm{SE}(\overline{d^2}) / (2\sqrt{\overline{d^2}})`.
    """
    d2 = _relative_gaps(nn, other) ** 2
    if d2.size < 2:
        return float("nan"), float("nan")
    rms = float(np.sqrt(np.mean(d2)))
    return rms, float(np.std(d2, ddof=1) / np.sqrt(d2.size) / (2 * rms)) if rms > 0 else float("nan")


def fit_slope(ns: Sequence[float], gaps: Sequence[float], ses: Sequence[float]) -> dict:
    r"""Weighted least squares of :math:`\log|g|` on :math:`\log n` over the resolved points.

    A point counts when :math:`|g| > 2\,\mathrm{SE}`; its weight is :math:`(|g|/\mathrm{SE})^2`
    (the delta-method variance of :math:`\log|g|`).  The 95% interval is
    :math:`\pm 1.96` times the slope's standard error with the standard errors taken as known.

    Returns
    -------
    dict
        ``slope``, ``ci`` (half width), ``points`` used; ``slope`` is NaN with fewer than 2.
    """
    ns, g, se = (np.asarray(v, float) for v in (ns, gaps, ses))
    ok = np.isfinite(g) & np.isfinite(se) & (np.abs(g) > 2 * se) & (se > 0)
    if ok.sum() < 2:
        return {"slope": float("nan"), "ci": float("nan"), "points": int(ok.sum())}
    x, y, w = np.log(ns[ok]), np.log(np.abs(g[ok])), (np.abs(g[ok]) / se[ok]) ** 2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * y))
    return {"slope": float(coef[1]), "ci": float(1.96 * math.sqrt(cov[1, 1])), "points": int(ok.sum())}


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
                    gen = data["results"][f"{b}|{a}|{n}"]["gen"]
                    pair = np.asarray(gen[f"{act}|nn"]), np.asarray(gen[f"{act}|{mdl}"])
                    g, se = gap_stats(*pair)
                    r, r_se = rms_stats(*pair)
                    ns.append(n)
                    gs.append(g)
                    ses.append(se)
                    rms.append(r)
                    rms_se.append(r_se)
                rms_fit = {f"rms_{k}": v for k, v in fit_slope(ns, rms, rms_se).items()}
                rows.append({"beta": b, "alpha": a, "order": theorem_order(b), "activation": act,
                             "model": mdl, "n": ns, "gap": gs, "se": ses, **fit_slope(ns, gs, ses),
                             "rms": rms, "rms_se": rms_se, **rms_fit})  # fmt: skip
    return rows


_MODEL_STYLE = {"hermite": ("s", "#0C5DA5"), "conditional": ("^", "#00B945"), "theory": ("o", "#FF2C00")}


def draw_convergence(data: dict):
    """|mean gap| (solid, hollow where within 2 SE of 0) and the RMS per-trial gap (dashed)
    against n, log-log, one panel per (activation, point), slopes in the legend."""
    # the engine (JAX) loads when a theorem figure runs
    from onestep_gm.experiments import plots

    plt = plots.plt
    spec = data["spec"]
    rows = convergence_table(data)
    acts, points = spec["activations"], spec["points"]
    fig, axes = plt.subplots(len(acts), len(points), figsize=(2.8 * len(points), 2.5 * len(acts)),
                             squeeze=False, sharex=True)
    for row in rows:
        r = acts.index(row["activation"])
        c = [tuple(p) for p in points].index((row["beta"], row["alpha"]))
        ax = axes[r][c]
        marker, colour = _MODEL_STYLE.get(row["model"], ("x", "k"))
        ns, g, se = (np.asarray(row[k], float) for k in ("n", "gap", "se"))
        resolved = np.abs(g) > 2 * se
        label = f"{row['model']}" + (f" (slope {row['slope']:.2f}±{row['ci']:.2f})" if np.isfinite(row["slope"]) else "")
        ax.errorbar(ns, np.abs(g), yerr=se, color=colour, ls="-", lw=0.8, marker="none", capsize=1.5)
        ax.plot(ns[resolved], np.abs(g[resolved]), marker, color=colour, ms=3.5, label=label)
        ax.plot(ns[~resolved], np.abs(g[~resolved]), marker, color=colour, ms=3.5, mfc="none")
        rms_label = f"{row['model']} RMS" + (f" (slope {row['rms_slope']:.2f}±{row['rms_ci']:.2f})"
                                             if np.isfinite(row["rms_slope"]) else "")  # fmt: skip
        ax.plot(ns, np.asarray(row["rms"], float), color=colour, ls="--", lw=0.8, marker=marker, ms=2,
                mfc="none", label=rms_label)  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(spec["n_values"], [str(n) for n in spec["n_values"]], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_title(f"{row['activation']}, β = {row['beta']}, α = {row['alpha']} (l = {row['order']})", fontsize=7)
        ax.set_xlabel("n = k = m")
        ax.set_ylabel(r"relative gap $(E_{NN}-E_X)/E_{NN}$", fontsize=6)
    for ax_row in axes:
        for ax in ax_row:
            ax.legend(fontsize=4.5)
    fig.suptitle("solid: |mean gap| over trials (hollow: within 2 SE of 0); dashed: RMS of the "
                 "per-trial gap", fontsize=7)  # fmt: skip
    fig.tight_layout()
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
        _run_time(data) + "  Gap = (E_NN − E_X)/E_NN, mean ± SE over trials; slope of "
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


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def run_theorem_figure(name: str, *, quick: bool = False, trials: int | None = None, seed: int | None = None,
                       n_values: Sequence[int] | None = None, cache_dir: str | Path | None = None,
                       progress: bool = False, reuse: Mapping | None = None, workers: int | None = None,
                       scheduler: str | None = None) -> dict:  # fmt: skip
    """Run ``order`` or ``convergence`` (full or quick sizes; ``trials``, ``seed`` and the sizes
    ``n_values`` of :math:`n = k = m` override).  ``reuse``: a saved run's data whose points
    are taken instead of simulated (:func:`reusable_points`).  ``workers`` / ``scheduler``: the
    points as Dask tasks on a local cluster of that many processes or at that address
    (:mod:`onestep_gm.experiments.distributed`).

    Raises
    ------
    ValueError
        For a name other than those in :data:`NAMES`, a ``reuse`` of other settings, or
        distributed options that cannot be used.
    """
    if name not in NAMES:
        raise ValueError(f"unknown theorem figure {name!r}; choose from {', '.join(NAMES)}")
    overrides = (("trials", trials), ("seed", seed), ("n_values", None if n_values is None else tuple(n_values)))
    changes = {k: v for k, v in overrides if v is not None}
    if name == "order":
        spec = dataclasses.replace(ORDER_QUICK if quick else ORDER_FULL, **changes)
        data = run_order(spec, cache_dir=cache_dir, progress=progress, reuse=reuse, workers=workers,
                         scheduler=scheduler)  # fmt: skip
    else:
        spec = dataclasses.replace(CONVERGENCE_QUICK if quick else CONVERGENCE_FULL, **changes)
        data = run_convergence(spec, cache_dir=cache_dir, progress=progress, reuse=reuse, workers=workers,
                               scheduler=scheduler)  # fmt: skip
    data["quick"] = quick
    return data


def write_theorem_outputs(data: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``<name>.{json,md,png,pdf}`` (all or nothing)."""
    # matplotlib only when drawing
    from onestep_gm.experiments import plots

    name = data["name"]
    final = {ext: Path(out_dir) / f"{name}.{ext}" for ext in ("json", "md", "png", "pdf")}
    draw, report = (draw_order, order_report) if name == "order" else (draw_convergence, convergence_report)
    with staged(final) as tmp:
        tmp["json"].write_text(dumps(data, indent=1) + "\n")
        tmp["md"].write_text(report(data))
        plots.save_pictures(draw(data), {ext: tmp[ext] for ext in ("png", "pdf")})
    return final


def redraw(json_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Redraw a saved ``order.json`` or ``convergence.json`` without simulating."""
    data: dict[str, Any] = json.loads(Path(json_path).read_text())
    return write_theorem_outputs(data, out_dir)
