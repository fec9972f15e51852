r"""Learning curves: the theory line of the ridge readout along ``m``, ``k`` or ``lambda``.

One trained first layer :math:`\hat F` per trial (the network that ``onestep simulate`` trains
with the same seed), then the deterministic equivalent of ridge along ``vary``
(:func:`onestep_gm.numerics.learning.learning_curve`; no readout is simulated).  As a figure
(:class:`CurveFigure`) it has the protocol's data, frame, picture and report; ``onestep curve
--out DIR`` writes ``curve.csv`` (the frame) and ``curve.png``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from onestep_gm.experiments.figures.protocol import PayloadRun, RunOptions, refuse
from onestep_gm.numerics.files import check_targets, staged

NAME = "curve"
QUANTITIES = ("gen_error", "train_error", "kappa", "df1", "sigma_eps2")
"""The columns of a curve: both errors and the deterministic equivalent's internals."""
VARY = ("m", "k", "lambda")
THEORIES = ("conditional", "limit")
"""``conditional``: the deterministic equivalent given sampled trained layers (default);
``limit``: the sampling-free theory, one value per point: the finite-size mixture theory
(:mod:`onestep_gm.numerics.limit_mixture`) on the paper's data, the proportional limit of the
isotropic corner (:mod:`onestep_gm.numerics.limit`) with ``isotropic``."""
LIMIT_VARY = ("m", "lambda")
"""What the isotropic limit curve varies (its width k/n is fixed per compiled curve)."""


@dataclasses.dataclass(frozen=True)
class CurveFigure:
    """A learning curve as a :class:`~onestep_gm.experiments.figures.protocol.Figure`.

    ``vary``: ``m`` (m/k in [0.2, 10]), ``k`` (first k rows of :math:`\\hat F`, k/m in
    [0.1, 2]) or ``lambda`` (in [1e-6, 10]), log-spaced over ``points``; the other fields are
    the point's parameters (defaults: the paper's, with β = 0.74, α = 0.5).  ``isotropic``: one
    component, no spikes and the constant readout (Cui et al. 2024's setting) instead of the
    paper's mixture and Gaussian readout, for either theory.
    """

    vary: str
    activation: str = "relu"
    beta: float = 0.74
    alpha: float = 0.5
    n: int = 1000
    k: int = 1000
    m: int = 1000
    lam: float = 1e-4
    task: str = "regression"
    points: int = 100
    trials: int = 3
    seed: int = 0
    theory: str = "conditional"
    eta: float | None = None
    isotropic: bool = False
    name: str = NAME

    def __post_init__(self) -> None:
        if self.vary not in VARY:
            raise ValueError(f"vary must be one of {', '.join(VARY)} (got {self.vary!r})")
        if self.theory not in THEORIES:
            raise ValueError(f"theory must be one of {', '.join(THEORIES)} (got {self.theory!r})")
        if self.theory == "limit" and self.isotropic and self.vary not in LIMIT_VARY:
            raise ValueError(f"theory 'limit' on isotropic data varies {' or '.join(LIMIT_VARY)} "
                             f"(got vary={self.vary!r})")
        if self.isotropic and self.task == "classification":
            raise ValueError("isotropic data has one component, so no classification task: use --task regression")
        if self.vary == "k" and 2 * self.m > 20000:
            raise ValueError("--vary k uses up to 2m neurons; m must be at most 10000")

    def check(self, options: RunOptions) -> None:
        """Refuse the options of the simulated figures."""
        refuse(options, ("overrides", "sizes", "reuse", "workers", "scheduler", "simulate_fn"),
               "a learning curve does not take these")  # fmt: skip

    def run(self, options: RunOptions | None = None) -> CurveRun:
        """The curve (``options``: only ``trials`` and ``seed`` apply)."""
        options = options or RunOptions()
        self.check(options)
        figure = dataclasses.replace(self, **{k: getattr(options, k) for k in ("trials", "seed")
                                              if getattr(options, k) is not None})  # fmt: skip
        return CurveRun(figure._compute())

    def _config(self, activation: str, models: tuple[str, ...]):
        """The point's :class:`~onestep_gm.SimulationConfig`: the paper's mixture and readout, or
        the isotropic corner with the constant readout."""
        # the engine (JAX) loads when a curve runs
        from onestep_gm.numerics.mixture import MixtureSpec
        from onestep_gm.numerics.simulation import SimulationConfig

        data = {"weights": (1.0,), "spikes": 0} if self.isotropic else {}
        spec = MixtureSpec(n=self.n, beta=self.beta, alpha=self.alpha, task=self.task,
                           mean_norm=1.0 if self.task == "classification" else 0.0, **data)  # fmt: skip
        return SimulationConfig(data=spec, k=self.k, m=self.m, lam=self.lam, activations=(activation,),
                                models=models, seed=self.seed, eta=self.eta,
                                readout_init="constant" if self.isotropic else "gaussian")  # fmt: skip

    def _compute(self) -> dict:
        if self.theory == "limit":
            return self._compute_limit() if self.isotropic else self._compute_mixture()
        # the engine (JAX) loads when a curve runs
        from onestep_gm.numerics.learning import learning_curve
        from onestep_gm.theory.activations import get_activation

        act = get_activation(self.activation)
        config = self._config(act.name, ("nn",))
        curve = learning_curve(config, vary=self.vary, points=self.points, trials=self.trials)
        return {
            "vary": curve.vary, "values": curve.values.tolist(),
            "mean": {key: v.tolist() for key, v in curve.mean.items()},
            "std": {key: v.tolist() for key, v in curve.std.items()},
            "parameters": self._parameters(act.name, len(curve.values)),
            "convention": curve.convention, "notes": curve_notes(curve, self.lam), "seconds": curve.seconds,
            "theory": self.theory,
        }  # fmt: skip

    def _compute_mixture(self) -> dict:
        """The finite-size sampling-free theory along the curve on the paper's mixture
        (:func:`~onestep_gm.numerics.limit_mixture.sampling_free_curve`), no trials."""
        # the engine (JAX) loads when a curve runs
        from onestep_gm.numerics.config import resolve
        from onestep_gm.numerics.limit_mixture import CONVENTION, sampling_free_curve

        config = self._config(self.activation, ("limit",))
        if self.vary == "lambda":  # the penalty is set at every point of the curve
            config = dataclasses.replace(config, lam=1.0)
        resolved = resolve(config)  # refuses what the theory does not cover, with one sentence
        act = resolved.activations[0]
        curve = sampling_free_curve(dataclasses.replace(config, eta=resolved.eta), self.vary, points=self.points,
                                    activation=act)  # fmt: skip
        mean = {"gen_error": curve.gen_error.tolist(), "train_error": curve.train_error.tolist()}
        mean |= {key: curve.info[key].tolist() for key in ("kappa", "df1", "sigma_eps2")}
        std = {key: [0.0] * len(curve.values) for key in mean}  # finite: sampling_free_point refuses otherwise
        parameters = self._parameters(act, len(curve.values)) | {
            "eta": resolved.eta, "trials": 0, "m_step": curve.m_step, "k_step": curve.k_step}  # fmt: skip
        notes = ["sampling-free theory at finite n, k, m (docs/limit-mixtures.md): the paper's mixture and "
                 "Gaussian readout; one deterministic value per point (std 0, no trials)"]
        return {"vary": self.vary, "values": curve.values.tolist(), "mean": mean, "std": std,
                "parameters": parameters, "convention": CONVENTION, "notes": notes, "seconds": curve.seconds,
                "theory": self.theory}  # fmt: skip

    def _compute_limit(self) -> dict:
        """The sampling-free limit along m (alpha = m/n; the step's batch stays ``m``) or lambda:
        the isotropic corner (one component, no spikes) with the constant readout, no trials."""
        # the engine (JAX) loads when a curve runs
        from onestep_gm.numerics.config import resolve
        from onestep_gm.numerics.learning import curve_grid
        from onestep_gm.numerics.limit import CONVENTION, limit_curve, limit_spec

        config = self._config(self.activation, ("limit",))
        resolved = resolve(config)  # refuses what the limit does not cover, with one sentence
        act = resolved.activations[0]
        start = time.perf_counter()
        point = limit_spec(config, act, resolved.eta)
        values = curve_grid(self.vary, self.points, self.k, self.m)
        if self.vary == "m":  # the paper's lambda held: lambda_c = lambda * m along the curve
            alphas, penalties = values / self.n, self.lam * values
        else:
            alphas, penalties = np.full(values.shape, self.m / self.n), values * self.m
        curve = limit_curve(point, alphas, penalties=penalties)
        seconds = time.perf_counter() - start
        empty = [None] * len(values)
        mean = {"gen_error": curve.gen_error.tolist(), "train_error": curve.train_error.tolist(),
                "kappa": empty, "df1": empty, "sigma_eps2": empty}  # fmt: skip
        std = {key: [0.0 if v is not None else None for v in vals] for key, vals in mean.items()}
        bad = ~np.isfinite(curve.gen_error) | ~np.isfinite(curve.train_error)
        if bad.any():
            where = ", ".join(f"{self.vary} = {v:g}" for v in values[bad])
            raise ValueError(f"the limit curve is not finite at {where} (lambda = {self.lam:g})")
        parameters = self._parameters(act, len(values)) | {
            "eta": resolved.eta, "trials": 0, "components": 1, "spikes": 0, "readout_init": "constant",
            "teacher": point.teacher, "m_step": self.m}  # fmt: skip
        notes = ["sampling-free limit (n, k, m -> infinity at the ratios m/n, m_step/n, k/n, eta/k, lambda*m; "
                 "docs/limit-theory.md): isotropic data (one component, no spikes), constant readout at "
                 "initialisation; one deterministic value per point (std 0, no trials); kappa, df1, "
                 "sigma_eps2 belong to the conditional theory (nan here)"]  # fmt: skip
        return {"vary": self.vary, "values": values.tolist(), "mean": mean, "std": std,
                "parameters": parameters, "convention": CONVENTION, "notes": notes, "seconds": seconds,
                "theory": self.theory}  # fmt: skip

    def _parameters(self, activation: str, points: int) -> dict:
        from onestep_gm.theory.order import scalings  # SymPy-free, but theory loads on use

        return {
            "activation": activation, "beta": self.beta, "alpha": self.alpha, "n": self.n, "k": self.k,
            "m": self.m, "lambda": self.lam,
            "eta": self.eta if self.eta is not None else scalings(self.n, self.beta, self.alpha).eta,
            "task": self.task, "trials": self.trials, "seed": self.seed, "points": points,
            "isotropic": self.isotropic, "readout_init": "constant" if self.isotropic else "gaussian",
        }  # fmt: skip


def curve_notes(curve: Any, lam: float) -> list[str]:
    r"""Why a value is missing (``null`` in JSON); raises for a non-finite value with no reason.

    With λ = 0 the deterministic equivalent diverges where the readout samples equal the rank of
    :math:`\Omega` (the interpolation threshold): the generalisation error is infinite there
    (``null``) and the train error is 0, its limit.  Any other non-finite value is an error.
    """
    gen, train = curve.mean["gen_error"], curve.mean["train_error"]
    bad = ~np.isfinite(gen) | ~np.isfinite(train)
    if not bad.any():
        return []
    where = ", ".join(f"{curve.vary} = {v:g}" for v in curve.values[bad])
    at_threshold = lam == 0 and np.all(np.isfinite(train[bad])) and np.all(np.isposinf(gen[bad]))
    if not at_threshold:
        raise ValueError(
            f"the theory curve is not finite at {where} (lambda = {lam:g}); "
            "no finite deterministic equivalent there"
        )
    return [
        f"gen_error is infinite (null) at {where}: with lambda = 0 that is the interpolation "
        "threshold, where the readout samples equal the rank of the feature covariance and "
        "ridgeless regression's test error diverges; train_error there is 0, its limit"
    ]


def curve_frame(data: Mapping):
    """Tidy frame of a curve: one row per point, the varied value first, then mean and std over
    trials of each of :data:`QUANTITIES` (the curve keeps no per-trial values), then the
    parameters."""
    import pandas as pd  # pandas only when a frame is asked for

    columns = {data["vary"]: data["values"]}
    for c in QUANTITIES:
        columns |= {f"{c}_mean": data["mean"][c], f"{c}_std": data["std"][c]}
    frame = pd.DataFrame(columns)
    fixed = {k: v for k, v in data["parameters"].items() if k not in (data["vary"], "points")}
    return frame.assign(model="limit" if data.get("theory") == "limit" else "theory", **fixed)


def draw_curve(data: Mapping):
    """Both errors against the varied value (log-log, a band of ± one std over trials)."""
    from onestep_gm.experiments.figures.plots import new_figure  # matplotlib only when drawing

    fig = new_figure(figsize=(4.5, 3.2))
    ax = fig.subplots()
    xs, p = np.asarray(data["values"]), data["parameters"]
    if data["vary"] != "lambda":
        xs = xs / (p["k"] if data["vary"] == "m" else p["m"])
    for name, style in (("gen_error", "-"), ("train_error", "--")):
        mean, std = np.asarray(data["mean"][name], float), np.asarray(data["std"][name], float)
        shown = np.isfinite(mean) & np.isfinite(std) & (mean > 0)  # log axes: no 0, no inf
        ax.plot(xs[shown], mean[shown], style, label=name.replace("_", " "))
        ax.fill_between(xs[shown], (mean - std)[shown], (mean + std)[shown], alpha=0.25)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel({"m": "m / k", "k": "k / m", "lambda": "λ"}[data["vary"]])
    ax.set_ylabel("error (½ MSE convention)")
    ax.set_title(f"{p['activation']}, β={p['beta']}, α={p['alpha']}, n={p['n']} ({data.get('theory', 'theory')})",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def curve_report(data: Mapping) -> str:
    """The text ``onestep curve`` prints: parameters, a table of the curve, convention, notes."""
    p = data["parameters"]
    title = "limit curve" if data.get("theory") == "limit" else "theory curve"
    data_name = " (isotropic data, constant readout)" if p.get("isotropic") else ""
    lines = [f"{title} along {data['vary']}{data_name}: {p['activation']} beta={p['beta']} alpha={p['alpha']} "
             f"n={p['n']} k={p['k']} m={p['m']} lambda={p['lambda']} trials={p['trials']} "
             f"({data['seconds']:.1f} s)",
             f"{data['vary']:>12}{'gen_error':>14}{'train_error':>14}{'kappa':>12}"]  # fmt: skip
    for i, x in enumerate(data["values"]):
        g, t, kap = (data["mean"][c][i] for c in ("gen_error", "train_error", "kappa"))
        lines.append(f"{x:>12.4g}{_g(g, 14, 6)}{_g(t, 14, 6)}{_g(kap, 12, 4)}")
    lines.append(f"convention: {data['convention']}")
    lines += [f"note: {note}" for note in data["notes"]]
    return "\n".join(lines) + "\n"


def _g(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}g}" if value is not None else f"{'nan':>{width}}"


class CurveRun(PayloadRun):
    """One computed learning curve: a :class:`~onestep_gm.experiments.figures.protocol.FigureResult`
    (``data()`` is the ``onestep curve --json`` object) that saves ``curve.csv`` and ``curve.png``."""

    def __init__(self, payload: dict) -> None:
        super().__init__(payload, curve_frame, draw_curve, curve_report, NAME)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``curve.csv`` (the frame) and ``curve.png`` under ``out_dir``, both or neither."""
        from onestep_gm.experiments.figures.outputs import frame_csv  # pandas only when writing
        from onestep_gm.experiments.figures.plots import (
            save_pictures,  # matplotlib only when drawing
        )

        final = curve_targets(out_dir)
        with staged(final) as tmp:
            tmp["csv"].write_text(frame_csv(self.to_frame()))
            save_pictures(self.draw(), {"png": tmp["png"]})
        return final


def curve_targets(out_dir: str | Path) -> dict[str, Path]:
    """The files :meth:`CurveRun.save` writes; refused at once when ``out_dir`` is a file."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    targets = {"csv": out / "curve.csv", "png": out / "curve.png"}
    check_targets(targets)
    return targets
