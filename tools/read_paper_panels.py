"""Read the network's markers off the published panels of Figures 1-3 (Demir & Dogan, 2025).

Usage: ``python tools/read_paper_panels.py [FOLDER]`` (default ``docs/paper``, the copies of
the published PNGs).  Writes each panel cropped to ``FOLDER/<panel>.png`` (shown beside ours
on the results page; enlarged :data:`CROP_SCALE` times by Lanczos resampling so that it is
drawn at the width of ours: the published PNGs hold about 600 px per panel, so the crops hold
no more detail than the original) and prints, per panel and activation, the value of every network
marker, as the Python literal kept in ``experiments/paper.py``.

How: each panel's frame and major tick marks are located in pixels (below); the tick labels
were read by eye and typed in ``PANELS``, which calibrates both axes linearly.  Markers are
the pixels of each activation's colour that survive an erosion (the lines, 3-4 px wide, do
not; the filled circles, ~14 px, do); each connected blob's centre is a marker.  Blobs whose
x is not within a third of a grid step of a grid value, or that lie in the panel's legend
(above ``LEGEND_ABOVE``), are dropped.  Where two
markers of different colours overlap, the hidden part shifts the centre by a few pixels
(about 1% of the axis range).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

COLOURS = {"relu": (0, 114, 178), "tanh": (230, 159, 0), "sigmoid": (204, 121, 167)}

K_OVER_M = (0.1, 0.3, 0.4, 0.5, 0.7, 0.9, 1, 1.1, 1.5, 2, 3, 4, 5)
K_OVER_M_FASHION = (0.01, *K_OVER_M)


def _lin(lo: float, hi: float, num: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linspace(lo, hi, num))


# panel: (file, frame box left, right, top, bottom in px, x grid,
#         two x ticks (px, value), two y ticks (px, value)); tick labels read by eye
PANELS = {
    "fig1a": ("Figure1.png", (120, 597, 53, 408), K_OVER_M, ((132.5, 0), (575.5, 5)), ((319.5, 0.02), (141.5, 0.04))),
    "fig1b": ("Figure1.png", (731, 1198, 64, 412), _lin(0, 1, 20), ((752.0, 0), (1177.0, 1)), ((399.5, 0.0), (93.5, 0.15))),
    "fig1c": ("Figure1.png", (1322, 1799, 54, 409), _lin(0, 1, 10), ((1343.5, 0), (1777.5, 1)), ((309.0, 0.05), (108.5, 0.15))),
    "fig2a": ("Figure2.png", (117, 604, 70, 433), _lin(0, 1, 10), ((140.0, 0), (580.5, 1)), ((360.5, 0.2), (142.5, 0.8))),
    "fig2b": ("Figure2.png", (727, 1194, 79, 427), _lin(-1, 1, 20), ((748.0, -1), (1173.0, 1)), ((412.0, 0.01), (87.5, 0.035))),
    "fig2c": ("Figure2.png", (1307, 1784, 80, 435), tuple(range(1, 11)), ((1377.0, 2), (1762.5, 10)), ((414.5, 0.02), (125.5, 0.08))),
    "fig3a": ("Figure3.png", (445, 932, 64, 427), K_OVER_M_FASHION, ((465.5, 0), (909.5, 5)), ((366.5, 0.2), (124.5, 1.0))),
    "fig3b": ("Figure3.png", (1035, 1522, 64, 427), K_OVER_M_FASHION, ((1055.5, 0), (1499.5, 5)), ((354.5, 0.2), (136.5, 0.8))),
}  # fmt: skip


LEGEND_ABOVE = {"fig1a": 0.042, "fig2a": 0.85, "fig3a": 1.0}
"""Values above which a blob is a legend entry, not a marker (panels with a legend only)."""


def _axis(ticks):
    (p0, v0), (p1, v1) = ticks
    return lambda p: v0 + (p - p0) * (v1 - v0) / (p1 - p0)


def read_panel(folder: Path, name: str) -> dict[str, dict[float, float]]:
    """Per activation, grid value → value of the network's marker (markers not found: absent)."""
    file, (left, right, top, bottom), grid, xt, yt = PANELS[name]
    rgb = np.asarray(Image.open(folder / file).convert("RGB")).astype(float)
    to_x, to_y = _axis(xt), _axis(yt)
    step = min(np.diff(sorted(grid)))
    out: dict[str, dict[float, float]] = {}
    for act, colour in COLOURS.items():
        mask = np.linalg.norm(rgb - np.asarray(colour), axis=2) < 60
        mask[:, : left + 2] = mask[:, right - 1 :] = False
        mask[: top + 2] = mask[bottom - 1 :] = False
        blobs, count = ndimage.label(ndimage.binary_erosion(mask, np.ones((7, 7))))
        found: dict[float, float] = {}
        for y, x in ndimage.center_of_mass(mask, blobs, range(1, count + 1)):
            xv = to_x(x)
            if to_y(y) > LEGEND_ABOVE.get(name, np.inf):
                continue
            nearest = min(grid, key=lambda g: abs(g - xv))
            if abs(nearest - xv) <= step / 3 and nearest not in found:
                found[float(nearest)] = round(float(to_y(y)), 4)
        out[act] = dict(sorted(found.items()))
    return out


CROP_SCALE = 2
"""Enlargement of the crops (Lanczos): about 1200 px wide, drawn like our ~1300 px figures."""


def crop_panels(folder: Path) -> None:
    """Write ``<folder>/<panel>.png``: each panel of the published figures, frame and labels,
    enlarged :data:`CROP_SCALE` times."""
    for name, (file, (left, right, top, bottom), *_rest) in PANELS.items():
        image = Image.open(folder / file)
        box = (max(0, left - 110), max(0, top - 20), min(image.width, right + 15), min(image.height, bottom + 75))
        crop = image.crop(box)
        size = (crop.width * CROP_SCALE, crop.height * CROP_SCALE)
        crop.resize(size, Image.Resampling.LANCZOS).save(folder / f"{name}.png", optimize=True)


def main(folder: str = "docs/paper") -> None:
    crop_panels(Path(folder))
    values = {name: read_panel(Path(folder), name) for name in PANELS}
    print("PAPER_MARKERS = {")
    for name, acts in values.items():
        print(f"    {name!r}: {{")
        for act, points in acts.items():
            pairs = ", ".join(f"{x:.6g}: {v:.4g}" for x, v in points.items())
            print(f"        {act!r}: {{{pairs}}},")
        print("    },")
    print("}")


if __name__ == "__main__":
    main(*sys.argv[1:])
