"""Moved to :mod:`onestep_gm.experiments.figures.catalogue`; kept for the package facade's lazy imports."""

from onestep_gm.experiments.figures.catalogue import FIGURES, FigureSpec

__all__ = ["FIGURES", "FigureSpec"]
