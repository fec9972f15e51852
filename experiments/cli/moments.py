"""`onestep moments`: closed forms of the conditional moments M0, M1, M2 of sigma(a + s g)."""

from __future__ import annotations

import argparse

from onestep_gm.experiments.cli.args import emit_json

_MEANING = {
    "M0": "E sigma(a + s g)",
    "M1": "d/da M0 = E sigma'(a + s g)",
    "M2": "E sigma(a + s g)^2",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--activation",
        required=True,
        metavar="NAME|EXPR",
        help="registered name (relu, tanh, ...), leaky_relu(SLOPE), or an expression in x",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object and nothing else"
    )


def _text(moments) -> str:
    # SymPy only when printing formulas
    import sympy as sp
    from onestep_gm.theory.moments import normal_notation

    lines = [
        f"activation: {moments.activation}",
        f"method: {moments.method}",
        "notation: g ~ N(0, 1); Phi, phi = standard normal cdf, pdf",
    ]
    for name, meaning in _MEANING.items():
        expr = getattr(moments, name)
        lines.append(f"\n{name}(a, s) = {meaning}")
        if expr is None:
            lines.append("  no closed form: numerical quadrature (numerics.codegen.jax_moments)")
        else:
            display = normal_notation(expr)
            lines.append("  = " + str(display))
            if display != expr:
                lines.append("  = " + str(expr))
            lines.append("  LaTeX: " + sp.latex(display))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.theory.moments import conditional_moments

    moments = conditional_moments(args.activation)
    if args.json:
        emit_json(moments.to_json())
    else:
        print(_text(moments))
    return 0
