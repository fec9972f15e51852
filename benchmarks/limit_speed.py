"""Time one point of the sampling-free isotropic limit after compilation (issue 26: <= 10 ms).

    python -m benchmarks.limit_speed [--repeats 50]

Prints the compile time, then the best and median warm time per point for a few
(activation, teacher, readout) triples, and the per-point time of a 30-point curve.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from onestep_gm.numerics.limit import IsotropicLimit, limit_curve, limit_point

CASES = [("tanh", "tanh", "constant"), ("relu", "relu", "constant"), ("tanh", "tanh", "gaussian"),
         ("relu", "relu", "gaussian")]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args(argv)
    for act, teacher, readout in CASES:
        def spec(a, act=act, teacher=teacher, readout=readout):
            return IsotropicLimit(alpha=a, alpha_step=0.5, eta_tilde=1.0, penalty=0.01, activation=act,
                                  teacher=teacher, readout_init=readout)
        t0 = time.perf_counter()
        limit_point(spec(1.0))
        compile_s = time.perf_counter() - t0
        times = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            limit_point(spec(0.5 + 0.05 * i))
            times.append(time.perf_counter() - t0)
        limit_curve(spec(1.0), [0.5 + 0.1 * i for i in range(30)])  # compile the batched program
        t0 = time.perf_counter()
        limit_curve(spec(1.0), [0.6 + 0.1 * i for i in range(30)])
        curve = (time.perf_counter() - t0) / 30
        print(json.dumps({"activation": act, "teacher": teacher, "readout": readout,
                          "compile_s": round(compile_s, 2), "best_ms": round(1e3 * min(times), 2),
                          "median_ms": round(1e3 * statistics.median(times), 2),
                          "curve_ms_per_point": round(1e3 * curve, 2)}), flush=True)


if __name__ == "__main__":
    main()
