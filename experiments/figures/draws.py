r"""More draws for the theory lines of saved figures (``onestep draws``).

A figure's theory line at a point is the mean of the theory's prediction over the first
``theory_trials`` trials' trained layers :math:`\hat F` (3 by default), while the markers
average the network over all ``trials``.  Where the line's standard error is above the
markers', the line is the noisier of the two and a gap between them says little.  With
:math:`s_\mathrm{th}` the spread of the saved draws and :math:`\mathrm{se}_\mathrm{nn}` the
markers' standard error, :math:`T` draws bring the line's s.e. below the markers' when
:math:`T > (s_\mathrm{th}/\mathrm{se}_\mathrm{nn})^2`; :func:`draw_targets` asks for
``safety`` times that (``safety`` 1.5 covers the error of a spread estimated from few draws).

:func:`add_theory_draws` computes the missing draws (trials ``have, have + 1, …`` with the
network's own seeds, :func:`onestep_gm.simulate` with ``trial_indices``), checks that trial 0
reproduces the saved value, and appends them to the saved ``<name>.json`` (and ``.csv``) of
every figure of the folder that has the same point (fig6 shares fig1a's points, fig5b fig1c's,
fig7a fig3a's), a few draws at a time, so a stopped run keeps what it finished.  Points with a
control variate (fig2c) have their own estimator and are left alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from onestep_gm.experiments.figures.control import CONTROLLED_MODEL, theory_draws
from onestep_gm.experiments.figures.outputs import frame_csv
from onestep_gm.experiments.results import config_from_json, decode_pairs, dumps, join_key
from onestep_gm.numerics.files import staged

SAFETY = 1.5
"""Draws asked for, as a multiple of the break-even count :math:`(s_\\mathrm{th}/\\mathrm{se}_\\mathrm{nn})^2`."""
MAX_DRAWS = 120
"""Default cap on a point's theory draws."""
CHUNK = 8
"""Draws computed between two writes of the saved figures."""
REPRODUCE_RTOL = 1e-8
"""Trial 0 computed again must equal the saved value to this relative tolerance."""
NOTE_PREFIX = "theory line: more draws"


class DrawTarget(NamedTuple):
    """One point whose theory line is noisier than its markers.

    Attributes
    ----------
    point : int
        Index in the figure's ``points``.
    have : int
        Theory draws saved now.
    target : int
        Draws asked for (capped at ``max_draws``).
    ratio : float
        The line's s.e. over the markers' s.e. now (the largest over the activations).
    """

    point: int
    have: int
    target: int
    ratio: float


def finite_values(values: Iterable) -> np.ndarray:
    """The finite entries of a saved list of errors (``None`` and NaN, diverged trials, dropped)."""
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return arr[np.isfinite(arr)]


def _metric_key(data: Mapping[str, Any]) -> str:
    return "train" if data.get("metric") == "train" else "gen"


def point_ratios(point: Mapping[str, Any], metric_key: str) -> dict[str, float]:
    r"""Per activation, :math:`s_\mathrm{th}/\mathrm{se}_\mathrm{nn}` at one saved point: the
    theory draws' spread over the markers' standard error.

    Pairs without a comparison are left out: a network that diverged in any trial (reported
    as diverged), fewer than two finite draws of either, or markers without spread.
    """
    table = decode_pairs(point[metric_key])
    out = {}
    for (act, model), values in table.items():
        if model != CONTROLLED_MODEL or (act, "nn") not in table:
            continue
        nn_raw = table[(act, "nn")]
        nn, th = finite_values(nn_raw), finite_values(values)
        if nn.size < len(nn_raw) or nn.size < 2 or th.size < 2:
            continue
        se_nn = float(np.std(nn, ddof=1)) / math.sqrt(nn.size)
        if se_nn > 0:
            out[act] = float(np.std(th, ddof=1)) / se_nn
    return out


def theory_precision(data: Mapping[str, Any]) -> tuple[int, int]:
    """(pairs where the theory line's standard error is below the markers', pairs compared)
    over every (point, activation) of a saved figure (:func:`point_ratios`; points with a
    control variate are left out: their line has its own estimator)."""
    key = _metric_key(data)
    below = pairs = 0
    for point in data["points"]:
        if point.get("control"):
            continue
        table = decode_pairs(point[key])
        for act, ratio in point_ratios(point, key).items():
            pairs += 1
            below += ratio < math.sqrt(finite_values(table[(act, CONTROLLED_MODEL)]).size)
    return below, pairs


def draw_targets(data: Mapping[str, Any], *, safety: float = SAFETY, max_draws: int = MAX_DRAWS) -> list[DrawTarget]:
    r"""The points of a saved figure whose theory line's s.e. is above the markers'.

    Parameters
    ----------
    data : mapping
        A grid figure's saved data (``<name>.json``: ``metric``, ``points`` with ``gen``,
        ``train`` and ``config``).
    safety : float
        Draws asked for: ``ceil(safety * ratio**2)`` with ``ratio`` =
        :math:`s_\mathrm{th}/\mathrm{se}_\mathrm{nn}` (:func:`point_ratios`).
    max_draws : int
        Cap on a point's draws.

    Returns
    -------
    list of DrawTarget
        In point order; points with a control variate are left out.
    """
    key = _metric_key(data)
    out = []
    for i, point in enumerate(data["points"]):
        if point.get("control"):  # the controlled line has its own estimator (fig2c)
            continue
        have = theory_draws(decode_pairs(point[key]))
        ratios = point_ratios(point, key)
        if not ratios or have == 0:
            continue
        worst = max(ratios.values()) / math.sqrt(have)
        if worst > 1:
            need = max(math.ceil(safety * r * r) for r in ratios.values())
            out.append(DrawTarget(i, have, min(max(need, have), max_draws), worst))
    return out


@dataclasses.dataclass
class _Figure:
    """A saved figure being extended: its file and its data."""

    json_path: Path
    data: dict

    def save(self) -> None:
        final = {"json": self.json_path}
        csv = self.json_path.with_suffix(".csv")
        if csv.exists():
            final["csv"] = csv
        from onestep_gm.experiments.figures.grid import figure_frame  # grid imports the engine

        with staged(final) as tmp:
            tmp["json"].write_text(dumps(self.data, indent=1) + "\n")
            if "csv" in tmp:
                tmp["csv"].write_text(frame_csv(figure_frame(self.data)))


class DrawsDone(NamedTuple):
    """What :func:`add_theory_draws` did at one point (of every figure holding it)."""

    figures: tuple[str, ...]
    point: int
    have: int
    now: int
    target: int
    seconds: float
    reproduced: float
    """Largest relative difference between trial 0 computed again and its saved value."""


def _config_key(point: Mapping[str, Any]) -> str:
    return json.dumps(point["config"], sort_keys=True)


def _grid_figures(folder: Path) -> dict[str, _Figure]:
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("kind") != "heatmap" and {"figure", "points"} <= set(data):
            found[data["figure"]] = _Figure(path, data)
    return found


def saved_grid_figures(out_dir: str | Path) -> list[str]:
    """Names of the grid figures saved in ``out_dir`` (heat maps and theorem figures have no
    theory line to extend)."""
    return list(_grid_figures(Path(out_dir)))


def points_above(out_dir: str | Path, names: Iterable[str]) -> int:
    """How many points of the saved figures ``names`` have a theory line whose standard error
    is still above the markers' (the points :func:`draw_targets` lists)."""
    figures = _grid_figures(Path(out_dir))
    return sum(len(draw_targets(figures[name].data)) for name in names if name in figures)


def add_theory_draws(
    out_dir: str | Path, names: Iterable[str], *, safety: float = SAFETY, max_draws: int = MAX_DRAWS,
    budget_s: float | None = None, simulate_fn: Callable[..., Any] | None = None,
    on_chunk: Callable[[DrawsDone], None] | None = None,
) -> list[DrawsDone]:  # fmt: skip
    """Add theory draws to the saved figures ``names`` of ``out_dir`` until each theory line's
    s.e. is below its markers' (:func:`draw_targets`), or the budget is spent.

    Works in passes: each pass brings every point to its target, then the targets are
    estimated again from the larger sample; it stops when no point is left or every point
    left is at ``max_draws``.

    Parameters
    ----------
    out_dir : str or Path
        A folder written by ``onestep figure`` (``<name>.json`` per figure).
    names : iterable of str
        Figures to extend; every other saved figure of the folder with the same point
        configuration gets the same draws.
    safety, max_draws : float, int
        See :func:`draw_targets`.
    budget_s : float, optional
        Stop starting new draws after this many seconds (what finished is saved).
    simulate_fn : callable, optional
        ``simulate_fn(config, trial_indices=...)`` instead of :func:`onestep_gm.simulate`.
    on_chunk : callable, optional
        Called with each :class:`DrawsDone` once its draws are saved.

    Returns
    -------
    list of DrawsDone
        One entry per chunk of draws, in the order computed.

    Raises
    ------
    ValueError
        For a figure name with no saved grid figure in ``out_dir``, points that share a
        configuration but not their draws, or trial 0 not reproducing its saved value (the
        figure was run by another version of the engine: extending it would mix two).
    """
    if simulate_fn is None:
        # the engine (JAX) loads only when computing
        from onestep_gm.numerics.simulation import simulate as simulate_fn
    folder = Path(out_dir)
    figures = _grid_figures(folder)
    missing = [name for name in names if name not in figures]
    if missing:
        raise ValueError(f"no saved grid figure {', '.join(missing)} in {folder} (run `onestep figure` first)")
    start, done, checked = time.perf_counter(), [], set()

    def spent() -> bool:
        return budget_s is not None and time.perf_counter() - start > budget_s

    while todo := _todo(figures, names, safety, max_draws):  # a pass; the next one re-estimates
        before = len(done)
        for key, (target, holders) in todo.items():
            for chunk in _extend(figures, holders, target, simulate_fn, key not in checked, spent):
                done.append(chunk)
                if on_chunk is not None:
                    on_chunk(chunk)
            if spent():
                return done
            checked.add(key)
        if len(done) == before:  # every point left is at max_draws
            break
    return done


def _extend(figures: Mapping[str, _Figure], holders: list[tuple[str, int]], target: int,
            simulate_fn: Callable[..., Any], check: bool, spent: Callable[[], bool]) -> Iterator[DrawsDone]:  # fmt: skip
    """Draw one point's theory up to ``target`` draws, :data:`CHUNK` at a time, saving every
    figure holding it after each chunk (trial 0 first, computed again as a check, if ``check``),
    until ``spent()``."""
    fig0, i0 = holders[0]
    point = figures[fig0].data["points"][i0]
    config = config_from_json(point["config"])
    config = dataclasses.replace(config, models=(CONTROLLED_MODEL,), trials=target, theory_trials=target)
    while (have := theory_draws(decode_pairs(point["gen"]))) < target and not spent():
        t0 = time.perf_counter()
        indices = ([0] if check else []) + list(range(have, min(have + CHUNK, target)))
        result = simulate_fn(config, trial_indices=indices)
        reproduced = _check_trial0(point, result, indices) if check else 0.0
        check = False
        for fig, i in holders:
            _append(figures[fig], i, result, indices)
        for fig in {fig for fig, _ in holders}:
            figures[fig].save()
        now = theory_draws(decode_pairs(point["gen"]))
        yield DrawsDone(tuple(sorted({f for f, _ in holders})), i0, have, now, target,
                        time.perf_counter() - t0, reproduced)  # fmt: skip


def _todo(figures: Mapping[str, _Figure], names: Iterable[str], safety: float, max_draws: int) -> dict:
    """``{config key: (target, [(figure, point index), ...])}``, cheapest (fewest draws) first."""
    holders: dict[str, list[tuple[str, int]]] = {}
    for fig, figure in figures.items():
        for i, point in enumerate(figure.data["points"]):
            if "config" in point and not point.get("control"):
                holders.setdefault(_config_key(point), []).append((fig, i))
    wanted: dict[str, int] = {}
    for name in names:
        data = figures[name].data
        for tgt in draw_targets(data, safety=safety, max_draws=max_draws):
            key = _config_key(data["points"][tgt.point])
            wanted[key] = max(wanted.get(key, 0), tgt.target)
    todo = []
    for key, target in wanted.items():
        counts = {theory_draws(decode_pairs(figures[f].data["points"][i]["gen"])) for f, i in holders[key]}
        if len(counts) > 1:
            where = ", ".join(f"{f} point {i}" for f, i in holders[key])
            raise ValueError(f"{where} share a configuration but hold {sorted(counts)} theory draws")
        todo.append((target - counts.pop(), key, target))
    return {key: (target, holders[key]) for _, key, target in sorted(todo)}


def _check_trial0(point: Mapping[str, Any], result, indices: list[int]) -> float:
    """Largest relative difference of trial 0 computed again from its saved values."""
    worst = 0.0
    for metric, table in (("gen", result.gen), ("train", result.train)):
        saved = decode_pairs(point[metric])
        for pair, values in table.items():
            old, new = saved[pair][0], float(values[indices.index(0)])
            if old is None or not math.isfinite(old):
                same = not math.isfinite(new)
                diff = 0.0 if same else math.inf
            else:
                diff = abs(new - old) / max(abs(old), 1e-300)
            worst = max(worst, diff)
    if worst > REPRODUCE_RTOL:
        raise ValueError(
            f"trial 0 of the point does not reproduce its saved theory value (relative difference "
            f"{worst:.1e} > {REPRODUCE_RTOL:g}): the figure was run by another version of the engine; "
            "run the figure again instead of adding draws"
        )
    return worst


def _append(figure: _Figure, i: int, result, indices: list[int]) -> None:
    """Append the new draws (not trial 0 when it was a check) to point ``i`` of ``figure``."""
    point = figure.data["points"][i]
    for metric, table in (("gen", result.gen), ("train", result.train)):
        saved = point[metric]
        for pair, values in table.items():
            rows = saved[join_key(pair)]
            for t, v in zip(indices, values, strict=True):
                if t == len(rows):
                    rows.append(float(v) if math.isfinite(float(v)) else None)
                elif t > len(rows):
                    raise ValueError(f"draw {t} would leave a hole after {len(rows)} saved draws")
    now = theory_draws(decode_pairs(point["gen"]))
    point.setdefault("info", {})["theory_trials"] = now
    notes = [n for n in figure.data.get("notes", []) if not n.startswith(NOTE_PREFIX)
             and not n.startswith("theory line: at points")]  # fmt: skip
    figure.data["notes"] = notes + [
        f"{NOTE_PREFIX} (trials 3 onwards, the network's own seeds) were added after the run with "
        "`onestep draws` at points where the line's standard error was above the markers' (each "
        "point's info gives its theory_trials); trial 0 computed again reproduced its saved value "
        f"to within {REPRODUCE_RTOL:g} relative (`onestep draws` refuses otherwise)"
    ]
