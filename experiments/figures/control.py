r"""Control variates: a theory line's mean over few draws of a random setting, made precise.

Where a figure draws its setting anew per trial (Fig. 2(c): the spike sizes
:math:`\theta_{c,i}=\theta U_{c,i}`, :math:`U\sim U(0,1)`), the error moves a lot from draw to
draw, and the theory line, which runs on far fewer draws than the network's markers, carries
that spread: over 12 draws it zig-zags by more than the markers' error bars.  A scalar
:math:`g` of the drawn setting that is cheap to compute, and whose mean :math:`\mu_g` is known
from many further draws of the setting alone (no network, no theory), removes most of it: the
line is the regression estimate :math:`\bar y - b(\bar g - \mu_g)` of the same expectation
(:func:`~onestep_gm.experiments.stats.control_variate_mean`).  The network's markers stay plain
means over their trials.

A control is one small object (:class:`Control`: a name, a sentence, the value at a trial);
:data:`CONTROLS` is the table of them.  A figure spec names one in ``FigureSpec.control``;
the run saves, per point, the control's values on the theory's draws and its mean
(:func:`control_record`), and the pictures and reports read the estimate from there
(:func:`controlled_estimate`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from onestep_gm.experiments.results import decode_pairs
from onestep_gm.experiments.stats import control_variate_mean
from onestep_gm.numerics.validation import MAX_TRIALS

if TYPE_CHECKING:
    from onestep_gm.numerics.config import SimulationConfig

CONTROL_DRAWS = 2000
"""Draws of the setting alone that give :math:`\\mu_g` (a figure's quick run: :data:`QUICK_DRAWS`)."""
QUICK_DRAWS = 100
FIRST_UNRUN_TRIAL = MAX_TRIALS
"""Trial indices from here on are never run (``trials <= MAX_TRIALS``): their settings give
:math:`\\mu_g`, independent of every simulated trial."""
CONTROLLED_MODEL = "theory"
"""The model whose line is estimated with the control (it runs on fewer draws than the network)."""


class Control(Protocol):
    """A scalar of a trial's drawn setting, used as a control variate."""

    name: str
    """Key in :data:`CONTROLS` and in a figure's saved data."""
    description: str
    """The control in one phrase, for reports (Markdown with :math:`\\LaTeX`)."""

    def value(self, config: SimulationConfig, trial: int) -> float:
        """The control at trial ``trial`` of ``config`` (from the trial's seed alone)."""
        ...


@dataclass(frozen=True)
class SignalScale:
    r""":math:`g = 1/\|\bar\Sigma\|_2` of the trial's mixture.

    The teacher direction is normalised to :math:`\|\xi\|^2 = 1/\|\bar\Sigma\|_2` (DESIGN.md,
    the model), so :math:`g` is the teacher's squared scale: the target's variance, and with it
    every error, moves in proportion.  On Fig. 2(c)'s 100 network trials per point it explains
    96–99.7 % of the variance of the error (docs, results page), so a line over 12 draws has the
    precision of a plain mean over 12/(1−R²) ≈ 300–4000 draws.
    """

    name: str = "signal_scale"
    description: str = r"$g = 1/\|\bar\Sigma\|_2$ of the drawn mixture (the teacher's squared norm)"

    def value(self, config: SimulationConfig, trial: int) -> float:
        # JAX loads here, not with the module: pictures and reports read saved records
        from onestep_gm.numerics.mixture import top_eigenvalue
        from onestep_gm.numerics.precision import x64
        from onestep_gm.numerics.simulation import trial_data
        from onestep_gm.numerics.trial import mixture_of

        with x64():
            return 1.0 / float(top_eigenvalue(mixture_of(trial_data(config, trial))))


CONTROLS: dict[str, Control] = {control.name: control for control in (SignalScale(),)}
"""Every control a figure can name."""


def theory_draws(table: Mapping) -> int:
    """The controlled model's draws at a point: the longest of its lists in a per-pair error
    table (``SimulationResult.gen``, or a saved point's decoded ``gen``); 0 without it."""
    return max((len(v) for (_, model), v in table.items() if model == CONTROLLED_MODEL), default=0)


def control_record(control: Control, config: SimulationConfig, trials: int, draws: int = CONTROL_DRAWS) -> dict:
    """The control of one figure point, as saved with the figure's data.

    Parameters
    ----------
    control : Control
        The control.
    config : SimulationConfig
        The point.
    trials : int
        The theory's draws at the point: trials ``0 … trials−1`` (the network's first ones).
    draws : int
        Further settings (trials ``FIRST_UNRUN_TRIAL …``, never simulated) that give the mean.

    Returns
    -------
    dict
        ``name``, ``model`` (:data:`CONTROLLED_MODEL`), ``values`` (one per theory draw),
        ``mean`` and ``mean_se`` (over ``draws`` settings), ``draws``.
    """
    values = [control.value(config, t) for t in range(trials)]
    extra = np.array([control.value(config, FIRST_UNRUN_TRIAL + j) for j in range(draws)])
    return {"name": control.name, "model": CONTROLLED_MODEL, "values": values,
            "mean": float(extra.mean()), "mean_se": float(extra.std(ddof=1) / math.sqrt(draws)),
            "draws": draws}  # fmt: skip


def controlled_estimate(point: Mapping[str, Any], activation: str, model: str,
                        metric: str = "gen") -> tuple[float, float, int] | None:  # fmt: skip
    """(mean, s.e., draws) of ``model``'s error at a saved figure point from its control, or
    ``None`` where the point has no control for that model (then the plain mean applies).

    Draws that diverged (NaN) are left out with their control values; with fewer than 3 left,
    or a control that does not vary (one setting for every trial, as under the paper's
    protocol), the plain mean applies too.
    """
    record = point.get("control")
    if not record or record.get("model") != model:
        return None
    values = decode_pairs(point["train" if metric == "train" else "gen"]).get((activation, model))
    if values is None:
        return None
    y = np.asarray([np.nan if v is None else v for v in values], float)
    g = np.asarray(record["values"][: y.size], float)
    keep = np.isfinite(y[: g.size])
    if keep.sum() < 3 or np.ptp(g[keep]) == 0:
        return None
    mean, se = control_variate_mean(y[: g.size][keep], g[keep], record["mean"], record["mean_se"])
    return mean, se, int(keep.sum())


def describe(record: Mapping[str, Any]) -> str:
    """One sentence on a point's control, for the figure's report."""
    control = CONTROLS.get(record["name"])
    what = control.description if control is not None else record["name"]
    return (f"The {record['model']} line is the regression (control-variate) estimate over its draws with "
            f"{what} as the control, whose mean comes from {record['draws']} further draws of the "
            "setting alone; its band is ± one standard error of that estimate (the markers stay "
            "plain means)")  # fmt: skip


def add_controls(data: dict, control: Control, draws: int = CONTROL_DRAWS) -> int:
    """Give every point of a saved figure's data (:func:`~onestep_gm.experiments.figures.grid.figure_data`)
    that has a theory line and no control the record of ``control``, from the point's saved
    config; the points changed.  For data saved before the figure had a control."""
    from onestep_gm.experiments.results import config_from_json  # the engine: only when computing

    changed = 0
    for point in data["points"]:
        trials = theory_draws(decode_pairs(point["gen"]))
        if trials and not point.get("control"):
            point["control"] = control_record(control, config_from_json(point["config"]), trials, draws)
            changed += 1
    return changed
