"""Which Hermite order does my β need, and how large is the remainder?

For each β: the theorem's order l (or the two neighbours at a boundary), the scalings θ, η
and b at n, and for one activation the noise level h_l* of the order-l Hermite model next
to E[σ(bz)²], i.e. the share of σ's variance that the model replaces by Gaussian noise.

    python examples/which_order.py --beta 0.3 0.74 0.75 0.9 --activation tanh --n 1000
"""

from __future__ import annotations

import argparse

import onestep_gm as og


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, nargs="+", default=[0.3, 0.6, 0.74, 0.75, 0.9])
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--activation", default="relu", help="registry name or expression in x")
    args = parser.parse_args(argv)

    rows = []
    print(f"activation {args.activation}, n = {args.n}, alpha = {args.alpha}")
    print(f"{'beta':>6} {'order':>7} {'theta':>9} {'eta':>9} {'b':>9} {'h_star':>10} {'E[s^2]':>9} {'noise share':>11}")
    for beta in args.beta:
        info = og.hermite_order(beta)
        s = og.scalings(args.n, beta, args.alpha)
        b = og.bulk_scale(args.n, args.n + s.theta)
        # At a boundary the theorem names both neighbours; the simulations use the higher one.
        order = info.order if info.order is not None and not info.boundary else None
        label = str(order) if order else ("/".join(map(str, info.neighbours)) or "none")
        if order is None and info.neighbours:
            order = max(info.neighbours)
        if order is None:
            print(f"{beta:6.3f} {label:>7} {s.theta:9.3f} {s.eta:9.3f} {b:9.6f}  no finite order")
            rows.append({"beta": beta, "order": None})
            continue
        hc = og.hermite_coefficients(args.activation, b, order)
        share = float(hc.h_star) ** 2 / float(hc.second_moment)
        print(f"{beta:6.3f} {label:>7} {s.theta:9.3f} {s.eta:9.3f} {b:9.6f} "
              f"{float(hc.h_star):10.6f} {float(hc.second_moment):9.6f} {share:11.2%}")
        rows.append({"beta": beta, "order": order, "h_star": float(hc.h_star),
                     "second_moment": float(hc.second_moment), "boundary": info.boundary})
    return rows


if __name__ == "__main__":
    main()
