"""Figures: paper panels, TOML sweeps, the theorem's order diagram and convergence study, and
learning curves, all behind one protocol (:mod:`onestep_gm.experiments.figures.protocol`).

Run any of them with :func:`onestep_gm.experiments.figures.runner.run_figure`; the modules load
on use, so importing this package loads neither JAX nor matplotlib.
"""
