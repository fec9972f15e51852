r"""The figure catalogue: every figure of the paper as one declarative spec.

A :class:`FigureSpec` is a base :class:`~onestep_gm.SimulationConfig`, the field it varies
and the grid of values (Demir & Dogan, ICLR 2025, Figs 1–8; grids of the paper's code, listed
in the docs' results page).  :mod:`onestep_gm.experiments.figures.runner` simulates the points of a
spec and :mod:`onestep_gm.experiments.figures.outputs` writes them.

Quick mode keeps a few grid points, :math:`n \approx 300`, smaller :math:`m` (and
:math:`k` at the same ratio :math:`k/m`) and 3–5 trials: each figure runs in well under a
minute on two cores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onestep_gm.experiments.figures.control import Control, SignalScale
from onestep_gm.numerics.fashion import FashionSpec
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.models import theory_only
from onestep_gm.numerics.simulation import MODELS, SimulationConfig

Coords = dict[str, float]
SimulateFn = Callable[..., Any]

VARIABLES = ("k_over_m", "alpha", "beta", "alignment", "rho", "spikes", "log_eta",
             "lam", "eta", "k", "m", "n", "theta", "noise", "mean_norm")
METRICS = ("gen", "train", "gap")
KINDS = ("line", "heatmap")
MAX_COMPONENTS = 1000
"""Mixture components a figure may have: each needs its own spike direction, and n <= 1000."""

ORDER_AT_BETA_ONE = 6
r"""Hermite order used where :math:`\beta \ge 1`: the theorem gives no finite order there."""

GEN_LABEL = "Generalization error"
TRAIN_LABEL = "Training error"
K_OVER_M = (0.1, 0.3, 0.4, 0.5, 0.7, 0.9, 1.0, 1.1, 1.5, 2.0, 3.0, 4.0, 5.0)
"""The k/m grid of Figs 1(a) and 6 in the paper's code."""
K_OVER_M_FASHION = (0.01,) + K_OVER_M
"""The k/m grid of Figs 3, 7(a) and 8 in the paper's code (one more point, k/m = 0.01)."""
K_OVER_M_QUICK = (0.3, 1.0, 2.0, 4.0)
BETA_LABEL = r"strength $\beta$"
WITH_THEORY = ("nn", "hermite", "theory")
"""Models of every figure: simulations as markers, the deterministic-equivalent theory as a
line (Fashion-MNIST: the theory of the Gaussian mixture with each class's empirical mean and
covariance)."""

ALIASES: dict[str, str] = {"fig2-ratio": "fig2a", "fig2-alignment": "fig2b"}
"""Descriptive names accepted by :func:`get_figure` besides the published ones."""
SWAP_NOTE = (
    "fig2a and fig2b now follow the published paper: fig2a is the mixture ratio "
    "(classification), fig2b the alignment (regression); up to 0.1 they followed the "
    "authors' notebook files and were swapped. Use fig2-ratio / fig2-alignment to be explicit"
)
"""Printed on stderr when ``fig2a`` or ``fig2b`` is asked for by name (for one release)."""


@dataclass(frozen=True)
class Quick:
    """Sizes of the quick version of a figure (``n`` only applies to Gaussian mixtures)."""

    n: int | None = 300
    m: int = 300
    trials: int = 3


@dataclass(frozen=True)
class FigureSpec:
    """One paper figure: a base config, the varied field(s), the grids and how to draw it.

    ``vary`` is one of :data:`VARIABLES`; heatmaps also vary ``vary_y`` over ``grid_y``
    (rows).  ``metric`` is the plotted error: ``"gen"``, ``"train"`` or ``"gap"``
    (relative gap :math:`|E_{NN} - E_{Herm}|/E_{NN}` of the generalisation errors).
    ``control``: a :class:`~onestep_gm.experiments.figures.control.Control` for the theory
    line, where the setting is drawn anew per trial (``None``: plain means).
    """

    name: str
    title: str
    xlabel: str
    ylabel: str
    vary: str
    grid: tuple[float, ...]
    quick_grid: tuple[float, ...]
    base: SimulationConfig
    kind: str = "line"
    metric: str = "gen"
    vary_y: str | None = None
    grid_y: tuple[float, ...] = ()
    quick_grid_y: tuple[float, ...] = ()
    quick: Quick = field(default_factory=Quick)
    notes: tuple[str, ...] = ()
    yscale: str = "linear"
    control: Control | None = None

    @property
    def trials(self) -> int:
        return self.base.trials


@dataclass(frozen=True)
class Overrides:
    """Options of ``onestep figure`` that change every point of a figure (``None``: keep)."""

    activations: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    components: int | None = None
    order: int | None = None
    trials: int | None = None
    seed: int | None = None
    data_dir: str | None = None
    test: str | None = None
    protocol: str | None = None

    def __post_init__(self) -> None:
        """Refuse unusable options before any point runs (one sentence, ``ValueError``)."""
        from onestep_gm.theory.activations import get_activation  # SymPy: only with activations

        for spec in self.activations or ():
            get_activation(spec)
        if self.models is not None:
            object.__setattr__(self, "models", tuple(dict.fromkeys(self.models)))
            unknown = [m for m in self.models if m not in MODELS]
            if unknown:
                raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
            if "nn" not in self.models and not theory_only(self.models):
                raise ValueError("--models must include nn (the figures compare against the network), or hold "
                                 "only theory and limit (a theory-only figure)")
        if self.components is not None and self.components > MAX_COMPONENTS:  # before C weights are built
            raise ValueError(
                f"--components {self.components} is too many: each component needs its own spike "
                f"direction, and the figures use n <= {MAX_COMPONENTS}"
            )


def mixture_weights(components: int, *, rho: float | None = None, spikes: int = 1,
                    n: int | None = None) -> tuple[float, ...]:
    """Weights of ``components`` mixture components: ``(rho, 1 - rho)`` or ``1/C`` each.

    The size is checked before the ``C`` weights are built (``C`` may be huge): with ``n``, the
    ``C × spikes`` orthogonal spike directions must fit in it.

    Raises
    ------
    ValueError
        When the spikes need more directions than ``n``, or ``rho`` is given for ``C != 2``.

    Examples
    --------
    >>> mixture_weights(4)
    (0.25, 0.25, 0.25, 0.25)
    >>> mixture_weights(2, rho=0.3)
    (0.3, 0.7)
    """
    directions = components * spikes
    if n is not None and directions > n:
        raise ValueError(
            f"--components {components} with --spikes {spikes} needs {directions} "
            f"orthogonal spike directions, more than --n {n}"
        )
    if rho is not None:
        if components != 2:
            raise ValueError("--rho needs --components 2")
        return (rho, 1.0 - rho)
    return (1.0 / components,) * components


def _linspace(lo: float, hi: float, num: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(lo, hi, num))


def _mixture(**kw: Any) -> MixtureSpec:
    return MixtureSpec(**kw)


def _fashion(classes: tuple[int, int], **kw: Any) -> FashionSpec:
    return FashionSpec(classes=classes, **kw)


def _fashion_config(classes: tuple[int, int], **kw: Any) -> SimulationConfig:
    """Figs 3, 7, 8: n = 784, β = 1, α = 0, m = k = 500, the order fixed (no finite order at β=1)."""
    keep_means = kw.pop("keep_means", False)
    return SimulationConfig(
        data=_fashion(classes, keep_means=keep_means), k=500, m=500, order=kw.pop("order", 5),
        models=WITH_THEORY, **kw,
    )  # fmt: skip


_FASHION_QUICK = Quick(n=None, m=200, trials=3)
_FASHION_NOTE = (
    "Fashion-MNIST: real images (not the paper's GAN samples), n = 784, beta = 1, alpha = 0, "
    "m = 500; beta = 1 has no finite Hermite order, so the order is fixed; beta = 1 is "
    "outside the theorem. Theory line: the deterministic equivalent for the Gaussian mixture "
    "with each class's empirical mean and covariance (784 spikes per class), tested on Gaussian "
    "samples, while the network is tested on real images"
)
_BETA_ONE_NOTE = (
    f"beta = 1 has no finite Hermite order: the Hermite model uses order {ORDER_AT_BETA_ONE} "
    "there; at a boundary beta = (l-1)/l the engine uses the higher neighbour"
)

_BETA_GRID = _linspace(0.0, 1.0, 10)
_BETA_QUICK = (_BETA_GRID[0], _BETA_GRID[4], _BETA_GRID[7], _BETA_GRID[9])


def _beta_sweep(name: str, alpha: float, title: str) -> FigureSpec:
    return FigureSpec(
        name=name, title=title, xlabel=BETA_LABEL, ylabel=GEN_LABEL, vary="beta",
        grid=_BETA_GRID, quick_grid=_BETA_QUICK,
        base=SimulationConfig(data=_mixture(alpha=alpha), models=WITH_THEORY), notes=(_BETA_ONE_NOTE,),
    )  # fmt: skip


def _k_over_m_fashion(name: str, classes: tuple[int, int], title: str, **kw: Any) -> FigureSpec:
    metric = kw.pop("metric", "gen")
    notes = (_FASHION_NOTE,) + kw.pop("notes", ())
    return FigureSpec(
        name=name, title=title, xlabel=r"$k/m$", ylabel=TRAIN_LABEL if metric == "train" else GEN_LABEL,
        vary="k_over_m", grid=K_OVER_M_FASHION, quick_grid=K_OVER_M_QUICK, metric=metric,
        base=_fashion_config(classes, **kw), quick=_FASHION_QUICK, notes=notes,
    )  # fmt: skip


_RHO_GRID = _linspace(0.0, 1.0, 10)
_HEAT_ALPHA = _linspace(0.0, 1.0, 30)
_HEAT_BETA = _linspace(0.0, 1.0, 30)
_HEAT_QUICK = tuple(_HEAT_ALPHA[i] for i in (0, 7, 14, 22, 29))
_HEAT_BASE = SimulationConfig(
    data=_mixture(n=400, teacher_direction="spikes"), k=500, m=500, activations=("relu",), order=2,
    models=WITH_THEORY,
)
_HEAT_NOTE = (
    "teacher xi along gamma_11 + gamma_21, ReLU; the Hermite model is the linear one "
    "(order l = 2) at every point, so the gap measures how far the network is from linear"
)

FIGURES: dict[str, FigureSpec] = {
    s.name: s
    for s in [
        FigureSpec(
            name="fig1a", title=r"Impact of $k/m$ ($\beta = 3/4^-$, $\alpha = 1/2$)",
            xlabel=r"$k/m$", ylabel=GEN_LABEL, vary="k_over_m", grid=K_OVER_M,
            quick_grid=K_OVER_M_QUICK,
            base=SimulationConfig(data=_mixture(beta=0.74, alpha=0.5), models=WITH_THEORY),
        ),
        FigureSpec(
            name="fig1b", title=r"Impact of $\alpha$ ($\beta = 3/4^-$, $k/m = 1$)",
            xlabel=r"weight $\alpha$", ylabel=GEN_LABEL, vary="alpha", grid=_linspace(0, 1, 20),
            quick_grid=_linspace(0, 1, 20)[::4] + (1.0,),
            base=SimulationConfig(data=_mixture(), models=WITH_THEORY),
        ),
        _beta_sweep("fig1c", 0.5, r"Impact of $\beta$ ($\alpha = 1/2$, $k/m = 1$)"),
        FigureSpec(
            name="fig2a", title=r"Impact of mixture ratio (classification)",
            xlabel=r"mixture ratio $\rho_1$", ylabel=GEN_LABEL, vary="rho", grid=_RHO_GRID,
            quick_grid=_RHO_GRID[::3], base=SimulationConfig(data=_mixture(task="classification"), models=WITH_THEORY),
            notes=("rho = 0 and rho = 1 leave one class only (every label -1 or +1)",),
        ),
        FigureSpec(
            name="fig2b", title=r"Impact of mixture alignment (regression)",
            xlabel=r"alignment $\gamma_{1,1}^\top\gamma_{2,1}$", ylabel=GEN_LABEL, vary="alignment",
            grid=_linspace(-1, 1, 20), quick_grid=_linspace(-1, 1, 20)[::4] + (1.0,),
            base=SimulationConfig(data=_mixture(), models=WITH_THEORY),
        ),
        FigureSpec(
            name="fig2c", title=r"Impact of covariance rank (regression)",
            xlabel=r"number of spikes $d$", ylabel=GEN_LABEL, vary="spikes",
            grid=tuple(float(d) for d in range(1, 11)), quick_grid=(1.0, 5.0, 10.0),
            # The spike sizes are drawn per trial: a plain mean over the theory's few draws
            # zig-zags; 1/||Sigma_bar|| as a control variate takes most of that spread out.
            base=SimulationConfig(data=_mixture(spike_sizes="uniform"), trials=100, theory_trials=12,
                                  models=WITH_THEORY),
            quick=Quick(trials=4), control=SignalScale(),
            notes=("spike sizes theta_{c,i} = theta * U(0,1)",),
        ),
        _k_over_m_fashion("fig3a", (0, 1), "Fashion-MNIST: T-shirt/top vs. Trouser"),
        _k_over_m_fashion("fig3b", (5, 9), "Fashion-MNIST: Sandal vs. Ankle boot"),
        FigureSpec(
            name="fig4a", title=r"ReLU network generalization error over $(\alpha, \beta)$",
            xlabel=r"weight $\alpha$", ylabel=BETA_LABEL, vary="alpha", grid=_HEAT_ALPHA,
            quick_grid=_HEAT_QUICK, vary_y="beta", grid_y=_HEAT_BETA, quick_grid_y=_HEAT_QUICK,
            base=_HEAT_BASE, kind="heatmap", metric="gen", quick=Quick(n=160, m=200, trials=2),
            notes=(_HEAT_NOTE,),
        ),
        FigureSpec(
            name="fig4b",
            title=r"Relative gap $|E_{\mathrm{NN}} - E_{\mathrm{lin}}|/E_{\mathrm{NN}}$",
            xlabel=r"weight $\alpha$", ylabel=BETA_LABEL, vary="alpha", grid=_HEAT_ALPHA,
            quick_grid=_HEAT_QUICK, vary_y="beta", grid_y=_HEAT_BETA, quick_grid_y=_HEAT_QUICK,
            base=_HEAT_BASE, kind="heatmap", metric="gap", quick=Quick(n=160, m=200, trials=2),
            notes=(_HEAT_NOTE,),
        ),
        _beta_sweep("fig5a", 0.0, r"Impact of $\beta$ ($\alpha = 0$, $k/m = 1$)"),
        _beta_sweep("fig5b", 0.5, r"Impact of $\beta$ ($\alpha = 1/2$, $k/m = 1$)"),
        _beta_sweep("fig5c", 1.0, r"Impact of $\beta$ ($\alpha = 1$, $k/m = 1$)"),
        FigureSpec(
            name="fig6", title=r"Training error vs. $k/m$ ($\beta = 3/4^-$, $\alpha = 1/2$)",
            xlabel=r"$k/m$", ylabel=TRAIN_LABEL, vary="k_over_m", grid=K_OVER_M,
            quick_grid=K_OVER_M_QUICK, metric="train",
            base=SimulationConfig(data=_mixture(beta=0.74, alpha=0.5), models=WITH_THEORY),
        ),
        _k_over_m_fashion(
            "fig7a", (0, 1), "Fashion-MNIST 0 vs. 1: training error", metric="train"
        ),
        FigureSpec(
            name="fig7b", title=r"Fashion-MNIST 0 vs. 1: impact of the learning rate",
            xlabel=r"$\log \eta / \log n$", ylabel=GEN_LABEL, vary="log_eta",
            grid=_linspace(0, 1, 10), quick_grid=_linspace(0, 1, 10)[::3],
            base=_fashion_config((0, 1), order=7), quick=_FASHION_QUICK, yscale="log",
            notes=(_FASHION_NOTE, "eta = n**x with the data spread fixed; order 7 (degree 6)"),
        ),
        _k_over_m_fashion(
            "fig8a", (0, 1), "Fashion-MNIST 0 vs. 1 with class means", keep_means=True,
            lam=1e-5, trials=50, notes=("class means kept (only the common mean removed)",),
        ),
        _k_over_m_fashion(
            "fig8b", (5, 9), "Fashion-MNIST 5 vs. 9 with class means", keep_means=True,
            lam=1e-5, trials=50, notes=("class means kept (only the common mean removed)",),
        ),
    ]
}  # fmt: skip


def get_figure(name: str) -> FigureSpec:
    """The spec called ``name`` (or one of :data:`ALIASES`); a ``ValueError`` listing the valid
    names otherwise."""
    name = ALIASES.get(name, name)
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)} or all")
    return FIGURES[name]
