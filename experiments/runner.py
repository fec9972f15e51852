"""Moved to :mod:`onestep_gm.experiments.figures.runner`; kept for the package facade's lazy imports."""

from onestep_gm.experiments.figures.runner import run_figure

__all__ = ["run_figure"]
