"""Time representative full-size points of ``onestep figure all`` and extrapolate the whole run.

Usage: ``python benchmarks/time_full_points.py [--json]``.  For each representative point
(the paper's sizes) it measures one trial of the simulated models (network, Hermite) and one
theory evaluation, each after a warm-up call that compiles, in wall time and in process CPU
time; then it prices every point of every figure as ``trials × trial + min(trials, 3) ×
theory`` with the cost of the nearest representative (same data kind, k scaled linearly) and
sums over the figures, counting points shared between figures once (the per-point cache).
CPU time over the machine's cores is the estimate for an otherwise idle machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from onestep_gm.experiments.figures.catalogue import FIGURES
from onestep_gm.experiments.figures.grid import point_config, point_grid
from onestep_gm.numerics.simulation import simulate

REPRESENTATIVES = [("fig1a", {"k_over_m": 1.0}), ("fig1a", {"k_over_m": 5.0}),
                   ("fig4a", {"alpha": 0.5, "beta": 0.5}), ("fig3a", {"k_over_m": 1.0}),
                   ("fig3a", {"k_over_m": 5.0}), ("fig8a", {"k_over_m": 1.0})]  # fmt: skip


def _clock(config):
    wall, cpu = time.perf_counter(), time.process_time()
    simulate(config)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, coords: dict) -> dict:
    """Seconds (wall, cpu) of one simulated trial and of one theory evaluation at a point."""
    config = dataclasses.replace(point_config(FIGURES[name], coords), trials=1)
    sims = dataclasses.replace(config, models=tuple(m for m in config.models if m != "theory"))
    _clock(config)  # compiles both paths
    both = _clock(config)
    trial = _clock(sims)
    theory = tuple(max(0.0, b - t) for b, t in zip(both, trial, strict=True))
    return {"figure": name, "coords": coords, "k": config.k, "trial": trial, "theory": theory}


def _nearest(config, table: list[dict]) -> dict:
    fashion = not config.data.has_population_law
    same = [r for r in table if ((not FIGURES[r["figure"]].base.data.has_population_law) == fashion)
            and (r["figure"] == "fig4a") == (getattr(config.data, "n", 0) == 400)]  # fmt: skip
    return min(same or table, key=lambda r: abs(r["k"] - config.k))


def extrapolate(table: list[dict], which: int) -> dict:
    """Per figure the estimated seconds (``which``: 0 wall, 1 cpu), shared points once."""
    seen, out = set(), {}
    for name, spec in FIGURES.items():
        total = 0.0
        for coords in point_grid(spec):
            config = point_config(spec, coords)
            key = repr(config)
            if key in seen:
                continue
            seen.add(key)
            ref = _nearest(config, table)
            scale = config.k / ref["k"]
            total += scale * (config.trials * ref["trial"][which]
                              + min(config.trials, config.theory_trials) * ref["theory"][which])  # fmt: skip
        out[name] = total
    return out


def main(argv: list[str]) -> int:
    table = [measure(name, coords) for name, coords in REPRESENTATIVES]
    wall, cpu = extrapolate(table, 0), extrapolate(table, 1)
    cores = os.cpu_count() or 1
    result = {"points": table, "wall_s": wall, "cpu_s": cpu, "cores": cores,
              "total_wall_s": sum(wall.values()), "total_cpu_s": sum(cpu.values()),
              "idle_estimate_s": sum(cpu.values()) / cores,
              "load": os.getloadavg()}  # fmt: skip
    if "--json" in argv:
        print(json.dumps(result, indent=1))
        return 0
    for row in table:
        print(f"{row['figure']} {row['coords']} k={row['k']}: trial {row['trial'][0]:.2f} s wall "
              f"/ {row['trial'][1]:.2f} s cpu, theory {row['theory'][0]:.2f} / {row['theory'][1]:.2f}")
    for name in FIGURES:
        print(f"{name}: {wall[name] / 60:.1f} min wall at this load, {cpu[name] / cores / 60:.1f} min idle")
    print(f"total: {result['total_wall_s'] / 60:.0f} min at this load (load {result['load'][0]:.1f}), "
          f"{result['idle_estimate_s'] / 60:.0f} min on an idle {cores}-core machine (cpu / cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
