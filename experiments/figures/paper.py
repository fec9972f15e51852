r"""The published Figures 1-3 beside ours: the values read off the paper's panels and the tables.

Demir & Dogan, ICLR 2025 (arXiv 2503.00856), Figures 1-3, as published in the authors' code
repository (MIT licence, copyright 2025 KU-MLIP); copies and per-panel crops are in the docs'
``paper/`` folder.  :data:`PAPER_MARKERS` holds the network's markers of every panel, read off
the PNGs: marker centres located by colour, both axes calibrated on major ticks whose labels
were read by eye (``tools/read_paper_panels.py``; about ±1% of the axis range, more where two
markers overlap).  The ReLU and sigmoid markers of Figure 2(a) at :math:`\rho_1 \in \{0, 1\}`
sit on the axis and were read by eye as 0.  Markers hidden behind another colour are missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from onestep_gm.experiments.results import decode_pairs
from onestep_gm.experiments.stats import mean_std

PAPER_PANELS = {
    "fig1a": "Figure 1(a)", "fig1b": "Figure 1(b)", "fig1c": "Figure 1(c)",
    "fig2a": "Figure 2(a)", "fig2b": "Figure 2(b)", "fig2c": "Figure 2(c)",
    "fig3a": "Figure 3(a)", "fig3b": "Figure 3(b)",
}  # fmt: skip
"""Our figure name → the published panel it reproduces."""

PAPER_AXES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "fig1a": ((-0.14, 5.24), (0.01, 0.05)),
    "fig1b": ((-0.05, 1.05), (-0.006, 0.165)),
    "fig1c": ((-0.05, 1.05), (0.0, 0.177)),
    "fig2a": ((-0.05, 1.05), (0.0, 1.0)),
    "fig2b": ((-1.1, 1.1), (0.0088, 0.0357)),
    "fig2c": ((0.55, 10.45), (0.0157, 0.0894)),
    "fig3a": ((-0.23, 5.25), (0.0, 1.2)),
    "fig3b": ((-0.23, 5.25), (0.0, 1.0)),
}
"""The published panels' axis ranges ((x lo, x hi), (y lo, y hi)): each panel's frame read in
data units through the calibration of ``tools/read_paper_panels.py`` (its ``PANELS``)."""


class AxisRanges(NamedTuple):
    """The axis ranges of one of our panels drawn beside a published one."""

    x: tuple[float, float]
    y: tuple[float, float]
    widened: bool
    """Whether our data leave the published ranges, which were widened to hold them."""


def axis_ranges(data: Mapping[str, Any]) -> AxisRanges | None:
    """The published panel's ranges for a figure of :data:`PAPER_AXES` (``None`` for another),
    widened (by 3% of the span) where our means leave them (the network's with ± one standard
    error): no marker or line we computed is cut off (a theory band may be)."""
    name = data.get("figure")
    if name not in PAPER_AXES or data.get("kind") != "line":
        return None
    (x0, x1), (y0, y1) = PAPER_AXES[name]
    key = "train" if data.get("metric") == "train" else "gen"
    xs, lows, highs = [], [], []
    for point in data["points"]:
        xs.append(float(point["coords"][data["vary"]]))
        for pair, values in decode_pairs(point[key]).items():
            arr = np.asarray(values, dtype=float)
            arr = arr[np.isfinite(arr)]
            if arr.size == 0:
                continue
            se = float(np.std(arr, ddof=1) / math.sqrt(arr.size)) if arr.size > 1 and pair.model == "nn" else 0.0
            lows.append(float(arr.mean()) - se)
            highs.append(float(arr.mean()) + se)
    pad_x, pad_y = 0.03 * (x1 - x0), 0.03 * (y1 - y0)
    nx0 = min(x0, min(xs, default=x0) - pad_x) if xs and min(xs) < x0 else x0
    nx1 = max(x1, max(xs) + pad_x) if xs and max(xs) > x1 else x1
    ny0 = min(lows) - pad_y if lows and min(lows) < y0 else y0
    ny1 = max(highs) + pad_y if highs and max(highs) > y1 else y1
    widened = (nx0, nx1, ny0, ny1) != (x0, x1, y0, y1)
    return AxisRanges((nx0, nx1), (ny0, ny1), widened)


_ALPHA = [float(v) for v in np.linspace(0, 1, 20)]
_BETA = [float(v) for v in np.linspace(0, 1, 10)]
_ALIGN = [float(v) for v in np.linspace(-1, 1, 20)]
TABLE_X: dict[str, tuple[float, ...]] = {
    "fig1a": (0.1, 0.4, 1.0, 2.0, 4.0),
    "fig1b": tuple(_ALPHA[i] for i in (4, 8, 12, 16, 19)),
    "fig1c": tuple(_BETA[i] for i in (0, 4, 7, 9)),
    "fig2a": tuple(_BETA[i] for i in (0, 3, 6, 9)),
    "fig2b": tuple(_ALIGN[i] for i in (0, 4, 8, 12, 19)),
    "fig2c": (1.0, 2.0, 5.0, 10.0),
    "fig3a": (0.3, 0.7, 1.0, 2.0, 4.0),
    "fig3b": (0.3, 0.7, 1.0, 2.0, 4.0),
}
"""The x-values of each comparison table (3-5 per curve, where the paper's marker is readable)."""

THRESHOLD = 2.0
QUICK_REASON = (
    "quick run: n = 300 (784 for Fashion-MNIST), m = 300 (200), 3 trials, not the paper's sizes"
)
REASONS: dict[str, str] = {
    "fig1a": "the paper draws one mixture and one set of datasets for the whole panel (trials "
             "redraw only F and w), so its curve carries that one draw's offset; ours redraws them",
    "fig1b": "the paper draws one mixture per point and redraws only F and w; ours redraws the data",
    "fig1c": "the paper draws one mixture per point and redraws only F and w; ours redraws the data",
    "fig2a": "classification with unequal classes: the paper's batches hold exactly rho_1 m samples "
             "of class 1, ours draw the class of each sample",
    "fig2b": "unexplained at this size; the paper redraws the data per trial as we do",
    "fig2c": "spike sizes theta U(0,1) are drawn per trial: 100 trials of the paper vs ours",
    "fig3a": "the paper's images came from a conditional GAN trained on Fashion-MNIST; ours are "
             "the real images",
    "fig3b": "the paper's images came from a conditional GAN trained on Fashion-MNIST; ours are "
             "the real images",
}  # fmt: skip
"""One-line reason for a gap beyond :data:`THRESHOLD` spreads, per panel."""

PAPER_MARKERS: dict[str, dict[str, dict[float, float]]] = {
    'fig1a': {
        'relu': {0.1: 0.0232, 0.4: 0.0239, 0.7: 0.0228, 1: 0.0209, 1.5: 0.019, 4: 0.0155, 5: 0.0152},
        'tanh': {0.1: 0.0338, 0.4: 0.0361, 0.7: 0.035, 1: 0.0332, 1.5: 0.0313, 2: 0.0304, 3: 0.0294, 4: 0.0291, 5: 0.0289},
        'sigmoid': {0.1: 0.0219, 0.4: 0.0198, 0.7: 0.0187, 1: 0.0181, 1.5: 0.0177, 2: 0.0173, 3: 0.017, 4: 0.0169, 5: 0.0168},
    },
    'fig1b': {
        'relu': {0.526316: 0.0263, 0.578947: 0.0316, 0.631579: 0.0379, 0.684211: 0.0472, 0.736842: 0.0541, 0.789474: 0.0655, 0.842105: 0.0752, 0.894737: 0.083, 0.947368: 0.0875, 1: 0.0934},
        'tanh': {0.210526: 0.01, 0.263158: 0.0119, 0.315789: 0.0144, 0.368421: 0.018, 0.421053: 0.0232, 0.473684: 0.0327, 0.526316: 0.0396, 0.578947: 0.0489, 0.631579: 0.06, 0.684211: 0.0749, 0.736842: 0.0846, 0.789474: 0.1023, 0.842105: 0.1201, 0.894737: 0.1297, 0.947368: 0.1446, 1: 0.1559},
        'sigmoid': {0: 0.0015, 0.0526316: 0.002, 0.105263: 0.0029, 0.157895: 0.0035, 0.210526: 0.0049, 0.263158: 0.0059, 0.315789: 0.0078, 0.368421: 0.0096, 0.421053: 0.0121, 0.473684: 0.0165, 0.526316: 0.021, 0.578947: 0.0258, 0.631579: 0.0312, 0.684211: 0.0397, 0.736842: 0.0451, 0.789474: 0.0549, 0.842105: 0.0645, 0.894737: 0.0731, 0.947368: 0.0793, 1: 0.0833},
    },
    'fig1c': {
        'relu': {0: 0.1067, 0.111111: 0.0928, 0.222222: 0.0813, 0.333333: 0.0629, 0.444444: 0.0498, 0.555556: 0.0377, 0.666667: 0.0286},
        'tanh': {0: 0.169, 0.111111: 0.146, 0.222222: 0.1277, 0.333333: 0.1007, 0.444444: 0.0788, 0.555556: 0.0595, 0.666667: 0.0421, 0.777778: 0.0296, 0.888889: 0.0208, 1: 0.0161},
        'sigmoid': {0: 0.0917, 0.111111: 0.078, 0.222222: 0.0667, 0.333333: 0.0536, 0.444444: 0.0418, 0.555556: 0.0311, 0.666667: 0.0227, 0.777778: 0.0155, 0.888889: 0.0108, 1: 0.008},
    },
    'fig2a': {
        'relu': {0: 0.0, 0.111111: 0.2923, 0.222222: 0.4968, 0.333333: 0.6415, 0.444444: 0.705, 0.555556: 0.7111, 0.666667: 0.6348, 0.777778: 0.5105, 0.888889: 0.2892, 1: 0.0},
        'tanh': {0: 0.7306, 0.111111: 0.7618, 0.222222: 0.7498, 0.333333: 0.7474, 0.444444: 0.7367, 0.555556: 0.7436, 0.666667: 0.7425, 0.777778: 0.7466, 0.888889: 0.7518, 1: 0.7597},
        'sigmoid': {0: 0.0, 0.111111: 0.2148, 0.222222: 0.3696, 0.333333: 0.4815, 0.444444: 0.531, 0.555556: 0.5338, 0.666667: 0.4771, 0.777778: 0.3772, 0.888889: 0.2148, 1: 0.0},
    },
    'fig2b': {
        'relu': {-1: 0.012, -0.894737: 0.0128, -0.789474: 0.0133, -0.684211: 0.0142, -0.578947: 0.0147, -0.473684: 0.016, -0.368421: 0.0169, -0.263158: 0.0183, -0.157895: 0.0201, -0.0526316: 0.0216, 0.0526316: 0.0214, 0.157895: 0.0196, 0.263158: 0.0184, 0.368421: 0.017, 0.473684: 0.016, 0.578947: 0.0152, 0.684211: 0.014, 0.789474: 0.0132, 0.894737: 0.0126, 1: 0.0121},
        'tanh': {-1: 0.0189, -0.894737: 0.02, -0.789474: 0.0207, -0.684211: 0.0225, -0.578947: 0.0233, -0.473684: 0.025, -0.368421: 0.0268, -0.263158: 0.0289, -0.157895: 0.0319, -0.0526316: 0.0343, 0.0526316: 0.0337, 0.157895: 0.031, 0.263158: 0.0292, 0.368421: 0.0267, 0.473684: 0.0251, 0.578947: 0.0239, 0.684211: 0.0222, 0.789474: 0.021, 0.894737: 0.02, 1: 0.019},
        'sigmoid': {-1: 0.01, -0.894737: 0.0106, -0.789474: 0.011, -0.684211: 0.0118, -0.578947: 0.0122, -0.473684: 0.0132, -0.368421: 0.014, -0.263158: 0.0152, -0.157895: 0.0167, -0.0526316: 0.0181, 0.0526316: 0.018, 0.157895: 0.0164, 0.263158: 0.0154, 0.368421: 0.0142, 0.473684: 0.0133, 0.578947: 0.0124, 0.684211: 0.0116, 0.789474: 0.0111, 0.894737: 0.0105, 1: 0.0101},
    },
    'fig2c': {
        'relu': {1: 0.055, 2: 0.0337, 3: 0.0288, 4: 0.026, 5: 0.0245, 6: 0.0243, 7: 0.0243, 8: 0.0233, 9: 0.0235, 10: 0.0228},
        'tanh': {1: 0.0861, 2: 0.0532, 3: 0.0457, 4: 0.0409, 5: 0.0387, 6: 0.0385, 7: 0.0381, 8: 0.037, 9: 0.0372, 10: 0.0362},
        'sigmoid': {1: 0.0458, 2: 0.0282, 3: 0.024, 4: 0.0217, 5: 0.0204, 6: 0.0204, 7: 0.0201, 8: 0.0196, 9: 0.0196, 10: 0.019},
    },
    'fig3a': {
        'relu': {0.4: 0.4704, 0.7: 0.4696, 1: 0.4149, 1.5: 0.35, 2: 0.3072, 3: 0.2687, 4: 0.2496, 5: 0.2397},
        'tanh': {0.3: 0.6476, 0.4: 0.7057, 0.5: 0.7436, 0.7: 0.7766, 1: 0.7731, 1.5: 0.7319, 2: 0.705, 3: 0.6762, 4: 0.6584, 5: 0.6544},
        'sigmoid': {0.4: 0.5561, 0.7: 0.5491, 1: 0.5468, 1.5: 0.543, 2: 0.5384, 3: 0.535, 4: 0.5345, 5: 0.5331},
    },
    'fig3b': {
        'relu': {0.7: 0.5269, 1.1: 0.462, 1.5: 0.4129, 2: 0.3586, 3: 0.3099, 4: 0.294, 5: 0.2798},
        'tanh': {0.3: 0.662, 0.4: 0.7124, 0.5: 0.752, 0.7: 0.7867, 1: 0.7959, 1.5: 0.7567, 2: 0.7287, 3: 0.7008, 4: 0.6953, 5: 0.6813},
        'sigmoid': {0.01: 0.504, 0.1: 0.5372, 0.4: 0.5649, 0.7: 0.5609, 1: 0.5571, 1.5: 0.553, 2: 0.5482, 3: 0.545, 4: 0.5456, 5: 0.5432},
    },
}  # fmt: skip


def reading_precision(name: str) -> float:
    """About 1% of the published panel's axis range: 1% of the spread of its read-off markers (a
    lower bound, since the axis spans at least the markers)."""
    values = [v for curve in PAPER_MARKERS.get(name, {}).values() for v in curve.values()]
    return 0.01 * (max(values) - min(values)) if values else 0.0


def paper_value(name: str, activation: str, x: float) -> float | None:
    """The published network value of ``activation`` at ``x`` in panel ``name`` (or ``None``)."""
    for key, value in PAPER_MARKERS.get(name, {}).get(activation, {}).items():
        if math.isclose(key, x, rel_tol=1e-4, abs_tol=1e-6):
            return value
    return None


def _ours(data: Mapping[str, Any], activation: str, x: float) -> Sequence[float] | None:
    key = "train" if data["metric"] == "train" else "gen"
    for point in data["points"]:
        if math.isclose(point["coords"][data["vary"]], x, rel_tol=1e-4, abs_tol=1e-6):
            return decode_pairs(point[key]).get((activation, "nn"))
    return None


def comparison_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    r"""Per table x-value and activation: the paper's value, ours (mean and standard error of
    the mean over the finite trials) and the gap ``(ours - paper) / sigma`` with
    :math:`\sigma = \sqrt{2\,\mathrm{se}^2 + r^2}`: the published marker is a mean over as many
    trials of the same protocol (its s.e. taken as ours) read off to :math:`r`
    (:func:`reading_precision`)."""
    name = data["figure"]
    r = reading_precision(name)
    rows = []
    for x in TABLE_X.get(name, ()):
        for act in ("relu", "tanh", "sigmoid"):
            paper = paper_value(name, act, x)
            if paper is None:
                continue
            values = _ours(data, act, x)
            row: dict[str, Any] = {"x": x, "activation": act, "paper": paper, "mean": None,
                                   "se": None, "gap": None}  # fmt: skip
            finite = None if values is None else [v for v in values if v is not None and math.isfinite(v)]
            if finite:
                mean, std, count = mean_std(finite)
                row["mean"], row["se"] = mean, std / math.sqrt(count)
                sigma = math.sqrt(2 * row["se"] ** 2 + r**2)
                diff = mean - paper
                row["gap"] = diff / sigma if sigma > 0 else math.copysign(math.inf, diff)
            rows.append(row)
    return rows


FOOTNOTE_MARKS = "abcdefghij"


def comparison_table(data: Mapping[str, Any]) -> list[str]:
    """Markdown: one row per x-value, per activation the paper's value (read off its panel),
    ours (mean ± s.e.) and the gap in standard errors (:func:`comparison_rows`); a gap beyond
    :data:`THRESHOLD` is marked ✗ with a footnote giving its reason (each reason once)."""
    name = data["figure"]
    rows = comparison_rows(data)
    if not rows:
        return []
    trials = sorted({len(v) for p in data["points"] for k, v in p["gen"].items() if k.endswith("|nn")})
    size = "quick run" if data.get("quick") else "full size"
    acts = [a for a in ("relu", "tanh", "sigmoid") if any(r["activation"] == a for r in rows)]
    reasons: list[str] = []
    by_x: dict[float, dict[str, dict]] = {}
    for row in rows:
        by_x.setdefault(row["x"], {})[row["activation"]] = row
    label = data.get("xlabel") or data["vary"]
    head = [label] + [f"{a} {col}" if col == "paper" else col for a in acts for col in ("paper", "ours", "gap")]
    out = [
        f"**Beside {PAPER_PANELS[name]}.** The network's value read off the published panel, "
        f"ours ({size}, mean ± s.e. over {', '.join(map(str, trials))} trials) and the gap "
        "(ours − paper)/σ with σ = √(2 s.e.² + r²): the published marker taken as a mean over as "
        f"many trials as ours, read off to r = 1% of the panel's range (≥ {reading_precision(name):.2g}). "
        f"Gaps beyond {THRESHOLD:g} are marked ✗ with a footnote.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for x, per_act in by_x.items():
        cells = [f"{x:.3g}"]
        for act in acts:
            row = per_act.get(act)
            if row is None:
                cells += ["–", "–", "–"]
                continue
            if row["mean"] is None:
                cells += [f"{row['paper']:.4g}", "not in this run", "–"]
                continue
            gap = f"{row['gap']:+.1f}"
            if abs(row["gap"]) > THRESHOLD:
                reason = QUICK_REASON if data.get("quick") else REASONS.get(name, "unexplained")
                if reason not in reasons:
                    reasons.append(reason)
                gap += f" ✗ ({FOOTNOTE_MARKS[reasons.index(reason)]})"
            cells += [f"{row['paper']:.4g}", f"{row['mean']:.4g} ± {row['se']:.2g}", gap]
        out.append("| " + " | ".join(cells) + " |")
    if reasons:
        out += [""] + [f"- ({FOOTNOTE_MARKS[i]}) {reason}." for i, reason in enumerate(reasons)]
    return out
