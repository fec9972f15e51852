"""``onestep simulate``: one point, every requested activation × model, mean ± std over trials."""

from __future__ import annotations

import argparse
import warnings

from onestep_gm.experiments.cli.args import (
    DATA_FORMS,
    class_list,
    comma_list,
    data_source,
    emit_json,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    seed,
    unit_interval,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--activation", type=comma_list, default=["relu", "tanh", "sigmoid"],
                        help="comma list of registry names or expressions in x (default relu,tanh,sigmoid)")
    parser.add_argument("--model", type=comma_list, default=["nn", "hermite"],
                        help="comma list from nn,hermite,conditional,theory,limit (default nn,hermite; "
                        "limit: the sampling-free theory, docs/limit-theory.md)")
    parser.add_argument("--beta", type=unit_interval, default=None,
                        help="strength β in [0,1] (default 0.74; 1 for real data)")
    parser.add_argument("--alpha", type=unit_interval, default=None,
                        help="weight α in [0,1] (default 0.5; 0 for real data)")
    parser.add_argument("--n", type=positive_int, default=1000, help="input dimension (default 1000)")
    parser.add_argument("--k", type=positive_int, default=1000, help="hidden neurons (default 1000)")
    parser.add_argument("--m", type=positive_int, default=1000, help="samples per batch (default 1000)")
    parser.add_argument("--lambda", dest="lam", type=nonnegative_float, default=1e-4,
                        help="ridge penalty λ >= 0 (default 1e-4)")
    parser.add_argument("--noise", type=nonnegative_float, default=0.0, help="label noise δ (default 0)")
    parser.add_argument("--trials", type=positive_int, default=20, help="trials (default 20)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed in 0 .. 2**32-1 (default 0)")
    parser.add_argument("--order", type=positive_int, default=None,
                        help="Hermite order l (default: the theorem's order for β)")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="precision of the large products (ridge solves are always float64)")
    parser.add_argument("--eta", type=positive_float, default=None, help="learning rate (default n^(βα))")
    parser.add_argument("--components", type=positive_int, default=2, help="mixture components C (ρ = 1/C)")
    parser.add_argument("--rho", type=unit_interval, default=None, help="weight of component 1 when C = 2")
    parser.add_argument("--spikes", type=nonnegative_int, default=1,
                        help="spikes per component d (default 1; 0: isotropic components)")
    parser.add_argument("--alignment", type=float, default=0.0, help="spike alignment a in [-1,1]")
    parser.add_argument("--spike-sizes", choices=["equal", "uniform"], default="equal",
                        help="spike sizes: equal theta, or theta*U(0,1) drawn per trial (Fig 2c; the limit "
                        "model averages over their law)")
    parser.add_argument("--task", choices=["regression", "classification"], default="regression")
    parser.add_argument("--teacher", type=comma_list, default=["relu"],
                        help="target activation(s) σ*: registry name or expression in x; a comma list "
                        "is the multi-index target Σ_r σ*_r(ξ_rᵀx) (at most 8; default relu)")
    parser.add_argument("--teacher-direction", choices=["random", "spikes", "means"], default="random",
                        help="where the teacher directions ξ_r lie (default random)")
    parser.add_argument("--test", choices=["exact", "sampled"], default=None,
                        help="test error from exact population moments (nn, hermite) or fresh samples "
                        "(default exact)")
    parser.add_argument("--test-factor", type=positive_int, default=5, help="test samples per m (default 5)")
    parser.add_argument("--protocol", choices=["fresh", "paper"], default="fresh",
                        help="fresh: every trial draws its own data; paper: one mixture and dataset "
                        "set, trials redraw only F and w, m/2 samples per component")
    parser.add_argument("--mean-norm", type=nonnegative_float, default=0.0,
                        help="norm of the component means ||mu_c|| (default 0: zero means)")
    parser.add_argument("--readout-init", choices=["gaussian", "constant"], default="gaussian",
                        help="readout at initialisation: gaussian w_i ~ N(0, 1/k) (the paper) or "
                        "constant w_i = 1/sqrt(k) (Cui et al. 2024)")
    parser.add_argument("--first-layer", choices=["gaussian", "unit-rows"], default="gaussian",
                        help="first layer at initialisation: gaussian rows N(0, I/tau) (the paper) or "
                        "unit-rows, uniform on the unit sphere (Cui et al. 2024)")
    parser.add_argument("--m-step", type=positive_int, default=None,
                        help="samples of the gradient step's batch (default m; m stays the readout batch)")
    parser.add_argument("--data", type=data_source, default=("mixture", {}),
                        help=f"data source: {DATA_FORMS} (default mixture; see docs/model.md)")
    parser.add_argument("--classes", type=class_list, default=(0, 1),
                        help="real data: the classes, the first labelled +1 (default 0,1)")
    parser.add_argument("--keep-means", action="store_true",
                        help="real data: remove only the common mean (Fig 8), keep the class means")
    parser.add_argument("--colour", action="store_true", help="CIFAR10: three channels (n = 3072), not grey")
    parser.add_argument("--cache-dir", default=None, help="cache results here (re-runs resume)")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")


def config_from_args(args: argparse.Namespace):
    """The :class:`~onestep_gm.SimulationConfig` of the options (the library validates it)."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.figures.catalogue import mixture_weights
    from onestep_gm.numerics.mixture import MixtureSpec
    from onestep_gm.numerics.simulation import SimulationConfig

    kind, fields = args.data
    if kind == "mixture":
        weights = mixture_weights(args.components, rho=args.rho, spikes=args.spikes, n=args.n)
        data = MixtureSpec(
            n=args.n, beta=0.74 if args.beta is None else args.beta, alpha=0.5 if args.alpha is None else args.alpha,
            weights=weights, spikes=args.spikes, alignment=args.alignment, spike_sizes=args.spike_sizes,
            task=args.task, noise=args.noise,
            mean_norm=args.mean_norm,
            teacher=args.teacher[0] if len(args.teacher) == 1 else tuple(args.teacher),
            teacher_direction=args.teacher_direction,
        )  # fmt: skip
    else:
        data = _real_data(kind, fields, args)
    return SimulationConfig(
        data=data, k=args.k, m=args.m, lam=args.lam, activations=tuple(args.activation),
        models=tuple(args.model), order=args.order, trials=args.trials, seed=args.seed,
        test_factor=args.test_factor, dtype=args.dtype, eta=args.eta, test=args.test,
        protocol=args.protocol,
        readout_init=args.readout_init, first_layer=args.first_layer, m_step=args.m_step,
    )  # fmt: skip


def _real_data(kind: str, fields: dict, args: argparse.Namespace):
    """The spec of ``--data`` (a real-data source): classes, means, β (default 1), α (default 0)."""
    from onestep_gm.numerics.data import spec_from_fields  # JAX loads when the command runs

    fields = {**fields, "classes": args.classes, "keep_means": args.keep_means,
              "beta": 1.0 if args.beta is None else args.beta, "alpha": 0.0 if args.alpha is None else args.alpha}
    if kind == "fashion":
        if len(args.classes) != 2:
            raise ValueError("--data fashion takes two classes (--classes A,B)")
    if kind == "torchvision":
        fields["grey"] = not args.colour
    elif args.colour:
        raise ValueError("--colour applies to --data torchvision:CIFAR10:ROOT only")
    return spec_from_fields(kind, fields)


def _number(value) -> str:
    """``b`` and ``tau`` are ``None`` when no trial ran (a sampling-free model alone)."""
    return "n/a" if value is None else f"{value:.4g}"


def _table(summary: dict) -> str:
    lines = [f"{'activation':<14}{'model':<13}{'train_error':>24}{'gen_error':>24}"]
    for act, models in summary["activations"].items():
        for model, err in models.items():
            tr, ge = err["train_error"], err["gen_error"]
            lines.append(
                f"{act:<14}{model:<13}{tr['mean']:>13.6g} ± {tr['std']:<8.2g}{ge['mean']:>13.6g} ± {ge['std']:<8.2g}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from onestep_gm.experiments.results import (  # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
        package_versions,
        simulate_cached,
    )
    config = config_from_args(args)
    config.data.preload()  # a missing or corrupt data file: one line before any work
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = simulate_cached(config, progress=not args.json, cache_dir=args.cache_dir)
    summary = result.summary()
    summary["parameters"]["versions"] = package_versions()
    if args.json:
        emit_json(summary)
        return 0
    info = result.info
    theta = "unused" if config.data.max_spikes == 0 else f"{info['theta']:.4g}"  # --spikes 0: no spike to size
    print(
        f"n={info['n']} k={info['k']} m={info['m']} beta={info['beta']} alpha={info['alpha']} "
        f"theta={theta} eta={info['eta']:.4g} b={_number(info['b'])} order={info['order']} "
        f"lambda={info['lambda']} trials={info['trials']} seed={info['seed']} ({result.seconds:.1f} s)"
    )
    print(f"readout_init={info.get('readout_init', 'gaussian')} first_layer={info.get('first_layer', 'gaussian')} "
          f"m_step={info.get('m_step', info['m'])}")
    for note in info["notes"]:
        print(f"note: {note}")
    print(_table(summary))
    print(f"convention: {info['convention']}")
    return 0
