"""``onestep bench``: engine vs naive implementation vs the machine's matmul peak."""

from __future__ import annotations

import argparse

from onestep_gm.experiments.cli.args import emit_json, nonnegative_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=positive_int, default=1000)
    parser.add_argument("--k", type=positive_int, default=1000)
    parser.add_argument("--m", type=positive_int, default=1000)
    parser.add_argument("--trials", type=positive_int, default=3, help="engine trials to average")
    parser.add_argument("--wide", type=nonnegative_float, default=5.0,
                        help="also time k = WIDE·m (dual solve); 0 to skip")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive implementation")
    parser.add_argument("--no-theory", action="store_true", help="skip the theory-curve and limit timings")
    parser.add_argument("--kernels", action="store_true",
                        help="only the theory-point table: one point per closed-kernel activation (and tanh)")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.bench import run_benchmark

    if args.kernels:
        return _kernel_table(args)
    res = run_benchmark(args.n, args.k, args.m, args.trials, args.wide, not args.no_naive,
                        not args.no_theory)
    if args.json:
        emit_json(res)
        return 0
    print(f"device: {res['device']}")
    print(f"n = {res['n']}, k = {res['k']}, m = {res['m']}; activations {', '.join(res['activations'])} × nn, hermite")
    print(f"matmul peak: {res['matmul_peak_gflops_float64']:.1f} GFLOP/s float64, "
          f"{res['matmul_peak_gflops_float32']:.1f} GFLOP/s float32; one trial = {res['trial_gflop']:.1f} GFLOP")
    for dtype in ("float64", "float32"):
        print(f"engine ({dtype} products, sampled test errors): {res[f'engine_seconds_{dtype}']:.3f} s/trial, "
              f"{res[f'engine_gflops_{dtype}']:.1f} GFLOP/s = {100 * res[f'engine_fraction_of_peak_{dtype}']:.0f}% of the float64 peak")
    if "naive_seconds" in res:
        print(f"naive (best of 2, warmed up): {res['naive_seconds']:.3f} s/trial -> speed-up "
              f"{res['speedup_float64']:.1f}x (float64), {res['speedup_float32']:.1f}x (float32)")
    print(f"lean NumPy baseline (network only, best of 2): {res['baseline_seconds']:.3f} s/trial")
    for label, what in (("nn", "network only"), ("nn_hermite_theory", "network + Hermite + theory")):
        print(f"engine at its defaults (exact test errors), {what}: " + ", ".join(
            f"{res[f'engine_{label}_seconds_{d}']:.3f} s/trial ({d}, baseline/engine "
            f"{res[f'baseline_over_{label}_{d}']:.2f}x)" for d in ("float64", "float32")))
    if "wide" in res:
        w = res["wide"]
        line = (f"k/m = {w['k'] / res['m']:.1f} ({w['trial_gflop']:.0f} GFLOP): engine "
                f"{w['engine_seconds_float64']:.3f} s/trial (float64), {w['engine_seconds_float32']:.3f} s (float32)")
        if "naive_seconds" in w:
            line += (f", naive (best of 2) {w['naive_seconds']:.3f} s -> speed-up {w['speedup_float64']:.1f}x (float64), "
                     f"{w['speedup_float32']:.1f}x (float32)")
        print(line)
    if "theory_seconds" in res:
        theory = res["theory_seconds"]
        if isinstance(theory, dict):
            for act, sec in theory.items():
                print(f"theory point {act}: {sec:.3f} s vs one simulated nn trial of {act}: "
                      f"{res['nn_trial_seconds'][act]:.3f} s")
        else:
            print(f"theory point: {theory}")
    if "limit" in res:
        lim = res["limit"]
        print(f"sampling-free limit (isotropic; tanh, constant readout): one point {lim['point_ms_best']:.2f} ms "
              f"(median {lim['point_ms_median']:.2f} ms) after {lim['compile_seconds']:.1f} s of compilation; "
              f"a 30-point curve {lim['curve_ms_per_point']:.2f} ms per point")
    if "limit_mixture" in res:
        mix = res["limit_mixture"]
        print(f"sampling-free mixture theory (relu, paper default point): one point {mix['point_ms_best']:.1f} ms "
              f"(median {mix['point_ms_median']:.1f} ms) after {mix['compile_seconds']:.1f} s of compilation; "
              f"fig4a's {mix['heatmap_points']}-point heat map {mix['heatmap_seconds']:.1f} s "
              f"({mix['heatmap_first_seconds']:.1f} s on its first pass, compiling its shapes)")
    return 0


def _kernel_table(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs
    from onestep_gm.experiments.bench import device_label, time_theory_table

    rows = time_theory_table(args.n, args.k, args.m)
    if args.json:
        emit_json({"device": device_label(), "n": args.n, "k": args.k, "m": args.m, "theory_points": rows})
        return 0
    print(f"theory point (population moments + ridge equivalent), n = {args.n}, k = {args.k}, "
          f"m = {args.m}, zero-mean mixture, on {device_label()}; each activation timed "
          "alternately with relu, best of 5 each:")
    print(f"{'activation':<12} {'seconds':>8} {'relu':>8} {'ratio':>6}  rule")
    for row in rows:
        print(f"{row['activation']:<12} {row['seconds']:>8.3f} {row['relu_seconds']:>8.3f} "
              f"{row['ratio']:>6.2f}  {row['rule']}")
    return 0
