"""Moved to :mod:`onestep_gm.experiments.figures.sweepspec`; kept for the package facade's lazy imports."""

from onestep_gm.experiments.figures.sweepspec import load_sweep

__all__ = ["load_sweep"]
