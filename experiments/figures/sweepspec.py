r"""User sweeps: a TOML file that declares a figure, mapped onto a :class:`FigureSpec`.

A sweep spec names one or two varied fields with their grids, the fixed fields of every
point (any :class:`~onestep_gm.SimulationConfig` or data field), and how to draw it; the
runner and the outputs are those of the paper's figures.  The reference is the docs page
"Sweep specs"; a minimal example::

    name = "gelu-beta"
    [x]
    field = "beta"
    linspace = [0.1, 0.9, 5]
    [fixed]
    activations = ["gelu"]
    components = 3
    n = 300
    k = 300
    m = 300
    trials = 3

Every problem is reported as one ``ValueError`` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from onestep_gm.experiments.figures.catalogue import (
    GEN_LABEL,
    KINDS,
    METRICS,
    TRAIN_LABEL,
    VARIABLES,
    FigureSpec,
    Quick,
    mixture_weights,
)
from onestep_gm.numerics.data import DATA_SOURCES, spec_from_fields
from onestep_gm.numerics.models import theory_only
from onestep_gm.numerics.simulation import SimulationConfig
from onestep_gm.numerics.validation import (
    MAX_GRID_POINTS,
    MAX_SPEC_BYTES,
    MAX_TITLE,
    FieldTypeError,
    FieldValueError,
    check_name,
    check_work,
    is_int,
    read_text_bounded,
)

TOP_KEYS = ("name", "title", "kind", "metric", "yscale", "data", "x", "y", "fixed", "quick", "notes")
AXIS_KEYS = ("field", "values", "linspace", "logspace", "label", "quick")
QUICK_KEYS = ("n", "m", "trials")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABELS = {
    "k_over_m": r"$k/m$", "alpha": r"weight $\alpha$", "beta": r"strength $\beta$",
    "alignment": r"alignment $a$", "rho": r"mixture ratio $\rho$", "spikes": r"spikes $d$",
    "log_eta": r"$\log \eta / \log n$", "lam": r"ridge $\lambda$", "eta": r"learning rate $\eta$",
}  # fmt: skip


def _fail(source: str, message: str):
    raise ValueError(f"{source}: {message}")


def _unknown(source: str, where: str, keys, allowed) -> None:
    extra = [k for k in keys if k not in allowed]
    if extra:
        _fail(source, f"unknown key {extra[0]!r} in {where}; allowed: {', '.join(allowed)}")


def _number(source: str, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(source, f"{where} must be a finite number (got {value!r})")
    return float(value)


def _grid(source: str, axis: str, table: Mapping[str, Any]) -> tuple[float, ...]:
    given = [k for k in ("values", "linspace", "logspace") if k in table]
    if len(given) != 1:
        _fail(source, f"[{axis}] needs exactly one of values, linspace = [lo, hi, num], "
                      f"logspace = [lo_exp, hi_exp, num]")  # fmt: skip
    kind = given[0]
    raw = table[kind]
    if not isinstance(raw, list) or not raw:
        _fail(source, f"[{axis}] {kind} must be a non-empty list")
    if kind == "values":
        if len(raw) > MAX_GRID_POINTS:
            _fail(source, f"[{axis}] values has {len(raw)} entries; the bound is {MAX_GRID_POINTS} per axis")
        values = [_number(source, f"[{axis}] values", v) for v in raw]
    else:
        if len(raw) != 3 or not isinstance(raw[2], int) or isinstance(raw[2], bool) or raw[2] < 1:
            _fail(source, f"[{axis}] {kind} must be [lo, hi, num] with a whole num >= 1")
        if raw[2] > MAX_GRID_POINTS:
            _fail(source, f"[{axis}] {kind} asks for {raw[2]} values; the bound is {MAX_GRID_POINTS} per axis")
        lo, hi = (_number(source, f"[{axis}] {kind}", v) for v in raw[:2])
        values = np.linspace(lo, hi, raw[2]) if kind == "linspace" else np.logspace(lo, hi, raw[2])
    values = [float(v) for v in values]
    if len(set(values)) != len(values):
        _fail(source, f"[{axis}] repeats a value")
    return tuple(values)


def _axis(source: str, axis: str, table: Any) -> tuple[str, tuple[float, ...], tuple[float, ...], str]:
    if not isinstance(table, Mapping):
        _fail(source, f"{axis} must be a table ([{axis}])")
    _unknown(source, f"[{axis}]", table, AXIS_KEYS)
    field = table.get("field")
    if field not in VARIABLES:
        _fail(source, f"[{axis}] field must be one of {', '.join(VARIABLES)} (got {field!r})")
    grid = _grid(source, axis, table)
    quick = grid
    if "quick" in table:
        if not isinstance(table["quick"], list) or not table["quick"]:
            _fail(source, f"[{axis}] quick must be a non-empty list of values")
        if len(table["quick"]) > MAX_GRID_POINTS:
            _fail(source, f"[{axis}] quick has {len(table['quick'])} entries; the bound is {MAX_GRID_POINTS} per axis")
        quick = tuple(_number(source, f"[{axis}] quick", v) for v in table["quick"])
        if len(set(quick)) != len(quick):
            _fail(source, f"[{axis}] quick repeats a value")
    label = table.get("label", _LABELS.get(field, field))
    _text(source, f"[{axis}] label", label)
    return field, grid, quick, label


def _fixed_config(source: str, data_kind: str, fixed: Any) -> SimulationConfig:
    if not isinstance(fixed, Mapping):
        _fail(source, "fixed must be a table ([fixed])")
    spec_cls = DATA_SOURCES[data_kind]
    config_fields = {f.name for f in dataclasses.fields(SimulationConfig)} - {"data"}
    data_fields = {f.name for f in dataclasses.fields(spec_cls)}
    allowed = sorted(config_fields | data_fields | ({"components"} if data_kind == "mixture" else set()))
    _unknown(source, "[fixed]", fixed, allowed)
    top: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in fixed.items():
        value = tuple(value) if isinstance(value, list) else value
        if key == "components":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                _fail(source, f"[fixed] components must be a whole number >= 1 (got {value!r})")
            data["weights"] = mixture_weights(value)
        elif key in config_fields:
            top[key] = value
        else:
            data[key] = value
    if "components" in fixed and "weights" in fixed:
        _fail(source, "[fixed] give components or weights, not both")
    for key in ("activations", "models"):
        if key in top and (not isinstance(top[key], tuple) or not all(isinstance(v, str) for v in top[key])):
            _fail(source, f"[fixed] {key} must be a list of strings")
    try:
        data_spec = spec_from_fields(data_kind, data)
    except ValueError as exc:
        _fail(source, f"[fixed] {exc}")
    try:
        return SimulationConfig(data=data_spec, **top)
    except TypeError as exc:
        _fail(source, f"[fixed] {exc}")


def _quick(source: str, table: Any) -> Quick:
    if table is None:
        return Quick()
    if not isinstance(table, Mapping):
        _fail(source, "quick must be a table ([quick])")
    _unknown(source, "[quick]", table, QUICK_KEYS)
    for key, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(source, f"[quick] {key} must be a whole number >= 1 (got {value!r})")
    return Quick(**table)


def _string(source: str, obj: Mapping[str, Any], key: str, default: str, choices=None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        _fail(source, f"{key} must be a string (got {value!r})")
    if choices is not None and value not in choices:
        _fail(source, f"{key} must be one of {', '.join(choices)} (got {value!r})")
    return value


def spec_from_dict(obj: Mapping[str, Any], source: str = "sweep spec") -> FigureSpec:
    """The :class:`FigureSpec` of a parsed sweep spec (see :func:`load_sweep`).

    Raises
    ------
    ValueError
        ``"<source>: <what is wrong>"`` for the first problem found.
    """
    _unknown(source, "the spec", obj, TOP_KEYS)
    name = obj.get("name")
    try:
        check_name("name", name, _NAME)
    except (ValueError, TypeError) as exc:
        _fail(source, str(exc))
    data_kind = _string(source, obj, "data", "mixture", tuple(DATA_SOURCES))
    if "x" not in obj:
        _fail(source, "the spec needs an [x] table (the varied field and its grid)")
    vary, grid, quick_grid, xlabel = _axis(source, "x", obj["x"])
    kind = _string(source, obj, "kind", "heatmap" if "y" in obj else "line", KINDS)
    if (kind == "heatmap") != ("y" in obj):
        _fail(source, "kind = 'heatmap' needs a [y] table, and a [y] table needs kind = 'heatmap'")
    metric = _string(source, obj, "metric", "gen", METRICS)
    vary_y, grid_y, quick_grid_y, ylabel = (None, (), (), "")
    if kind == "heatmap":
        vary_y, grid_y, quick_grid_y, ylabel = _axis(source, "y", obj["y"])
        if vary_y == vary:
            _fail(source, "[x] and [y] vary the same field")
    else:
        ylabel = TRAIN_LABEL if metric == "train" else GEN_LABEL
    base = _fixed_config(source, data_kind, obj.get("fixed", {}))
    if metric == "gap" and "hermite" not in base.models:
        _fail(source, "metric = 'gap' compares NN with the Hermite model: add 'hermite' to models")
    if "nn" not in base.models and not theory_only(base.models):
        _fail(source, "models must include 'nn' (the figures compare against the network), or hold only "
                      "'theory' and 'limit' (a theory-only figure)")
    notes = obj.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(v, str) for v in notes):
        _fail(source, "notes must be a list of strings")
    if len(notes) > 50:
        _fail(source, f"notes has {len(notes)} entries; at most 50")
    for note in notes:
        _text(source, "notes", note, limit=1000)
    title = _text(source, "title", _string(source, obj, "title", name))
    spec = FigureSpec(
        name=name, title=title, xlabel=xlabel, ylabel=ylabel,
        vary=vary, grid=grid, quick_grid=quick_grid, base=base, kind=kind, metric=metric,
        vary_y=vary_y, grid_y=grid_y, quick_grid_y=quick_grid_y, quick=_quick(source, obj.get("quick")),
        notes=tuple(notes), yscale=_string(source, obj, "yscale", "linear", ("linear", "log")),
    )  # fmt: skip
    try:
        check_spec_work(spec)
    except ValueError as exc:
        _fail(source, str(exc))
    return spec


def check_spec_work(spec: FigureSpec, trials: int | None = None) -> None:
    """Refuse a figure whose grid points x trials exceed
    :data:`~onestep_gm.numerics.validation.MAX_GRID_WORK` (full and quick grids), before any
    point is resolved or run."""
    trials = spec.base.trials if trials is None else trials
    if not is_int(trials):
        return  # the point's own validation names the field
    full = len(spec.grid) * max(1, len(spec.grid_y))
    quick = len(spec.quick_grid) * max(1, len(spec.quick_grid_y))
    check_work("grid", full, trials)
    check_work("quick grid", quick, min(trials, spec.quick.trials) if is_int(spec.quick.trials) else trials)


def check_tex(field: str, value: Any, limit: int = MAX_TITLE) -> str:
    """A title, label or note that matplotlib can draw: a string of at most ``limit``
    characters on one line whose ``$...$`` parts parse with matplotlib's mathtext, checked
    before any point runs (not when the figure is drawn, after every point).

    Raises
    ------
    FieldTypeError
        When ``value`` is not a string.
    FieldValueError
        When it is too long, spans lines or holds TeX that matplotlib cannot parse.
    """
    if not isinstance(value, str):
        raise FieldTypeError(field, f"{field} must be a string (got {value!r})")
    if len(value) > limit:
        raise FieldValueError(field, f"{field} has {len(value)} characters; at most {limit}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise FieldValueError(field, f"{field} must be one line of printable text (got {value!r})")
    if "$" in value:
        from matplotlib.mathtext import MathTextParser  # loaded only for text with TeX in it

        try:
            MathTextParser("path").parse(value)
        except (ValueError, RuntimeError) as exc:
            first = " ".join(str(exc).split())[:160]
            raise FieldValueError(field, f"{field} {value!r} is not TeX that matplotlib can draw ({first})") from None
    return value


def _text(source: str, where: str, value: Any, limit: int = MAX_TITLE) -> str:
    try:
        return check_tex(where, value, limit)
    except (ValueError, TypeError) as exc:
        _fail(source, str(exc))


def load_sweep(path: str | Path) -> FigureSpec:
    """Read a TOML sweep spec into a :class:`FigureSpec`.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file (reference: the docs page "Sweep specs").

    Returns
    -------
    FigureSpec
        Run it with :func:`onestep_gm.run_figure` and write it with
        :func:`onestep_gm.save_figure`, like a paper figure.

    Raises
    ------
    OSError
        When the file cannot be read.
    ValueError
        For invalid TOML or an invalid spec: one sentence naming the file and the key; for a
        file that is not a regular file or is larger than
        :data:`~onestep_gm.numerics.validation.MAX_SPEC_BYTES`.
    """
    path = Path(path)
    text = read_text_bounded(path, MAX_SPEC_BYTES, "sweep spec")  # /dev/zero, a FIFO: refused
    try:
        obj = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    return spec_from_dict(obj, str(path))
