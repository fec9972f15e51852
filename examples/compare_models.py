"""The network against its Hermite and conditional Gaussian models (and the theory) at my point.

    python examples/compare_models.py --beta 0.74 --alpha 0.5 --n 1000 --trials 5

Small sizes for a quick look: ``--n 150 --trials 2`` (k and m default to n), or set the
environment variable ONESTEP_EXAMPLE_SMALL=1.
"""

from __future__ import annotations

import argparse
import os

import onestep_gm as og


def main(argv: list[str] | None = None) -> dict:
    small = os.environ.get("ONESTEP_EXAMPLE_SMALL") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, default=0.74)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=100 if small else 1000)
    parser.add_argument("--k", type=int, default=None, help="default n")
    parser.add_argument("--m", type=int, default=None, help="default n")
    parser.add_argument("--trials", type=int, default=2 if small else 5)
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--lam", type=float, default=1e-4)
    args = parser.parse_args(argv)

    config = og.SimulationConfig(
        data=og.MixtureSpec(n=args.n, beta=args.beta, alpha=args.alpha),
        k=args.k or args.n, m=args.m or args.n, lam=args.lam, trials=args.trials,
        activations=(args.activation,), models=("nn", "hermite", "conditional", "theory"),
    )
    result = og.simulate(config)
    summary = result.summary()
    errors = summary["activations"][og.get_activation(args.activation).name]
    nn = errors["nn"]["gen_error"]["mean"]
    print(f"{args.activation}: n = {args.n}, k = {config.k}, m = {config.m}, beta = {args.beta}, "
          f"alpha = {args.alpha}, Hermite order {result.info['order']}, {args.trials} trials")
    print(f"{'model':12s} {'gen error':>20s} {'train error':>22s} {'gen vs nn':>10s}")
    for model, e in errors.items():
        gen, train = e["gen_error"], e["train_error"]
        print(f"{model:12s} {gen['mean']:10.5f} ± {gen['std']:7.5f} "
              f"{train['mean']:11.6f} ± {train['std']:8.6f} {gen['mean'] / nn - 1:+10.2%}")
    print(summary["convention"])
    return errors


if __name__ == "__main__":
    main()
