"""The result of one simulated point: per-trial errors keyed by typed (activation, model) pairs.

:class:`SimulationResult` holds the arrays; :meth:`~SimulationResult.summaries` gives typed
means and spreads, :meth:`~SimulationResult.to_frame` a tidy :class:`pandas.DataFrame`, and
:meth:`~SimulationResult.summary` the JSON form of ``onestep simulate --json`` (the only place
the pairs become strings is the JSON boundary, :mod:`onestep_gm.experiments.results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pandas loads when a frame is asked for
    import pandas as pd
    from onestep_gm.numerics.config import SimulationConfig


class Pair(NamedTuple):
    """An (activation, model) pair: the key of every per-trial error table."""

    activation: str
    model: str


class Spread(NamedTuple):
    """Mean and standard deviation over trials (NaN std for a non-finite entry)."""

    mean: float
    std: float

    @classmethod
    def of(cls, values: np.ndarray) -> Spread:
        """The mean and std of ``values`` (shape (trials,))."""
        with np.errstate(invalid="ignore"):  # an infinite (null) prediction has no spread
            return cls(float(np.mean(values)), float(np.std(values)))


class PairSummary(NamedTuple):
    """The train and generalisation errors of one pair over trials (the ½ convention)."""

    train_error: Spread
    gen_error: Spread


PARAMETER_COLUMNS = ("n", "k", "m", "lambda", "beta", "alpha", "theta", "eta", "tau", "b", "order",
                     "seed", "test", "dtype", "protocol")  # fmt: skip
"""The parameters of ``info`` that :meth:`SimulationResult.to_frame` repeats on every row."""


@dataclass(frozen=True)
class SimulationResult:
    """Per-trial errors of every (activation, model) pair, with everything that produced them.

    ``train[Pair(a, m)]`` and ``gen[Pair(a, m)]`` are arrays of shape ``(trials,)`` (``theory``:
    ``(min(trials, theory_trials),)``) in the convention ``info["convention"]``.  ``train_mse``
    (same keys and shapes, or ``None`` for results saved before it existed) is the readout
    batch's mean squared residual without the ½ and the penalty, the training error of Cui et
    al. (ICML 2024); their test error is ``2 * gen``.
    """

    config: SimulationConfig
    train: dict[Pair, np.ndarray]
    gen: dict[Pair, np.ndarray]
    seconds: float
    info: dict
    train_mse: dict[Pair, np.ndarray] | None = None

    def summaries(self) -> dict[Pair, PairSummary]:
        """Per pair, the mean and std over trials of both errors.

        Examples
        --------
        >>> result.summaries()[Pair("relu", "nn")].gen_error.mean  # doctest: +SKIP
        0.0561...
        """
        return {pair: PairSummary(Spread.of(self.train[pair]), Spread.of(gen)) for pair, gen in self.gen.items()}

    def summary(self) -> dict:
        """JSON-able: per activation and model, mean and std over trials of both errors, with
        the convention, the parameters and the seconds (``onestep simulate --json``)."""
        out: dict[str, Any] = {}
        for pair, s in self.summaries().items():
            out.setdefault(pair.activation, {})[pair.model] = {
                "train_error": s.train_error._asdict(), "gen_error": s.gen_error._asdict(),
            }  # fmt: skip
        return {"activations": out, "convention": self.info["convention"], "parameters": self.info,
                "seconds": self.seconds}  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """A tidy frame: one row per activation × model × trial.

        Columns: ``activation, model, trial, train_error, gen_error, train_mse`` (NaN where the
        result has none), then the parameters
        :data:`PARAMETER_COLUMNS` and ``data`` (the data source's kind), equal on every row.

        Examples
        --------
        >>> frame = result.to_frame()  # doctest: +SKIP
        >>> frame.groupby(["activation", "model"]).gen_error.mean()  # doctest: +SKIP
        """
        import pandas as pd  # a core dependency, loaded only for frames

        parameters = {key: self.info.get(key) for key in PARAMETER_COLUMNS}
        parameters["data"] = getattr(self.config.data, "kind", None)
        mses = self.train_mse or {}
        rows = [
            {"activation": pair.activation, "model": pair.model, "trial": t,
             "train_error": float(train), "gen_error": float(gen),
             "train_mse": float(mses[pair][t]) if pair in mses else float("nan"), **parameters}
            for pair, gens in self.gen.items()
            for t, (train, gen) in enumerate(zip(self.train[pair], gens, strict=True))
        ]  # fmt: skip
        columns = ["activation", "model", "trial", "train_error", "gen_error", "train_mse", *parameters]
        return pd.DataFrame(rows, columns=columns)
