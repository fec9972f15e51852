"""The sampling-free mixture theory against the paper figures' saved points (simulation and the
conditional theory), per figure and activation.  Writes one JSON line per (figure, point, activation).

Usage: python benchmarks/limit_mixture_checks.py OUT.jsonl fig1a fig1b ...
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from onestep_gm.experiments.results import config_from_json
from onestep_gm.numerics.limit_mixture import sampling_free_point as mixture_point

ROOT = Path(__file__).resolve().parents[1] / "docs" / "paper-full"


def stats(values):
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan"), int(v.size)


def main(out, figures):
    with open(out, "a") as fh:
        for name in figures:
            fig = json.loads((ROOT / f"{name}.json").read_text())
            metric = fig["metric"]
            for point in fig["points"]:
                config = config_from_json(point["config"])
                for act in config.activations:
                    t = time.perf_counter()
                    try:
                        p = mixture_point(config, act)
                        value = p.gen_error if metric == "gen" else p.train_error
                        other = p.train_error if metric == "gen" else p.gen_error
                    except ValueError as exc:
                        value, other = None, str(exc)
                    row = {"figure": name, "coords": point["coords"], "activation": act, "metric": metric,
                           "limit": value, "limit_other": other, "seconds": time.perf_counter() - t}
                    for model in ("nn", "theory"):
                        key = f"{act}|{model}"
                        if key in point[metric]:
                            row[model] = stats(point[metric][key])
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
                    nn, th = row.get("nn"), row.get("theory")
                    if value is not None and nn:
                        print(name, point["coords"], act, f"limit {value:.5g} nn {nn[0]:.5g}±{nn[1]:.2g} "
                              f"({(value - nn[0]) / nn[1]:+.1f} se) theory {th[0] if th else float('nan'):.5g} "
                              f"({100 * (value / th[0] - 1) if th else float('nan'):+.2f} %)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
