"""Closed bivariate kernels, as emitted to JAX, against nested mpmath quadrature.

Usage: ``python benchmarks/kernel_accuracy.py [--dps D]``.  For every activation with a closed
kernel (:func:`onestep_gm.theory.kernels.derive_kernel`), the JAX function that
``population_moments`` runs (float64, after :func:`~onestep_gm.theory.kernels.stable_form`) is
evaluated at :math:`q_1 = 0.7`, :math:`q_2 = 1.3` and correlations 0.3, 0.999 and −0.999, with
zero means and, where the kernel holds for any means, with means (0.3, −0.2); the reference is
:func:`~onestep_gm.theory.kernels.bivariate_mp` (tanh-sinh quadrature split at the kinks, ``D``
digits).  The same for the kernel against the ReLU teacher, :math:`\\mathbb E[\\sigma(u)\\mathrm{ReLU}(v)]`.
Prints a Markdown table of the largest absolute and relative error per row (over the
correlations and means).
"""

from __future__ import annotations

import math
import sys
import time

import jax
from onestep_gm.experiments.bench import CLOSED_KERNEL_ACTIVATIONS
from onestep_gm.numerics.codegen import jax_function
from onestep_gm.theory import kernels as K
from onestep_gm.theory.activations import get_activation

RHOS = (0.3, 0.999, -0.999)
Q1, Q2 = 0.7, 1.3


def _errors(first, second, centred: bool, dps: int) -> tuple[float, float, str] | None:
    derived = K.derive_kernel(first, second, centred)
    if derived is None:
        return None
    fn = jax_function(K.stable_form(derived[0]), K.M1, K.M2, K.Q1, K.Q2, K.C)
    worst_abs = worst_rel = 0.0
    for rho in RHOS:
        c = rho * math.sqrt(Q1 * Q2)
        for means in [(0.0, 0.0)] + ([] if centred else [(0.3, -0.2)]):
            value = float(fn(*(jax.numpy.float64(v) for v in (*means, Q1, Q2, c))))
            ref = float(K.bivariate_mp(first, second, *means, Q1, Q2, c, dps=dps))
            worst_abs = max(worst_abs, abs(value - ref))
            worst_rel = max(worst_rel, abs(value - ref) / max(abs(ref), 1e-300))
    return worst_abs, worst_rel, derived[1]


def main(argv: list[str]) -> int:
    jax.config.update("jax_enable_x64", True)
    dps = int(argv[argv.index("--dps") + 1]) if "--dps" in argv else 20
    relu = get_activation("relu").expr
    print("| activation | kernel | means | max abs. error | max rel. error | how |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()
    for name in CLOSED_KERNEL_ACTIVATIONS:
        expr = get_activation(name).expr
        for label, second in (("σσ", expr), ("σ·ReLU", relu)):
            for centred in (False, True):
                out = _errors(expr, second, centred, dps)
                if out is not None:
                    means = "zero" if centred else "any (0 and 0.3, −0.2)"
                    print(f"| {name} | {label} | {means} | {out[0]:.1e} | {out[1]:.1e} | {out[2]} |", flush=True)
                    break
            else:
                print(f"| {name} | {label} | — | numeric rule | (Mehler / nested Gauss–Legendre) | — |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s, mpmath at {dps} digits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
