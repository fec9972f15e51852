r"""Agreement reports: does the network match its equivalent models, point by point?

Per figure: the picture with its caption (:func:`caption`), a verdict of one line per model,
and one row per point with, per activation, the network's error (mean ± standard error of the
mean over :math:`T` trials) and each model's gap to it in standard errors of the difference
of two means,

.. math::  z = \frac{\bar E_{NN} - \bar E_{model}}{\sqrt{s_{NN}^2/T_{NN} + s_{model}^2/T_{model}}},

with :math:`s` the sample standard deviation over trials (``ddof = 1``).  A model *agrees*
at a point when :math:`|z| \le 2`.  Trials recorded as NaN (a diverged ridge solve) are left
out; a model with no finite trial at a point is reported as diverged, never as a gap.
:func:`gather` collects every ``<name>.md`` of an output folder (and its picture) into one
Markdown page for the docs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from onestep_gm.experiments.figures.control import controlled_estimate, describe
from onestep_gm.experiments.figures.draws import finite_values, theory_precision
from onestep_gm.experiments.results import decode_pairs
from onestep_gm.experiments.stats import THRESHOLD, agrees, gap_in_se, gap_stats
from onestep_gm.experiments.stats import mean_std as _stats
from onestep_gm.numerics.validation import escape_markdown

MODEL_ORDER = ("nn", "hermite", "conditional", "theory", "limit")
MODEL_NAMES = {"nn": "NN", "hermite": "Hermite", "conditional": "conditional", "theory": "theory", "limit": "limit"}
METRIC_NAMES = {
    "gen": "generalisation error",
    "train": "training error",
    "gap": "generalisation error",
}
CONVENTION_MATH = (
    ("train_error = 1/2*mean((y - Phi^T w_hat)^2) + 1/2*lambda*||w_hat||^2",
     r"training error $= \tfrac12\,\overline{(y - \Phi^\top \hat w)^2} + \tfrac12\lambda\|\hat w\|^2$"),
    ("gen_error = 1/2*mean((y - y_hat)^2)", r"generalisation error $= \tfrac12\,\overline{(y - \hat y)^2}$"),
    ("gen_error = 1/2*E(y - y_hat)^2", r"generalisation error $= \tfrac12\,\mathbb{E}(y - \hat y)^2$"),
    ("test_factor*m", r"$5m$ (test factor × $m$)"),
)  # fmt: skip
"""The error conventions the engine reports, typeset (the bar: the mean over samples)."""


def convention_markdown(text: str) -> str:
    """The engine's error convention as Markdown: its known formulas typeset, anything else in a
    code span (a ``*`` in running text would turn into emphasis)."""
    for plain, typeset in CONVENTION_MATH:
        text = text.replace(plain, typeset)
    if "*" in text.replace("$", "") or "^" in re.sub(r"\$[^$]*\$", "", text):
        return f"`{text}`"
    return text


def _count_nan(values: Sequence[float] | None) -> int:
    return sum(1 for v in (values or []) if v is None or not math.isfinite(v))


def point_gaps(point: Mapping[str, Any], metric: str, other: str) -> dict[str, float]:
    """Per activation the gap NN − ``other`` of one point, in standard errors (NaN where any
    trial of either model diverged: not a gap, reported as diverged with its count; a mean over
    the trials that survived would hide the failure behind their spread)."""
    table = decode_pairs(point["train" if metric == "train" else "gen"])
    out = {}
    for (act, model), values in table.items():
        if model != other or (act, "nn") not in table:
            continue
        nn, o = finite_values(table[(act, "nn")]), finite_values(values or [])
        if nn.size < len(table[(act, "nn")]) or o.size < len(values) or o.size == 0:
            out[act] = math.nan
            continue
        m_nn, s_nn, t_nn = _stats(nn)
        m_o, s_o, t_o = _stats(o)
        controlled = controlled_estimate(point, act, other, metric)
        if controlled is not None:  # the line's own s.e., as a std over its draws
            m_o, s_o, t_o = controlled[0], controlled[1] * math.sqrt(controlled[2]), controlled[2]
        out[act] = gap_in_se(m_nn, s_nn, m_o, s_o, t_nn, t_o)
    return out


def diverged(data: Mapping[str, Any], other: str) -> tuple[int, int, int]:
    """(pairs where every trial of ``other`` diverged, pairs where some did, diverged trials)
    over every (point, activation) of a figure's data."""
    key = "train" if data["metric"] == "train" else "gen"
    every = some = trials = 0
    for point in data["points"]:
        for (_act, model), values in decode_pairs(point[key]).items():
            if model != other:
                continue
            bad = _count_nan(values)
            trials += bad
            if bad and bad == len(values):
                every += 1
            elif bad:
                some += 1
    return every, some, trials


def verdict(
    gaps: Sequence[Mapping[str, float]], other: str = "hermite", threshold: float = THRESHOLD
) -> str:
    """One line: at how many points (per activation and in total) NN and ``other`` agree.

    ``gaps``: per point, activation → gap in standard errors (from :func:`point_gaps`); a NaN
    (the model diverged) is not a gap: it is counted apart, as diverged.
    """
    per_act: dict[str, list[bool]] = {}
    nan = 0
    for point in gaps:
        for act, z in point.items():
            if math.isnan(z):
                nan += 1
                continue
            per_act.setdefault(act, []).append(agrees(z, threshold))
    total = sum(len(v) for v in per_act.values())
    name = MODEL_NAMES.get(other, other)
    tail = f"; {other_name(other)} diverged at {nan} more" if nan else ""
    if total == 0:
        return f"No {name} model in this run." if not nan else f"{name} diverged at every point ({nan})."
    good = sum(sum(v) for v in per_act.values())
    if len(per_act) == 1:
        return f"NN and {name} agree within {threshold:g} s.e. at {good}/{total} points{tail}."
    detail = ", ".join(f"{act} {sum(v)}/{len(v)}" for act, v in per_act.items())
    return (
        f"NN and {name} agree within {threshold:g} s.e. at {good}/{total} "
        f"(point, activation) pairs ({detail}){tail}."
    )


def other_name(model: str) -> str:
    """The model's name in running text: "the Hermite model", "the theory"."""
    return {"hermite": "the Hermite model", "conditional": "the conditional model",
            "theory": "the theory"}.get(model, model)  # fmt: skip


def agreement(data: Mapping[str, Any], other: str, threshold: float = THRESHOLD) -> tuple[int, int]:
    """(points within ``threshold`` s.e., points) of NN vs. ``other`` over every (point,
    activation) of a figure's data where neither diverged in every trial."""
    flags = [
        agrees(z, threshold)
        for p in data["points"]
        for z in point_gaps(p, data["metric"], other).values()
        if not math.isnan(z)
    ]
    return sum(flags), len(flags)


def paired_agreement(data: Mapping[str, Any], other: str, threshold: float = THRESHOLD) -> tuple[int, int, float]:
    r"""NN vs ``other`` paired on the trials both ran (same seeds: the same data and trained layer).

    Per (point, activation), the per-trial gaps :math:`(E_{NN} - E_X)/E_{NN}` over the first
    :math:`\min(T_{NN}, T_X)` trials, their mean over its standard error
    (:func:`~onestep_gm.experiments.stats.gap_stats`).  The setting a trial draws (spike sizes,
    data) moves both errors alike, so this compares the two with that spread removed; the
    theory line, a prediction given each trial's trained layer, is tested most sharply so.

    Returns
    -------
    (within, pairs, largest) : tuple of int, int, float
        Pairs within ``threshold`` standard errors, pairs compared (both ran at least 2 trials
        and none of them diverged), and the largest :math:`|\text{mean gap}|` (a fraction).
    """
    key = "train" if data["metric"] == "train" else "gen"
    within = pairs = 0
    largest = 0.0
    for point in data["points"]:
        table = decode_pairs(point[key])
        for (act, model), values in table.items():
            if model != other or (act, "nn") not in table:
                continue
            nn = np.asarray([np.nan if v is None else v for v in table[(act, "nn")]], dtype=float)
            x = np.asarray([np.nan if v is None else v for v in values], dtype=float)
            common = min(nn.size, x.size)
            if common < 2 or not (np.all(np.isfinite(nn[:common])) and np.all(np.isfinite(x[:common]))):
                continue
            gap, se = gap_stats(nn, x)
            z = gap / se if se > 0 else (0.0 if gap == 0 else math.inf)
            pairs += 1
            within += agrees(z, threshold)
            largest = max(largest, abs(gap))
    return within, pairs, largest


def misses(data: Mapping[str, Any], other: str, limit: int = 3, threshold: float = THRESHOLD) -> str:
    """One line: where NN and ``other`` differ by more than ``threshold`` s.e., and by how much
    (the ``limit`` largest relative differences, and how many misses there are in all).  A
    model that diverged (NaN) is not a gap: :func:`diverged` counts it."""
    found = _miss_items(data, other, threshold)
    name = MODEL_NAMES.get(other, other)
    if not found:
        return ""
    return (
        f"NN vs {name} fails at {len(found)} (point, activation) pairs; largest relative "
        f"differences ({name} − NN)/NN: {'; '.join(found[:limit])}."
    )


def _miss_items(data: Mapping[str, Any], other: str, threshold: float = THRESHOLD) -> list[str]:
    """Every (point, activation) where NN and ``other`` differ by more than ``threshold`` s.e.,
    largest relative difference first (a diverged model is not a miss)."""
    key = "train" if data["metric"] == "train" else "gen"
    found = []
    for point in data["points"]:
        table = decode_pairs(point[key])
        for act, z in point_gaps(point, data["metric"], other).items():
            if math.isnan(z) or agrees(z, threshold):
                continue
            m_nn = float(np.mean(finite_values(table[(act, "nn")])))
            m_o = float(np.mean(finite_values(table[(act, other)])))
            rel = (m_o - m_nn) / abs(m_nn) if m_nn else math.inf
            where = ", ".join(f"{k} = {v:.3g}" for k, v in point["coords"].items())
            found.append((abs(rel), f"{act} at {where}: {rel:+.1%} (z = {z:+.1f})"))
    found.sort(key=lambda item: -item[0])
    return [text for _, text in found]


def _beyond_theorem(data: Mapping[str, Any]) -> bool:
    return any(p["config"]["data"].get("beta", 0.0) >= 1.0 for p in data["points"])


def _fmt(mean: float, se: float) -> str:
    return f"{mean:.4g} ± {se:.2g}"


def _coord_text(coords: Mapping[str, float]) -> str:
    return ", ".join(f"{v:.4g}" for v in coords.values())


def _models(data: Mapping[str, Any]) -> list[str]:
    present = {pair.model for p in data["points"] for pair in decode_pairs(p["gen"])}
    return [m for m in MODEL_ORDER if m in present] + sorted(present - set(MODEL_ORDER))


def _mean_se(values: Sequence[float] | None) -> tuple[float, float] | None:
    arr = finite_values(values or [])
    if arr.size == 0:
        return None
    se = float(np.std(arr, ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else 0.0
    return float(arr.mean()), se


def _gap_cell(z: float | None, values: Sequence[float] | None) -> str:
    """A model's cell: its gap to the network in s.e. (✗ beyond the threshold), or how many of
    its trials diverged."""
    if values is None or z is None:
        return "–"
    bad, total = _count_nan(values), len(values)
    if math.isnan(z):
        return f"diverged ({bad}/{total})" if bad else "–"
    cell = f"{z:+.2f}" + ("" if agrees(z) else " ✗")
    return cell + (f" ({bad}/{total} diverged)" if bad else "")


TABLE_HEAD = "**Per point.**"
"""Opens the per-point table of a report (the comparison with the paper goes before it)."""


def _line_table(data: Mapping[str, Any], metric: str) -> list[str]:
    """One row per point; per activation the network's mean ± s.e. and each model's gap to it
    in standard errors."""
    key = "train" if metric == "train" else "gen"
    models = _models(data)
    others = [m for m in models if m != "nn"]
    acts = list(dict.fromkeys(pair.activation for p in data["points"] for pair in decode_pairs(p[key])))
    label = data.get("xlabel") or data["vary"]
    head = [label]
    for act in acts:
        head += [f"{act} NN"] + [f"{MODEL_NAMES.get(o, o)} (z)" for o in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in data["points"]:
        gaps = {o: point_gaps(point, metric, o) for o in others}
        table = decode_pairs(point[key])
        cells = [_coord_text(point["coords"])]
        for act in acts:
            nn = _mean_se(table.get((act, "nn")))
            cells.append("–" if nn is None else _fmt(*nn))
            cells += [_gap_cell(gaps[o].get(act), table.get((act, o))) for o in others]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _values_table(data: Mapping[str, Any], metric: str) -> list[str]:
    """One row per point; per activation and model its mean ± s.e. (a theory-only figure)."""
    key = "train" if metric == "train" else "gen"
    pairs = list(dict.fromkeys(pair for p in data["points"] for pair in decode_pairs(p[key])))
    head = [data.get("xlabel") or data["vary"], *(f"{a} {MODEL_NAMES.get(m, m)}" for a, m in pairs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in data["points"]:
        table = decode_pairs(point[key])
        cells = [_coord_text(point["coords"])]
        for act, model in pairs:
            estimate = controlled_estimate(point, act, model, metric)
            value = estimate[:2] if estimate is not None else _mean_se(table.get((act, model)))
            single = len(table.get((act, model)) or ()) == 1  # one value (the limit): no s.e. to give
            cells.append("–" if value is None else f"{value[0]:.4g}" if single else _fmt(*value))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _heatmap_table(data: Mapping[str, Any]) -> list[str]:
    """Per row of ``vary_y`` (β): mean NN error, median relative gap and agreement count."""
    yv = data["vary_y"]
    rows: dict[float, list] = {}
    for point in data["points"]:
        rows.setdefault(point["coords"][yv], []).append(point)
    theory = any(pair.model == "theory" for p in data["points"] for pair in decode_pairs(p["gen"]))
    lines = [f"| {data.get('ylabel') or yv} | NN error (mean over {data.get('xlabel') or data['vary']}) | "
             "median relative gap | agree within 2 s.e. |" + (" theory within 2 s.e. |" if theory else ""),
             "|---|---|---|---|" + ("---|" if theory else "")]  # fmt: skip
    for y, points in sorted(rows.items()):
        nn_means, rel, ok = [], [], []
        for point in points:
            table = decode_pairs(point["gen"])
            for (act, model), values in table.items():
                if model != "hermite" or (act, "nn") not in table:
                    continue
                z = point_gaps(point, "gen", "hermite")[act]
                if math.isnan(z):
                    break
                m_nn = float(np.mean(finite_values(table[(act, "nn")])))
                nn_means.append(m_nn)
                rel.append(abs(m_nn - float(np.mean(finite_values(values or [])))) / abs(m_nn))
                ok.append(agrees(z))
                break
        if not ok:
            continue
        line = f"| {y:.3g} | {np.mean(nn_means):.4g} | {np.median(rel):.3g} | {sum(ok)}/{len(ok)} |"
        if theory:
            fits = [agrees(z) for p in points for z in point_gaps(p, "gen", "theory").values() if not math.isnan(z)]
            line += f" {sum(fits)}/{len(fits)} |"
        lines.append(line)
    return lines


def _parameters_line(data: Mapping[str, Any]) -> str:
    """Sizes and fixed parameters of the run (ranges where the grid changes them)."""
    configs = [p["config"] for p in data["points"]]

    def values(get) -> str:
        found = list(dict.fromkeys(get(c) for c in configs))
        return f"{found[0]:g}" if len(found) == 1 else f"{min(found):g}–{max(found):g}"

    n = values(lambda c: c["data"].get("n", 784))
    return (
        f"Parameters: n = {n}, k = {values(lambda c: c['k'])}, m = {values(lambda c: c['m'])}, "
        f"λ = {values(lambda c: c['lam'])}, seed = {values(lambda c: c['seed'])}, "
        f"activations {', '.join(configs[0]['activations'])}."
    )


def _control(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first point's control record (a figure's points share one control), if any."""
    return next((p["control"] for p in data["points"] if p.get("control")), None)


def _trials(data: Mapping[str, Any], model: str) -> list[int]:
    return sorted({len(v) for p in data["points"] for k, v in decode_pairs(p["gen"]).items() if k.model == model})


def caption(data: Mapping[str, Any]) -> str:
    """What the picture shows: markers, lines, error bars (standard errors of the mean), axes."""
    models = _models(data)
    nn_trials = ", ".join(map(str, _trials(data, "nn")))
    if data["kind"] == "heatmap":
        what = ("the relative gap |NN − Hermite|/NN of the trial means (log colour scale)"
                if data["metric"] == "gap" else "the mean error over trials")  # fmt: skip
        return f"*Colour: {what}, {nn_trials} trials per cell; {data.get('ylabel')} against {data.get('xlabel')}.*"
    parts = [f"Markers: the network, mean ± one standard error of the mean over {nn_trials} trials"] if nn_trials else []
    lines = []
    if "hermite" in models:
        lines.append("the Hermite model (mean over the same trials)")
    if "conditional" in models:
        lines.append("the conditional Gaussian model (open squares)")
    if "theory" in models:
        draws = ", ".join(map(str, _trials(data, "theory")))
        how = "a control-variate estimate" if _control(data) else "the mean"
        lines.append(f"the theory (thin line: {how} over {draws} draws; its band ± one standard error)")
    if "limit" in models:
        lines.append("the sampling-free limit (deterministic)")
    if lines:
        parts.append("lines: " + ", ".join(lines))
    from onestep_gm.experiments.figures.paper import axis_ranges  # numpy only

    ranges = axis_ranges(data)
    if ranges is not None:
        parts.append("axes: those of the published panel" + (", widened to hold our data" if ranges.widened else ""))
    return "*" + "; ".join(parts) + ".*"


def figure_report(data: Mapping[str, Any], image: str | None = None) -> str:
    """The Markdown agreement report of one figure (its data as in ``<name>.json``): the
    picture and its caption, a verdict of one line per model, the per-point table (gaps in
    standard errors), then the details."""
    metric = data["metric"]
    models = _models(data)
    quick = " (quick run)" if data.get("quick") else ""
    out = [f"## {data['figure']}: {escape_markdown(str(data['title']))}{quick}", ""]
    if image:
        out += [f"![{data['figure']}]({image})", ""]
    out += [caption(data), ""]
    if "nn" not in models:  # a theory-only figure: nothing to compare
        verdicts = [f"- Theory only: no network was simulated; {', '.join(MODEL_NAMES.get(m, m) for m in models)} "
                    "alone, nothing is compared."]  # fmt: skip
        out += ["**Verdict.**", "", *verdicts, ""]
        out += [TABLE_HEAD + f" {METRIC_NAMES[metric].capitalize()}: per model its mean ± s.e.", ""]
        out += _values_table(data, metric)
    else:
        verdicts = _verdict_lines(data, [m for m in models if m != "nn"])
        out += ["**Verdict.**", "", *(verdicts or ["- Only the network was simulated."]), ""]
        out += [TABLE_HEAD + f" {METRIC_NAMES[metric].capitalize()}: the network's mean ± s.e.; per "
                f"model its gap to the network in standard errors of the difference, z, ✗ where "
                f"|z| > {THRESHOLD:g}.", ""]  # fmt: skip
        out += _heatmap_table(data) if data["kind"] == "heatmap" else _line_table(data, metric)
    out += ["", "**Details.**", ""]
    out += [f"- {d}" for d in _details(data, models)]
    return "\n".join(out) + "\n"


def _verdict_lines(data: Mapping[str, Any], others: list[str]) -> list[str]:
    """One line per compared model: agreement counts, diverged trials, largest misses."""
    verdicts = []
    for other in others:
        line = verdict([point_gaps(p, data["metric"], other) for p in data["points"]], other)
        _every, _some, trials = diverged(data, other)
        if trials:
            line += f" {trials} of its trials diverged (NaN), left out of the means."
        worst = _miss_items(data, other)
        if worst:
            line += f" Largest misses ({MODEL_NAMES.get(other, other)} − NN)/NN: {'; '.join(worst[:2])}."
        if other == "theory":
            within, pairs, largest = paired_agreement(data, other)
            if pairs:
                line += (f" Paired on the trials both ran (each trial's own data and trained layer): "
                         f"within {THRESHOLD:g} s.e. at {within}/{pairs}, largest mean gap "
                         f"{100 * largest:.2f} %.")  # fmt: skip
        verdicts.append(f"- {line}")
    return verdicts


def _details(data: Mapping[str, Any], models: list[str]) -> list[str]:
    """The details under a report's table: errors and counts, parameters, the theory line's
    precision or control, the theorem's reach, convention and notes."""
    metric = data["metric"]
    counts = "; ".join(f"{MODEL_NAMES.get(m, m)}: one value per point" if _trials(data, m) == [1]
                       else f"{MODEL_NAMES.get(m, m)} over {', '.join(map(str, _trials(data, m)))}"
                       + (" draws" if m == "theory" else " trials") for m in models)  # fmt: skip
    details = [
        f"Errors: {METRIC_NAMES[metric]}, means ({counts}) "
        "(diverged trials, recorded as NaN, left out); s.e. = sample standard deviation / √T"
        + ("; z = (mean NN − mean model) / √(s.e.² NN + s.e.² model). " if "nn" in models else ". ") +
        f"Run time {data['seconds']:.1f} s (simulation time of the points, cached or not: "
        f"{sum(p.get('seconds', 0.0) for p in data['points']):.1f} s).",
        _parameters_line(data),
    ]
    nn_trials, theory_draws = _trials(data, "nn"), _trials(data, "theory")
    if _control(data):
        details.append(describe(_control(data)) + ".")
    elif theory_draws and nn_trials:
        details.append(_precision_line(data, theory_draws))
    if _beyond_theorem(data):
        details.append(
            "**Outside the theorem.** β = 1 at (some of) these points: the theorem gives no "
            "finite Hermite order there, so the Hermite model (fixed order) and the theory "
            "line are compared with the network as an empirical check, not as a prediction "
            "of the theorem."
        )
    if data.get("convention"):
        details.append(f"Convention: {convention_markdown(data['convention'])}")
    details += [f"Note: {note}." for note in data.get("notes", [])]
    details += [f"Engine note: {note}." for note in _engine_notes(data)]
    return details


def _precision_line(data: Mapping[str, Any], theory_draws: list[int]) -> str:
    """At how many pairs the theory line's s.e. is below the markers' (and what that means)."""
    below, pairs = theory_precision(data)
    line = (f"The theory line's standard error (over its {', '.join(map(str, theory_draws))} draws) "
            f"is below the markers' at {below} of {pairs} pairs (point, activation)")  # fmt: skip
    if below < pairs:
        line += ("; at the others the line's band (± one s.e.) is the wider, and a theory z beyond "
                 "2 there may be the line's own spread rather than a disagreement "
                 "(`onestep draws` adds draws)")  # fmt: skip
    return line + "."


_TRIAL_COUNT = re.compile(r"in (\d+) of (\d+) trials")


def _engine_notes(data: Mapping[str, Any]) -> list[str]:
    """Notes the simulations attached to their points (boundary orders, NaN models), with
    the grid points they came from; each note is listed once (notes that differ only in how
    many trials they concern are one note, with the count at each point)."""
    seen: dict[str, list[str]] = {}
    for point in data["points"]:
        where = ", ".join(f"{k} = {v:g}" for k, v in point.get("coords", {}).items())
        for note in point.get("info", {}).get("notes", []):
            count = _TRIAL_COUNT.search(note)
            key = _TRIAL_COUNT.sub("in some trials", note)
            seen.setdefault(key, []).append(where + (f" ({count[1]}/{count[2]} trials)" if count else ""))
    return [f"{note} (at {'; '.join(w for w in wheres if w) or 'every point'})" for note, wheres in seen.items()]
