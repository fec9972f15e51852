"""`onestep hermite`: Hermite coefficients h_j = E[σ(bz) He_j(z)], h_star and E[σ(bz)²]."""

from __future__ import annotations

import argparse

import mpmath
from onestep_gm.experiments.cli.args import emit_json, positive_float, positive_int
from onestep_gm.theory.activations import ActivationError, get_activation
from onestep_gm.theory.hermite import hermite_coefficients


def _activation(text: str):
    try:
        return get_activation(text)
    except ActivationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--activation", type=_activation, required=True, help="registered name or expression in x"
    )
    parser.add_argument("--b", type=positive_float, required=True, help="bulk scale b > 0")
    parser.add_argument("--order", type=positive_int, required=True, help="L: h_0..h_{L-1}")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--digits", type=positive_int, default=17,
        help=f"significant digits (at most {MAX_DIGITS}; computed at digits + 10)",
    )


MAX_DIGITS = 190


def run(args: argparse.Namespace) -> int:
    if args.digits > MAX_DIGITS:
        raise ValueError(f"--digits must be at most {MAX_DIGITS} (the precision computed), got {args.digits}")
    dps = max(40, args.digits + 10)
    coeffs = hermite_coefficients(args.activation, args.b, args.order, dps=dps)
    if args.json:
        emit_json(coeffs.to_json(args.digits))
        return 0
    digits = args.digits
    print(f"σ = {args.activation.expr}  at b = {args.b:g}   h_j = E[σ(bz) He_j(z)]")
    rows = [("j", "h_j", "closed form", "h_j / j!")]
    for j, value in enumerate(coeffs.h):
        closed = str(coeffs.exact[j]) if coeffs.exact is not None else ""
        with mpmath.workdps(dps):
            scaled = value / mpmath.factorial(j)
        rows.append((str(j), mpmath.nstr(value, digits), closed, mpmath.nstr(scaled, digits)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"h_star (L = {coeffs.order}) = {mpmath.nstr(coeffs.h_star, digits)}")
    print(f"E[σ(bz)²]       = {mpmath.nstr(coeffs.second_moment, digits)}")
    print(f"method          = {coeffs.method}")
    return 0
