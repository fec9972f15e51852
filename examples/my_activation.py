"""My own activation end to end: formula → Hermite coefficients → moments → simulation.

    python examples/my_activation.py --activation "x**3/3 - tanh(x)" --beta 0.74

Small sizes: ``--n 100 --trials 1`` or ONESTEP_EXAMPLE_SMALL=1.
"""

from __future__ import annotations

import argparse
import os

import onestep_gm as og


def main(argv: list[str] | None = None) -> dict:
    small = os.environ.get("ONESTEP_EXAMPLE_SMALL") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="tanh(x) + 0.1*x**2")
    parser.add_argument("--beta", type=float, default=0.74)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=100 if small else 1000)
    parser.add_argument("--trials", type=int, default=1 if small else 5)
    args = parser.parse_args(argv)

    act = og.get_activation(args.activation)  # whitelist parser; never eval
    print(f"sigma(x) = {act.expr}")

    order = og.hermite_order(args.beta)
    l = order.order if not order.boundary else max(order.neighbours)
    s = og.scalings(args.n, args.beta, args.alpha)
    b = og.bulk_scale(args.n, args.n + s.theta)
    hc = og.hermite_coefficients(act, b, l)
    print(f"beta = {args.beta}: order {l}; b = {b:.6f}; coefficients {hc.method}")
    for j, h in enumerate(hc.h):
        print(f"  h_{j} = {float(h): .8f}")
    print(f"  h_star = {float(hc.h_star):.8f} of E[sigma(bz)^2] = {float(hc.second_moment):.8f}")

    moments = og.conditional_moments(act)
    print(f"conditional moments: {moments.method}")
    for name in ("M0", "M1", "M2"):
        value = getattr(moments, name)
        print(f"  {name}(a, s) = {value if value is not None else '(numerical integration)'}")

    config = og.SimulationConfig(
        data=og.MixtureSpec(n=args.n, beta=args.beta, alpha=args.alpha),
        k=args.n, m=args.n, trials=args.trials, activations=(args.activation,),
        models=("nn", "hermite", "conditional"),
    )
    result = og.simulate(config)
    errors = result.summary()["activations"]
    (name,) = errors
    for model, e in errors[name].items():
        print(f"  {model:12s} gen {e['gen_error']['mean']:.5f}  train {e['train_error']['mean']:.6f}")
    return {"hermite": hc, "moments": moments, "errors": errors[name]}


if __name__ == "__main__":
    main()
