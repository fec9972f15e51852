r"""What the theorem's two figures share: their settings, saved points that may be reused, the
run-time line, and the run object that saves them.

The theorem (Demir & Dogan, ICLR 2025, Theorem 3.2) says that for
:math:`(l-2)/(l-1) < \beta < (l-1)/l` the order-:math:`l` Hermite model has the network's
generalisation error as :math:`n\to\infty`.  Two figures test that directly, with exact test
errors: the order diagram (:mod:`onestep_gm.experiments.figures.order`) and the convergence in
:math:`n` (:mod:`onestep_gm.experiments.figures.convergence`).  Their data is one JSON object
``{"name", "spec", "results", "seconds", "seconds_per_n", "reused", "convention", "quick"}``
whose ``results`` are keyed by the point joined into text (``"1000|0.3"``,
``"0.74|0.5|1000"``, :func:`~onestep_gm.experiments.results.join_key`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from onestep_gm.experiments.figures.protocol import PayloadRun, RunOptions, refuse
from onestep_gm.experiments.results import dumps, join_key, split_key
from onestep_gm.numerics.validation import MAX_SAVED_BYTES, read_text_bounded

ACTIVATIONS = ("relu", "tanh")
ALPHA = 0.5
GRIDS = {"order": ("n_values", "betas"), "convergence": ("n_values", "points")}
"""The fields of each figure's spec that a reused saved run may differ in."""
NEEDED = {"order": ("nn", "hermite", "seconds"), "convergence": ("gen", "seconds")}
"""What every saved point of each figure holds."""


def _check_settings(name: str, ours: Mapping, theirs: Any) -> None:
    """``ValueError`` unless a saved figure's ``spec`` equals ours apart from the grids."""
    if not isinstance(theirs, Mapping):
        raise ValueError(f"the saved {name} figure has no settings (its 'spec')")
    differ = [k for k in ours if k not in GRIDS[name] and theirs.get(k) != ours[k]]
    if differ:
        field = differ[0]
        raise ValueError(f"the saved {name} figure was run with {field} = {theirs.get(field)!r}, "
                         f"this run with {ours[field]!r}; its points cannot be reused")  # fmt: skip


MAX_SECONDS = 1e7
"""Largest simulation time a saved point may claim (about four months)."""


def _values(where: str, value: Any, shape: tuple[int, ...]) -> None:
    """``value``: nested lists of the given shape whose entries are finite numbers >= 0, or
    ``null`` (a numerically singular solve, as the run records it)."""
    if not shape:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where} holds {value!r}; errors are finite numbers >= 0 (or null)")
        return
    if not isinstance(value, list) or len(value) != shape[0]:
        got = f"{len(value)} entries" if isinstance(value, list) else type(value).__name__
        raise ValueError(f"{where} must be a list of {shape[0]} entries (got {got})")
    for i, item in enumerate(value):
        _values(f"{where}[{i}]", item, shape[1:])


def check_point(name: str, key: str, point: Any, spec: Mapping) -> None:
    """Refuse a saved point that does not fit the run's spec: its lists' shapes (activations,
    orders or models, trials), finite non-negative errors (``null`` for a singular solve), and
    seconds a finite number in [0, :data:`MAX_SECONDS`].

    Raises
    ------
    ValueError
        Naming the point and the field.
    """
    where = f"the saved {name} figure's point {key}"
    if not isinstance(point, Mapping) or any(k not in point for k in NEEDED[name]):
        raise ValueError(f"{where} lacks {', '.join(NEEDED[name])}")
    seconds = point["seconds"]
    if (isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds)
            or not 0 <= seconds <= MAX_SECONDS):  # fmt: skip
        raise ValueError(f"{where}: seconds must be a number in [0, {MAX_SECONDS:g}] (got {seconds!r})")
    activations, trials = len(spec["activations"]), spec["trials"]
    if name == "order":
        _values(f"{where}: nn", point["nn"], (activations, trials))
        _values(f"{where}: hermite", point["hermite"], (activations, len(spec["orders"]), trials))
        return
    gen = point["gen"]
    if not isinstance(gen, Mapping):
        raise ValueError(f"{where}: gen must be a table of activation|model lists")
    for act in spec["activations"]:
        for model in spec["models"]:
            pair = join_key((act, model))
            if pair not in gen:
                raise ValueError(f"{where}: gen lacks {pair}")
            _values(f"{where}: gen {pair}", gen[pair], (trials,))


def reusable_points(name: str, spec: Any, reuse: Mapping | None) -> dict:
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
    _check_settings(name, ours, reuse.get("spec"))
    points = dict(reuse["results"])
    for key, point in points.items():
        check_point(name, key, point, ours)
    return points


def read_reuse(path: str | Path | Mapping | None) -> Mapping | None:
    """A saved figure to reuse: its data as given, or read from the JSON file at ``path``.

    Raises
    ------
    ValueError
        When the file cannot be read or holds no JSON object (one line, naming it).
    """
    if path is None or isinstance(path, Mapping):
        return path
    try:  # bounded: /dev/zero or a huge file is refused, not read into memory
        data = json.loads(read_text_bounded(path, MAX_SAVED_BYTES, "saved figure"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--reuse {path}: cannot read a saved figure ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--reuse {path}: not a saved order or convergence figure")
    return data


def _n_of(name: str, key: str) -> str:
    """The size n in a point's key: last of ``β|α|n`` (convergence), first of ``n|β`` (order)."""
    parts = split_key(key, 3 if name == "convergence" else 2)
    return parts[-1] if name == "convergence" else parts[0]


def run_time(data: Mapping) -> str:
    """This run's wall time and the simulation time per n (cached points keep the time they
    took when run, so a resumed or re-drawn run still reports the cost of its points)."""
    per_n = data.get("seconds_per_n")
    if per_n is None:  # outputs written before the per-n times were recorded
        per_n = {}
        for key, point in data["results"].items():
            n = _n_of(data["name"], key)
            per_n[n] = per_n.get(n, 0.0) + point["seconds"]
    reused = data.get("reused") or []
    note = f"  {len(reused)} of {len(data['results'])} points were taken from a saved run (`--reuse`)." if reused else ""
    return (f"Run time {data['seconds']:.0f} s; simulation time per n (cached and reused points keep "
            "the time they took when run): " + ", ".join(f"n = {n}: {s:.0f} s" for n, s in per_n.items()) + "."
            + note)  # fmt: skip


OTHER_OPTIONS = ("activations", "models", "components", "order", "data_dir", "test", "protocol", "simulate_fn")
"""Options of the paper figures that the theorem figures do not take."""


class TheoremFigure:
    """What ``order`` and ``convergence`` share as
    :class:`~onestep_gm.experiments.figures.protocol.Figure`: sizes from ``full`` or ``quick``
    with ``trials``, ``seed`` and ``sizes`` replaced, and the paper figures' options refused.
    A subclass gives ``name``, ``full``, ``quick``, ``simulate(spec, **options)`` (the data) and
    ``result(data)`` (the run)."""

    name: str
    full: Any
    quick: Any

    def spec(self, options: RunOptions) -> Any:
        """The sizes of a run: full or quick, with ``trials``, ``seed`` and ``sizes`` replaced."""
        changes = {"trials": options.trials, "seed": options.seed, "n_values": options.sizes}
        base = self.quick if options.quick else self.full
        return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})

    def check(self, options: RunOptions) -> None:
        """Refuse the paper figures' options, which this figure fixes itself."""
        refuse(options, OTHER_OPTIONS, f"the {self.name} figure fixes these itself")

    def run(self, options: RunOptions) -> PayloadRun:
        """Simulate every point (each cached under ``options.cache_dir``)."""
        self.check(options)
        data = self.simulate(self.spec(options), cache_dir=options.cache_dir, progress=options.progress,
                             reuse=read_reuse(options.reuse), workers=options.workers,
                             scheduler=options.scheduler)  # fmt: skip
        return self.result({**data, "quick": options.quick})

    def simulate(self, spec: Any, **options: Any) -> dict:
        raise NotImplementedError

    def result(self, data: dict) -> PayloadRun:
        raise NotImplementedError
