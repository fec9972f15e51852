"""Interactive explorer of the one-step theory (a marimo notebook: pure Python, diff-able).

    pip install -e '.[explore]'
    marimo edit examples/explore.py      # or: marimo run examples/explore.py

Inputs: β, α, k/m, λ, n and the activation (a registered name or your own expression in x).
It shows the Hermite order, θ, η, b, the h_j table with h_L*, and the theory learning curve
(deterministic equivalent on one trained first layer, along m), with a button that overlays
a quick simulation (network and Hermite model) at the current point.

Headless: ``marimo export html examples/explore.py -o explore.html``.  Environment:
ONESTEP_EXPLORE_N sets the initial n (default 1000), ONESTEP_EXPLORE_SIMULATE=1 runs the
simulated overlay without the button (the tests use both).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import os
    import time

    import jax
    import marimo as mo
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import onestep_gm as og

    og.enable_x64()
    return jax, mo, np, og, os, plt, time


@app.cell
def _(mo, os):
    beta = mo.ui.slider(0.0, 0.95, step=0.01, value=0.74, label="β (strength)", show_value=True)
    alpha = mo.ui.slider(0.0, 1.0, step=0.05, value=0.5, label="α (weight)", show_value=True)
    k_over_m = mo.ui.slider(0.1, 3.0, step=0.1, value=1.0, label="k/m", show_value=True)
    log_lam = mo.ui.slider(-6.0, 1.0, step=0.5, value=-4.0, label="log10 λ", show_value=True)
    n = mo.ui.number(50, 4000, step=50, value=int(os.environ.get("ONESTEP_EXPLORE_N", "1000")),
                     label="n (= m of the step and of the readout)")
    activation = mo.ui.dropdown(
        ["relu", "tanh", "sigmoid", "erf", "gelu", "silu", "softplus", "leaky_relu", "linear"],
        value="relu", label="activation",
    )
    expression = mo.ui.text(value="", label="or your own σ(x), e.g. x**3 - tanh(x)")
    simulate_button = mo.ui.run_button(label="quick simulated overlay")
    mo.vstack([
        mo.md("# One gradient step: the theory at a glance"),
        mo.hstack([beta, alpha]), mo.hstack([k_over_m, log_lam]),
        mo.hstack([n, activation, expression]), simulate_button,
    ])
    return activation, alpha, beta, expression, k_over_m, log_lam, n, simulate_button


@app.cell
def _(activation, alpha, beta, expression, k_over_m, log_lam, n, og):
    act = og.get_activation(expression.value.strip() or activation.value)
    point = {
        "beta": float(beta.value), "alpha": float(alpha.value), "n": int(n.value),
        "m": int(n.value), "k": max(1, round(k_over_m.value * n.value)),
        "lam": float(10.0 ** log_lam.value),
    }
    return act, point


@app.cell
def _(act, mo, og, point, time):
    _start = time.perf_counter()
    info = og.hermite_order(point["beta"])
    order = info.order if info.order is not None and not info.boundary else max(info.neighbours or (5,))
    scal = og.scalings(point["n"], point["beta"], point["alpha"])
    b = og.bulk_scale(point["n"], point["n"] + scal.theta)
    coeffs = og.hermite_coefficients(act, b, order)
    exact_time = time.perf_counter() - _start
    if info.boundary:
        order_says = f"a boundary: the theorem says nothing; orders {tuple(info.neighbours)}, using {order}"
    elif info.order is None:
        order_says = f"no finite order (β = 1): showing order {order}"
    else:
        order_says = f"order l = {order} (β in ({info.interval[0]:.4f}, {info.interval[1]:.4f}))"
    _rows = "\n".join(
        f"| {j} | {float(h):.10g} | {float(h) / __import__('math').factorial(j):.10g} |"
        for j, h in enumerate(coeffs.h)
    )
    mo.md(
        f"""
## σ(x) = `{act.expr}` at β = {point['beta']}, α = {point['alpha']}, n = {point['n']}

* Hermite order: {order_says}
* θ = n^(β(1−α)) = {scal.theta:.5g}, η = n^(βα) = {scal.eta:.5g}, b = √(n/(n+θ)) = {b:.6f}
* coefficients: {coeffs.method}; h_L* = {float(coeffs.h_star):.8g},
  E[σ(bz)²] = {float(coeffs.second_moment):.8g}
  (noise share {float(coeffs.h_star) ** 2 / float(coeffs.second_moment):.2%})

| j | h_j | h_j / j! |
|---|---|---|
{_rows}

<small>exact layer: {exact_time:.2f} s</small>
"""
    )
    return (scal,)


@app.cell
def _(act, np, og, point, time):
    _start = time.perf_counter()
    _config = og.SimulationConfig(
        data=og.MixtureSpec(n=point["n"], beta=point["beta"], alpha=point["alpha"]),
        k=point["k"], m=point["m"], lam=point["lam"], activations=(act.name,),
    )
    # One moment computation and one eigendecomposition serve the whole curve, this point included.
    _ms = np.unique(np.append(np.round(np.geomspace(0.2 * point["k"], 10 * point["k"], 60)),
                              point["m"]))
    _theory = og.learning_curve(_config, vary="m", values=_ms, trials=1)
    curve = {"values": _theory.values, **_theory.mean}
    _here = int(np.flatnonzero(curve["values"] == point["m"])[0])
    at_point = {key: float(curve[key][_here]) for key in ("gen_error", "train_error", "kappa")}
    theory_seconds = time.perf_counter() - _start
    return at_point, curve, theory_seconds


@app.cell
def _(og, os, point, simulate_button, act):
    overlay = None
    if simulate_button.value or os.environ.get("ONESTEP_EXPLORE_SIMULATE") == "1":
        _config = og.SimulationConfig(
            data=og.MixtureSpec(n=point["n"], beta=point["beta"], alpha=point["alpha"]),
            k=point["k"], m=point["m"], lam=point["lam"], trials=2,
            activations=(act.name,), models=("nn", "hermite"),
        )
        overlay = og.simulate(_config).summary()["activations"][act.name]
    return (overlay,)


@app.cell
def _(act, at_point, curve, mo, overlay, plt, point, theory_seconds):
    _fig, _ax = plt.subplots(figsize=(8, 5))
    _x = curve["values"] / point["k"]
    _ax.plot(_x, curve["gen_error"], "-", label="theory: generalisation")
    _ax.plot(_x, curve["train_error"], "--", label="theory: training")
    _ax.plot([point["m"] / point["k"]], [at_point["gen_error"]], "k*", ms=10, label="this point")
    if overlay is not None:
        for _model, _marker in (("nn", "o"), ("hermite", "s")):
            _e = overlay[_model]["gen_error"]
            _ax.errorbar([point["m"] / point["k"]], [_e["mean"]], yerr=[_e["std"]], fmt=_marker,
                         mfc="none", label=f"simulated {_model} (2 trials)")
    _ax.set_xscale("log")
    _ax.set_yscale("log")
    _ax.set_xlabel("m / k (readout samples per neuron)")
    _ax.set_ylabel("error (½ MSE convention)")
    _ax.set_title(f"{act.name}, n = {point['n']}, k = {point['k']}, λ = {point['lam']:.0e}", fontsize=11)
    _ax.legend(fontsize=11)
    _fig.tight_layout()
    mo.vstack([
        _fig,
        mo.md(
            f"At this point: gen {at_point['gen_error']:.5g}, train {at_point['train_error']:.5g}, "
            f"κ = {at_point['kappa']:.3g}.  Theory update (trained layer, moments, curve): "
            f"**{theory_seconds:.2f} s**."
        ),
    ])
    return


if __name__ == "__main__":

    def report(defs) -> str:
        """What the notebook computed at its current inputs, as plain text (``python explore.py``)."""
        point, act, coeffs = defs["point"], defs["act"], defs["coeffs"]
        scal = defs["scal"]
        lines = [
            f"sigma(x) = {act.expr}; beta = {point['beta']}, alpha = {point['alpha']}, "
            f"n = m = {point['n']}, k = {point['k']}, lambda = {point['lam']:.0e}",
            f"Hermite order: {defs['order_says']}",
            f"theta = {scal.theta:.6g}, eta = {scal.eta:.6g}, b = {defs['b']:.6f}",
            f"coefficients ({coeffs.method}): "
            + ", ".join(f"h_{j} = {float(h):.6g}" for j, h in enumerate(coeffs.h)),
            f"h_L* = {float(coeffs.h_star):.6g}, E[sigma(bz)^2] = {float(coeffs.second_moment):.6g}",
            "theory at this point: " + ", ".join(f"{key} {value:.5g}"
                                                 for key, value in defs["at_point"].items()),
            "theory curve along m (gen error): " + ", ".join(
                f"m/k = {m / point['k']:.2g}: {g:.4g}"
                for m, g in list(zip(defs["curve"]["values"], defs["curve"]["gen_error"],
                                     strict=True))[::12]),
            f"seconds: exact layer {defs['exact_time']:.2f}, theory curve {defs['theory_seconds']:.2f}",
        ]
        if defs.get("overlay") is not None:
            lines.append("simulated (2 trials): " + ", ".join(
                f"{model} gen {defs['overlay'][model]['gen_error']['mean']:.5g}"
                for model in ("nn", "hermite")))
        return "\n".join(lines)

    _outputs, _defs = app.run()
    print(report(_defs))
