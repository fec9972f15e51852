"""Does the sampling-free theory's bias at strong spikes shrink with n?  fig4a's top-left corner
(alpha = 0, ReLU, teacher along the spikes) with the spike's share held fixed, theta = 0.4375 n
(fig4a's beta = 0.862 at n = 400: theta / tau = 0.30), eta = 1, k = m = 1.25 n, at n = 400, 800
and 1600: the network, the conditional theory (sampled F-hat) and the sampling-free theory.

Usage: python benchmarks/limit_strong_spike.py OUT.json
"""

import json
import sys
import time

import numpy as np
from onestep_gm.numerics.limit_mixture import sampling_free_point
from onestep_gm.numerics.mixture import MixtureSpec

from onestep_gm import Pair, SimulationConfig, simulate

SHARE = 0.4375


def _mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def main(out: str) -> None:
    rows = []
    for n, trials in ((400, 20), (800, 20), (1600, 12)):
        spec = MixtureSpec(n=n, beta=0.862, alpha=0.0, theta=SHARE * n, teacher_direction="spikes")
        config = SimulationConfig(data=spec, k=int(1.25 * n), m=int(1.25 * n), eta=1.0, activations=("relu",),
                                  models=("nn", "theory"), trials=trials, theory_trials=3, seed=0)  # fmt: skip
        start = time.perf_counter()
        result = simulate(config)
        nn, nn_se = _mean_se(result.gen[Pair("relu", "nn")])
        theory, theory_se = _mean_se(result.gen[Pair("relu", "theory")])
        limit = sampling_free_point(config, "relu").gen_error
        rows.append({"n": n, "theta": SHARE * n, "trials": trials, "nn": nn, "nn_se": nn_se, "conditional": theory,
                     "conditional_se": theory_se, "limit": limit, "limit_vs_nn": limit / nn - 1,
                     "conditional_vs_nn": theory / nn - 1, "limit_vs_conditional": limit / theory - 1,
                     "seconds": time.perf_counter() - start})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    with open(out, "w") as fh:
        json.dump({"share": SHARE, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
