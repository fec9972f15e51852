r"""Hermite coefficients of a trial, cached on disk beside the compile cache.

A trial of the Hermite model needs :math:`h_0..h_{l-1}` and :math:`h_l^\ast` of each activation at
the bulk scale :math:`b` as float64 (:func:`onestep_gm.hermite_coefficients` computes them
exactly; for the numeric ones that is tanh-sinh quadrature at 40 digits, most of a start-up with
a warm compile cache).  Only the float64 values the trial uses are stored (JSON round-trips
them exactly), keyed by the activation's SymPy expression, ``b``, the order and the package
version; an unreadable entry is recomputed.  The folder is
:func:`~onestep_gm.numerics.compile_cache.coefficient_cache_dir`: no cache while the compile
cache is off, one switch for everything cached across processes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.compile_cache import coefficient_cache_dir
from onestep_gm.numerics.files import write_atomic
from onestep_gm.numerics.trial import hermite_slots
from onestep_gm.theory.activations import get_activation
from onestep_gm.theory.hermite import hermite_coefficients
from sympy import srepr as sp_srepr

Array = jax.Array

FORMAT = "onestep-gm/hermite-floats-1"


def hermite_parameters(activations: tuple[str, ...], order: int | None, b: float) -> tuple[Array, Array, dict]:
    """The Hermite model's traced parameters of a trial.

    Parameters
    ----------
    activations : tuple of str
        Registry names (A of them).
    order : int or None
        The Hermite order :math:`l`; ``None`` when no model needs it.
    b : float
        The bulk scale.

    Returns
    -------
    h : jax.Array, shape (A, :func:`~onestep_gm.numerics.trial.hermite_slots` ``(l)``)
        :math:`h_0..h_{l-1}`, zero-padded (shape (A, 1) of zeros without an order).
    h_star : jax.Array, shape (A,)
        :math:`h_l^\\ast`.
    record : dict
        ``{activation: {"h", "h_star", "method"}}`` (empty without an order).
    """
    if order is None:
        return jnp.zeros((len(activations), 1)), jnp.zeros(len(activations)), {}
    record = {a: hermite_record(a, f"{b:.15g}", order) for a in activations}
    h = np.zeros((len(activations), hermite_slots(order)))
    for i, a in enumerate(activations):
        h[i, :order] = np.asarray(record[a]["h"], dtype=np.float64)
    h_star = jnp.asarray([record[a]["h_star"] for a in activations])
    return jnp.asarray(h), h_star, record


def hermite_record(activation: str, b: str, order: int) -> dict:
    """``{"h", "h_star", "method"}`` of one activation at ``b`` (a decimal string) as floats,
    read from the coefficient cache when there is one, else computed (and stored).

    Raises
    ------
    ValueError
        As :func:`onestep_gm.hermite_coefficients` (an order above 40, an unknown activation).
    """
    folder = coefficient_cache_dir()
    path = key = None
    act = get_activation(activation)
    if folder is not None and act.symbolic:  # a JAX callable has no key that outlives the process
        key = repr((FORMAT, _package_version(), sp_srepr(act.expr), act.kinks, b, order))
        path = folder / f"h-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
        cached = _read_entry(path, key)
        if cached is not None:
            return cached
    c = hermite_coefficients(activation, b, order)
    record = {"h": [float(v) for v in c.h], "h_star": float(c.h_star), "method": c.method}
    if path is not None:
        with contextlib.suppress(OSError):
            write_atomic(path, json.dumps({"key": key, "record": record}))
    return record


def _read_entry(path, key: str) -> dict | None:
    """The record stored at ``path`` under ``key``, or ``None`` (missing, unreadable, stale)."""
    try:
        obj = json.loads(path.read_text())
        if obj.get("key") == key:
            return obj["record"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return None


@functools.cache
def _package_version() -> str:
    import importlib.metadata as md  # the version keys the coefficient cache only

    try:
        return md.version("onestep-gm")
    except md.PackageNotFoundError:
        return "source"
