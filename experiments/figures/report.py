r"""Agreement reports: does the network match its equivalent models, point by point?

For every point and activation the report lists the error (mean ± std over :math:`T`
trials) of the network, the Hermite model, the conditional Gaussian model and the theory
curve where present, and the gap to the network in units of the standard error of the
difference of two means,

.. math::  z = \frac{\bar E_{NN} - \bar E_{model}}{\sqrt{s_{NN}^2/T + s_{model}^2/T}},

with :math:`s` the sample standard deviation over trials (``ddof = 1``).  A model *agrees*
at a point when :math:`|z| \le 2`.  :func:`gather` collects every ``<name>.md`` of an output
folder (and its picture) into one Markdown page for the docs.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onestep_gm.experiments.figures.paper import PAPER_PANELS, comparison_table
from onestep_gm.experiments.results import decode_pairs
from onestep_gm.experiments.stats import THRESHOLD, agrees, gap_in_se
from onestep_gm.experiments.stats import mean_std as _stats
from onestep_gm.numerics.files import staged

MODEL_ORDER = ("nn", "hermite", "conditional", "theory")
MODEL_NAMES = {"nn": "NN", "hermite": "Hermite", "conditional": "conditional", "theory": "theory"}
METRIC_NAMES = {
    "gen": "generalisation error",
    "train": "training error",
    "gap": "generalisation error",
}


def point_gaps(point: Mapping[str, Any], metric: str, other: str) -> dict[str, float]:
    """Per activation the gap NN − ``other`` of one point, in standard errors."""
    table = decode_pairs(point["train" if metric == "train" else "gen"])
    out = {}
    for (act, model), values in table.items():
        if model != other or (act, "nn") not in table:
            continue
        m_nn, s_nn, t_nn = _stats(table[(act, "nn")])
        m_o, s_o, t_o = _stats(values)
        out[act] = gap_in_se(m_nn, s_nn, m_o, s_o, t_nn, t_o)
    return out


def verdict(
    gaps: Sequence[Mapping[str, float]], other: str = "hermite", threshold: float = THRESHOLD
) -> str:
    """One line: at how many points (per activation and in total) NN and ``other`` agree.

    ``gaps``: per point, activation → gap in standard errors (from :func:`point_gaps`).
    """
    per_act: dict[str, list[bool]] = {}
    for point in gaps:
        for act, z in point.items():
            per_act.setdefault(act, []).append(agrees(z, threshold))
    total = sum(len(v) for v in per_act.values())
    if total == 0:
        return f"No {MODEL_NAMES.get(other, other)} model in this run."
    good = sum(sum(v) for v in per_act.values())
    name = MODEL_NAMES.get(other, other)
    if len(per_act) == 1:
        return f"NN and {name} agree within {threshold:g} s.e. at {good}/{total} points."
    detail = ", ".join(f"{act} {sum(v)}/{len(v)}" for act, v in per_act.items())
    return (
        f"NN and {name} agree within {threshold:g} s.e. at {good}/{total} "
        f"(point, activation) pairs ({detail})."
    )


def agreement(data: Mapping[str, Any], other: str, threshold: float = THRESHOLD) -> tuple[int, int]:
    """(points within ``threshold`` s.e., points) of NN vs. ``other`` over every (point,
    activation) of a figure's data."""
    flags = [
        agrees(z, threshold)
        for p in data["points"]
        for z in point_gaps(p, data["metric"], other).values()
    ]
    return sum(flags), len(flags)


def misses(data: Mapping[str, Any], other: str, limit: int = 3, threshold: float = THRESHOLD) -> str:
    """One line: where NN and ``other`` differ by more than ``threshold`` s.e., and by how much
    (the ``limit`` largest relative differences, and how many misses there are in all)."""
    key = "train" if data["metric"] == "train" else "gen"
    found = []
    for point in data["points"]:
        table = decode_pairs(point[key])
        for act, z in point_gaps(point, data["metric"], other).items():
            if agrees(z, threshold):
                continue
            m_nn = _stats(table[(act, "nn")])[0]
            m_o = _stats(table[(act, other)])[0]
            rel = (m_o - m_nn) / abs(m_nn) if m_nn else math.inf
            where = ", ".join(f"{k} = {v:.3g}" for k, v in point["coords"].items())
            found.append((abs(rel), f"{act} at {where}: {rel:+.1%} (z = {z:+.1f})"))
    name = MODEL_NAMES.get(other, other)
    if not found:
        return ""
    found.sort(key=lambda item: -item[0])
    shown = "; ".join(text for _, text in found[:limit])
    return (
        f"NN vs {name} fails at {len(found)} (point, activation) pairs; largest relative "
        f"differences ({name} − NN)/NN: {shown}."
    )


def _beyond_theorem(data: Mapping[str, Any]) -> bool:
    return any(p["config"]["data"].get("beta", 0.0) >= 1.0 for p in data["points"])


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4g} ± {std:.2g}"


def _coord_text(coords: Mapping[str, float]) -> str:
    return ", ".join(f"{v:.4g}" for v in coords.values())


def _models(data: Mapping[str, Any]) -> list[str]:
    present = {pair.model for p in data["points"] for pair in decode_pairs(p["gen"])}
    return [m for m in MODEL_ORDER if m in present] + sorted(present - set(MODEL_ORDER))


def _line_table(data: Mapping[str, Any], metric: str) -> list[str]:
    key = "train" if metric == "train" else "gen"
    models = _models(data)
    others = [m for m in models if m != "nn"]
    head = [" , ".join(p for p in (data["vary"], data["vary_y"]) if p), "activation"]
    head += [MODEL_NAMES.get(m, m) for m in models]
    head += [f"z(NN−{MODEL_NAMES.get(o, o)})" for o in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in data["points"]:
        gaps = {o: point_gaps(point, metric, o) for o in others}
        table = decode_pairs(point[key])
        acts = list(dict.fromkeys(pair.activation for pair in table))
        for act in acts:
            cells = [_coord_text(point["coords"]), act]
            for m in models:
                values = table.get((act, m))
                cells.append(_fmt(*_stats(values)[:2]) if values is not None else "–")
            for o in others:
                z = gaps[o].get(act)
                cells.append("–" if z is None else f"{z:+.2f}" + ("" if agrees(z) else " ✗"))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _heatmap_table(data: Mapping[str, Any]) -> list[str]:
    """Per row of ``vary_y`` (β): mean NN error, median relative gap and agreement count."""
    yv = data["vary_y"]
    rows: dict[float, list] = {}
    for point in data["points"]:
        rows.setdefault(point["coords"][yv], []).append(point)
    theory = any(pair.model == "theory" for p in data["points"] for pair in decode_pairs(p["gen"]))
    lines = [f"| {yv} | NN error (mean over {data['vary']}) | median relative gap | "
             "agree within 2 s.e. |" + (" theory within 2 s.e. |" if theory else ""),
             "|---|---|---|---|" + ("---|" if theory else "")]  # fmt: skip
    for y, points in sorted(rows.items()):
        nn_means, rel, ok = [], [], []
        for point in points:
            table = decode_pairs(point["gen"])
            for (act, model), values in table.items():
                if model != "hermite" or (act, "nn") not in table:
                    continue
                m_nn = _stats(table[(act, "nn")])[0]
                nn_means.append(m_nn)
                rel.append(abs(m_nn - _stats(values)[0]) / abs(m_nn))
                ok.append(agrees(point_gaps(point, "gen", "hermite")[act]))
                break
        if not ok:
            continue
        line = f"| {y:.3g} | {np.mean(nn_means):.4g} | {np.median(rel):.3g} | {sum(ok)}/{len(ok)} |"
        if theory:
            fits = [agrees(z) for p in points for z in point_gaps(p, "gen", "theory").values()]
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


def figure_report(data: Mapping[str, Any], image: str | None = None) -> str:
    """The Markdown agreement report of one figure (its data as in ``<name>.json``)."""
    metric = data["metric"]
    models = _models(data)
    others = [m for m in models if m != "nn"]
    verdicts = [verdict([point_gaps(p, metric, o) for p in data["points"]], o) for o in others]
    trials = sorted({len(v) for p in data["points"] for v in p["gen"].values()})
    quick = " (quick run)" if data.get("quick") else ""
    out = [f"## {data['figure']}: {data['title']}{quick}", ""]
    if image:
        out += [f"![{data['figure']}]({image})", ""]
    out += [f"**Verdict.** {' '.join(verdicts) or 'Only the network was simulated.'}", ""]
    failing = [line for line in (misses(data, o) for o in others) if line]
    if failing:
        out += [f"**Where it fails.** {' '.join(failing)}", ""]
    if _beyond_theorem(data):
        out += [
            "**Outside the theorem.** β = 1 at (some of) these points: the theorem gives no "
            "finite Hermite order there, so the Hermite model (fixed order) and the theory "
            "line are compared with the network as an empirical check, not as a prediction "
            "of the theorem.",
            "",
        ]
    out.append(
        f"Errors: {METRIC_NAMES[metric]}, mean ± std over {', '.join(map(str, trials))} trials; "
        f"z = gap in standard errors of the difference, ✗ where |z| > {THRESHOLD:g}. "
        f"Run time {data['seconds']:.1f} s (simulation time of the points, cached or not: "
        f"{sum(p.get('seconds', 0.0) for p in data['points']):.1f} s)."
    )
    out.append(_parameters_line(data))
    if data.get("convention"):
        out.append(f"Convention: {data['convention']}")
    for note in data.get("notes", []):
        out.append(f"Note: {note}.")
    for note in _engine_notes(data):
        out.append(f"Engine note: {note}.")
    out.append("")
    out += _heatmap_table(data) if data["kind"] == "heatmap" else _line_table(data, metric)
    return "\n".join(out) + "\n"


def _engine_notes(data: Mapping[str, Any]) -> list[str]:
    """Notes the simulations attached to their points (boundary orders, NaN models), with
    the grid points they came from; identical notes are listed once."""
    seen: dict[str, list[str]] = {}
    for point in data["points"]:
        where = ", ".join(f"{k} = {v:g}" for k, v in point.get("coords", {}).items())
        for note in point.get("info", {}).get("notes", []):
            seen.setdefault(note, []).append(where)
    return [f"{note} (at {'; '.join(w for w in wheres if w) or 'every point'})" for note, wheres in seen.items()]


def _figure_order(names: Sequence[str], order: Sequence[str]) -> list[str]:
    known = [n for n in order if n in names]
    return known + sorted(set(names) - set(known))


def summary_table(datas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Markdown: per figure its size, trials and the fraction of (point, activation) pairs at
    which NN and each model agree within 2 s.e."""
    others = [m for m in MODEL_ORDER if m != "nn"]
    head = ["figure", "run", "trials"] + [f"NN vs {MODEL_NAMES[m]}" for m in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, data in datas.items():
        trials = sorted({len(v) for p in data["points"] for k, v in decode_pairs(p["gen"]).items() if k.model == "nn"})
        cells = [name, "quick" if data.get("quick") else "full size", ", ".join(map(str, trials))]
        for other in others:
            good, total = agreement(data, other)
            cells.append(f"{good}/{total} ({good / total:.0%})" if total else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _beside_paper(name: str, text: str, data: Mapping[str, Any] | None, page: Path, rel: str | None) -> str:
    """Our picture next to the published panel, and the comparison table under the verdict."""
    if name not in PAPER_PANELS:
        return text
    published = page.parent / "paper" / f"{name}.png"
    if rel is not None and published.exists():
        pair = (
            f"| ours | published, {PAPER_PANELS[name]} (Demir & Dogan 2025, MIT licence) |\n"
            f"|---|---|\n| ![{name}]({rel}) | ![{PAPER_PANELS[name]}](paper/{name}.png) |"
        )
        text = text.replace(f"![{name}]({rel})", pair, 1)
    if data is not None:
        table = comparison_table(data)
        if table:
            marker = "\nErrors: "
            at = text.find(marker)
            block = "\n".join(table) + "\n"
            text = text[:at] + "\n" + block + text[at:] if at >= 0 else text + "\n" + block
    return text


def gather(
    out_dir: str | Path, docs: str | Path = "docs/results.md", order: Sequence[str] = ()
) -> Path:
    """Collect every ``<name>.md`` of ``out_dir`` into the page ``docs``; pictures go to
    ``figures/`` next to it.  Sections follow ``order`` (the figure catalogue's order), then
    any other names alphabetically.  A summary table of the agreement per figure comes first
    (from the ``<name>.json`` files); Figures 1-3 are shown beside the published panels
    (``paper/<name>.png`` next to the page, where present) with a comparison table.  Returns
    the page's path."""
    out, page = Path(out_dir), Path(docs)
    reports = {p.stem: p for p in out.glob("*.md")}
    if not reports:
        raise ValueError(
            f"no figure reports in {out}/: run `onestep figure NAME --out {out}` first"
        )
    figures_dir = page.parent / "figures"
    sections = [
        "# Results",
        "",
        "Generated by `onestep report` from the outputs of `onestep figure`. Each section shows "
        "the picture, a one-line verdict on the agreement of the network with its equivalent "
        "models (and where it fails, by how much), and the numbers per point. Figures 1–3 "
        "stand beside the published panels (Demir & Dogan, ICLR 2025; MIT licence, copyright "
        "2025 KU-MLIP), with the published values read off the panels. Each section says "
        "whether it is a quick run (n = 300, 3 trials) or full size; `make paper` runs every "
        "figure at the paper's sizes.",
        "",
    ]
    images: dict[str, Path] = {}
    names = _figure_order(list(reports), order)
    datas = {n: json.loads((out / f"{n}.json").read_text()) for n in names if (out / f"{n}.json").exists()}
    if datas:
        sections += ["## Agreement per figure", "",
                     "Fraction of (point, activation) pairs where the network and each model "
                     "agree within 2 standard errors.", "", *summary_table(datas), ""]  # fmt: skip
    for name in names:
        text = reports[name].read_text()
        image = out / f"{name}.png"
        rel = None
        if image.exists():
            images[name] = image
            rel = os.path.relpath(figures_dir / image.name, page.parent).replace(os.sep, "/")
            text = re.sub(rf"\]\({re.escape(image.name)}\)", f"]({rel})", text)
        text = _beside_paper(name, text, datas.get(name), page, rel)
        sections += [text.rstrip("\n"), ""]
    targets = {f"image:{name}": figures_dir / image.name for name, image in images.items()}
    targets["page"] = page
    with staged(targets) as tmp:  # the page and its pictures: all or nothing
        for name, image in images.items():
            shutil.copyfile(image, tmp[f"image:{name}"])
        tmp["page"].write_text("\n".join(sections))
    return page
