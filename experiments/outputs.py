"""Moved to :mod:`onestep_gm.experiments.figures.outputs`; kept for the package facade's lazy imports."""

from onestep_gm.experiments.figures.outputs import save_figure

__all__ = ["save_figure"]
