"""Interactive explorer of the one-step theory (a marimo notebook: pure Python, diff-able).

    pip install -e '.[explore]'
    marimo edit examples/explore.py      # or: marimo run examples/explore.py

Inputs: the data setting, β, α, k/m, λ, n and the activation (a registered name or your own
expression in x).  Two data settings:

* paper mixture (the default): the paper's two-component Gaussian mixture with spikes.  It
  shows the Hermite order, θ, η, b, the h_j table with h_L*, and the theory learning curve
  (deterministic equivalent on one trained first layer, along m), the finite-size
  sampling-free theory at the current point (``sampling_free_point``, docs/limit-mixtures.md),
  and a button that overlays a quick simulation (network and Hermite model) at that point.
* isotropic (Cui et al. 2024): x ~ N(0, I_n) (one component, no spikes), a single-index teacher
  (ReLU or tanh), the readout constant at initialisation, rows of F of unit norm; the step is
  η = η̃k on m̃ samples (η̃ and m̃/n are inputs; β and α are not used).  Two learning curves on
  the same configuration: the sampling-free limit (``limit_curve``, docs/limit-theory.md) and
  the theory conditional on one trained layer; the overlay simulates the network.

Headless: ``marimo export html examples/explore.py -o explore.html``, or ``python
examples/explore.py`` (prints what the notebook computed).  Environment: ONESTEP_EXPLORE_N sets
the initial n (default 1000), ONESTEP_EXPLORE_DATA=isotropic starts in the isotropic setting
(default ``paper``), ONESTEP_EXPLORE_SIMULATE=1 runs the simulated overlay without the button
(the tests use all three).
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import dataclasses
    import os
    import time

    import jax
    import marimo as mo
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from onestep_gm.numerics.limit import limit_spec

    import onestep_gm as og

    og.enable_x64()
    return dataclasses, jax, limit_spec, mo, np, og, os, plt, time


@app.cell
def _(mo, os):
    _settings = {"paper": "paper mixture", "isotropic": "isotropic (Cui et al. 2024)"}
    _initial = os.environ.get("ONESTEP_EXPLORE_DATA", "paper")
    if _initial not in _settings:
        raise ValueError(f"ONESTEP_EXPLORE_DATA must be 'paper' or 'isotropic' (got {_initial!r})")
    data = mo.ui.dropdown({label: key for key, label in _settings.items()}, value=_settings[_initial],
                          label="data")
    beta = mo.ui.slider(0.0, 0.95, step=0.01, value=0.74, label="β (strength)", show_value=True)
    alpha = mo.ui.slider(0.0, 1.0, step=0.05, value=0.5, label="α (weight)", show_value=True)
    k_over_m = mo.ui.slider(0.1, 3.0, step=0.1, value=1.0, label="k/m", show_value=True)
    log_lam = mo.ui.slider(-6.0, 1.0, step=0.5, value=-4.0, label="log10 λ", show_value=True)
    n = mo.ui.number(50, 4000, step=50, value=int(os.environ.get("ONESTEP_EXPLORE_N", "1000")),
                     label="n (= m of the readout; the paper's step batch too)")
    activation = mo.ui.dropdown(
        ["relu", "tanh", "sigmoid", "erf", "gelu", "silu", "softplus", "leaky_relu", "linear"],
        value="relu", label="activation",
    )
    expression = mo.ui.text(value="", label="or your own σ(x), e.g. x**3 - tanh(x)")
    # the isotropic setting's step (Cui et al.'s eta_tilde and n_0/d) and teacher
    eta_tilde = mo.ui.slider(0.1, 5.0, step=0.1, value=1.0, label="η̃ = η/k", show_value=True)
    step_ratio = mo.ui.slider(0.1, 4.0, step=0.1, value=0.5, label="m̃/n (the step's batch)",
                              show_value=True)
    teacher = mo.ui.dropdown(["relu", "tanh"], value="relu", label="teacher σ*")
    simulate_button = mo.ui.run_button(label="quick simulated overlay")
    mo.vstack([
        mo.md("# One gradient step: the theory at a glance"), data,
        mo.hstack([beta, alpha]), mo.hstack([k_over_m, log_lam]),
        mo.hstack([n, activation, expression]), simulate_button,
    ])
    return (activation, alpha, beta, data, eta_tilde, expression, k_over_m, log_lam, n,
            simulate_button, step_ratio, teacher)


@app.cell
def _(data, eta_tilde, mo, step_ratio, teacher):
    if data.value == "isotropic":
        _parts = [
            mo.hstack([eta_tilde, step_ratio, teacher]),
            mo.md(
                "<small>Isotropic data, x ~ N(0, I_n): β and α are not used (there is no spike for "
                "θ to size, and the step is η = η̃k, Cui et al.'s η̃p).  The readout starts "
                "constant, w_i = 1/√k, and the rows of F have unit norm, as in Cui et al. (the "
                "limit's Gaussian readout is an approximation; its page says where it holds).</small>"
            ),
        ]
    else:
        _parts = [mo.md(
            "<small>The paper's mixture: two components with one spike each, "
            "θ = n^(β(1−α)), η = n^(βα).  The isotropic setting adds the sampling-free limit.</small>"
        )]
    mo.vstack(_parts)
    return


@app.cell
def _(activation, alpha, beta, data, eta_tilde, expression, k_over_m, log_lam, n, np, og,
      step_ratio, teacher):
    act = og.get_activation(expression.value.strip() or activation.value)
    _n, _k = int(n.value), max(1, round(k_over_m.value * n.value))
    point = {
        "data": data.value, "beta": float(beta.value), "alpha": float(alpha.value), "n": _n,
        "m": _n, "k": _k, "lam": float(10.0 ** log_lam.value),
    }
    if point["data"] == "isotropic":
        point |= {"teacher": teacher.value, "eta_tilde": round(float(eta_tilde.value), 6),
                  "m_step": max(1, round(step_ratio.value * _n))}
        point["eta"] = point["eta_tilde"] * _k
        _data = og.MixtureSpec(n=_n, beta=point["beta"], alpha=point["alpha"], weights=(1.0,),
                               spikes=0, teacher=point["teacher"])
        _layer = {"readout_init": "constant", "first_layer": "unit-rows", "eta": point["eta"],
                  "m_step": point["m_step"]}
    else:
        _data = og.MixtureSpec(n=_n, beta=point["beta"], alpha=point["alpha"])
        _layer = {}
    config = og.SimulationConfig(data=_data, k=_k, m=_n, lam=point["lam"],
                                 activations=(act.name,), **_layer)
    # the readout samples m along the curves (the step's batch stays fixed), this point included
    grid = np.unique(np.append(np.round(np.geomspace(0.2 * _k, 10 * _k, 60)), point["m"]))
    return act, config, grid, point


@app.cell
def _(act, mo, og, point, time):
    _start = time.perf_counter()
    info = og.hermite_order(point["beta"])
    scal = og.scalings(point["n"], point["beta"], point["alpha"])
    if point["data"] == "isotropic":
        # no spikes, rows of unit norm: b = 1; the limit takes h_0, h_1, h_2 (and E σ'(z)²)
        order, b = 3, 1.0
        order_says = ("not used (isotropic data: the theorem's order belongs to β and the spikes); "
                      "shown: h_0, h_1, h_2 at b = 1, which enter the limit")
        layer_says = (f"no spikes (θ not used), η = η̃k = {point['eta']:.5g} (η̃ = {point['eta_tilde']:g}), "
                      f"m̃ = {point['m_step']}, b = 1 (rows of unit norm), readout constant at initialisation")
        heading = f"isotropic data, teacher {point['teacher']}, n = {point['n']}"
    else:
        order = info.order if info.order is not None and not info.boundary else max(info.neighbours or (5,))
        b = og.bulk_scale(point["n"], point["n"] + scal.theta)
        if info.boundary:
            order_says = f"a boundary: the theorem says nothing; orders {tuple(info.neighbours)}, using {order}"
        elif info.order is None:
            order_says = f"no finite order (β = 1): showing order {order}"
        else:
            order_says = f"order l = {order} (β in ({info.interval[0]:.4f}, {info.interval[1]:.4f}))"
        layer_says = f"θ = n^(β(1−α)) = {scal.theta:.5g}, η = n^(βα) = {scal.eta:.5g}, b = √(n/(n+θ)) = {b:.6f}"
        heading = f"β = {point['beta']}, α = {point['alpha']}, n = {point['n']}"
    coeffs = og.hermite_coefficients(act, b, order)
    exact_time = time.perf_counter() - _start
    _rows = "\n".join(
        f"| {j} | {float(h):.10g} | {float(h) / __import__('math').factorial(j):.10g} |"
        for j, h in enumerate(coeffs.h)
    )
    mo.md(
        f"""
## σ(x) = `{act.expr}` at {heading}

* Hermite order: {order_says}
* {layer_says}
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
def _(config, grid, np, og, point, time):
    _start = time.perf_counter()
    # One moment computation and one eigendecomposition serve the whole curve, this point included.
    _theory = og.learning_curve(config, vary="m", values=grid, trials=1)
    curve = {"values": _theory.values, **_theory.mean}
    _here = int(np.flatnonzero(curve["values"] == point["m"])[0])
    at_point = {key: float(curve[key][_here]) for key in ("gen_error", "train_error", "kappa")}
    theory_seconds = time.perf_counter() - _start
    return at_point, curve, theory_seconds


@app.cell
def _(act, config, grid, limit_spec, np, og, point, time):
    limit = None
    if point["data"] == "isotropic":
        _start = time.perf_counter()
        try:
            # the same configuration (ratios m/n, m̃/n, k/n, η/k; limit_spec refuses what the limit
            # does not cover), along the same m with the paper's λ held, λ_c = λm
            _spec = limit_spec(config, act.name, point["eta"])
            # padded to 64 points, so that every grid reuses one compiled program
            _ms = np.pad(grid, (0, -grid.size % 64), mode="edge")
            _curve = og.limit_curve(_spec, _ms / point["n"], penalties=point["lam"] * _ms)
        except ValueError as _error:
            limit = {"refused": str(_error)}
        else:
            _here = int(np.flatnonzero(grid == point["m"])[0])
            limit = {
                "gen_error": _curve.gen_error[: grid.size], "train_error": _curve.train_error[: grid.size],
                "at_point": {key: float(getattr(_curve, key)[_here]) for key in ("gen_error", "train_error")},
                "seconds": time.perf_counter() - _start,
            }
    return (limit,)


@app.cell
def _(act, config, og, point, time):
    free = None
    if point["data"] != "isotropic":
        # the paper's mixture: the finite-size sampling-free theory at this point (no F̂ drawn;
        # docs/limit-mixtures.md); one point, not a curve (its time is on the Performance page)
        _start = time.perf_counter()
        try:
            _free = og.sampling_free_point(config, act.name)
        except ValueError as _error:
            free = {"refused": str(_error)}
        else:
            free = {"gen_error": _free.gen_error, "train_error": _free.train_error,
                    "seconds": time.perf_counter() - _start}
    return (free,)


@app.cell
def _(act, config, dataclasses, og, os, point, simulate_button):
    overlay = None
    # isotropic: the network only (the Hermite model's order belongs to β and the spikes)
    overlay_models = ("nn",) if point["data"] == "isotropic" else ("nn", "hermite")
    if simulate_button.value or os.environ.get("ONESTEP_EXPLORE_SIMULATE") == "1":
        _config = dataclasses.replace(config, trials=2, models=overlay_models)
        overlay = og.simulate(_config).summary()["activations"][act.name]
    return overlay, overlay_models


@app.cell
def _(act, at_point, curve, free, limit, mo, overlay, overlay_models, plt, point, theory_seconds):
    _isotropic = point["data"] == "isotropic"
    _fig, _ax = plt.subplots(figsize=(8, 5))
    _x = curve["values"] / point["k"]
    if _isotropic:
        _ax.plot(_x, curve["gen_error"], "-", color="C0", label="conditional on one trained layer: generalisation")
        _ax.plot(_x, curve["train_error"], "--", color="C0", label="conditional on one trained layer: training")
        if "gen_error" in limit:
            _ax.plot(_x, limit["gen_error"], ":", color="C3", lw=2.5, label="limit (no sampling): generalisation")
            _ax.plot(_x, limit["train_error"], "-.", color="C3", label="limit (no sampling): training")
    else:
        _ax.plot(_x, curve["gen_error"], "-", label="theory: generalisation")
        _ax.plot(_x, curve["train_error"], "--", label="theory: training")
        if free is not None and "gen_error" in free:
            _ax.plot([point["m"] / point["k"]] * 2, [free["gen_error"], free["train_error"]], "D", color="C3",
                     mfc="none", ms=9, label="sampling-free theory (no F̂ drawn)")
    _ax.plot([point["m"] / point["k"]], [at_point["gen_error"]], "k*", ms=10, label="this point")
    if overlay is not None:
        for _model, _marker in zip(overlay_models, ("o", "s"), strict=False):
            _e = overlay[_model]["gen_error"]
            _ax.errorbar([point["m"] / point["k"]], [_e["mean"]], yerr=[_e["std"]], fmt=_marker,
                         mfc="none", label=f"simulated {_model} (2 trials)")
    _ax.set_xscale("log")
    _ax.set_yscale("log")
    _ax.set_xlabel("m / k (readout samples per neuron)")
    _ax.set_ylabel("error (½ MSE convention)")
    _title = f"{act.name}, n = {point['n']}, k = {point['k']}, λ = {point['lam']:.0e}"
    if _isotropic:
        _title += (f"; isotropic, teacher {point['teacher']}, η̃ = {point['eta_tilde']:g}, "
                   f"m̃/n = {point['m_step'] / point['n']:.2g}")
    _ax.set_title(_title, fontsize=11)
    _ax.legend(fontsize=9 if _isotropic else 11)
    _fig.tight_layout()
    if not _isotropic:
        _text = (
            f"At this point: gen {at_point['gen_error']:.5g}, train {at_point['train_error']:.5g}, "
            f"κ = {at_point['kappa']:.3g}.  Theory update (trained layer, moments, curve): "
            f"**{theory_seconds:.2f} s**."
        )
        if free is not None and "refused" in free:
            _text += f"\n\nSampling-free theory: not available here: {free['refused']}"
        elif free is not None:
            _text += (
                f"\n\nSampling-free theory (no trained layer drawn; docs: Theory without sampling: "
                f"mixtures): gen {free['gen_error']:.5g}, train {free['train_error']:.5g} "
                f"({free['gen_error'] / at_point['gen_error'] - 1:+.1%} against the theory above); "
                f"**{free['seconds']:.2f} s** (the first point of an activation also compiles it)."
            )
    else:
        _text = (
            f"At this point (isotropic data, teacher {point['teacher']}; the readout starts constant, "
            f"w_i = 1/√k, as in Cui et al.; rows of F of unit "
            f"norm; η = η̃k = {point['eta']:.5g}, m̃ = {point['m_step']}):\n\n"
            f"* conditional on one trained layer: gen {at_point['gen_error']:.5g}, "
            f"train {at_point['train_error']:.5g}, κ = {at_point['kappa']:.3g}; "
            f"**{theory_seconds:.2f} s** (trained layer, moments, curve)\n"
        )
        if "refused" in limit:
            _text += f"* limit (no sampling): not available here: {limit['refused']}\n"
        else:
            _lim = limit["at_point"]
            _text += (
                f"* limit (no sampling): gen {_lim['gen_error']:.5g}, train {_lim['train_error']:.5g}; "
                f"**{1000 * limit['seconds']:.0f} ms** for the whole curve (the first curve of an "
                "activation and teacher also compiles it)\n"
                f"* limit / conditional − 1 (generalisation): "
                f"{_lim['gen_error'] / at_point['gen_error'] - 1:+.1%}: the conditional value is one "
                "draw of the trained layer, whose deviation from the limit shrinks with n "
                "(docs: the limit theory page)\n"
            )
    mo.vstack([_fig, mo.md(_text)])
    return


if __name__ == "__main__":

    def _along(values, errors, k) -> str:
        return ", ".join(f"m/k = {m / k:.2g}: {g:.4g}" for m, g in list(zip(values, errors, strict=True))[::12])

    def report(defs) -> str:
        """What the notebook computed at its current inputs, as plain text (``python explore.py``)."""
        point, act, coeffs = defs["point"], defs["act"], defs["coeffs"]
        scal, curve = defs["scal"], defs["curve"]
        if point["data"] == "isotropic":
            lines = [
                f"data: isotropic (Cui et al. 2024): x ~ N(0, I_n), teacher {point['teacher']}, "
                "readout constant at initialisation (Cui et al.), unit rows; "
                f"eta = eta_tilde*k = {point['eta']:.6g} (eta_tilde = {point['eta_tilde']:g}), "
                f"m_step = {point['m_step']}; beta and alpha not used",
                f"sigma(x) = {act.expr}; n = m = {point['n']}, k = {point['k']}, lambda = {point['lam']:.0e}",
                f"Hermite order: {defs['order_says']}",
            ]
        else:
            lines = [
                f"sigma(x) = {act.expr}; beta = {point['beta']}, alpha = {point['alpha']}, "
                f"n = m = {point['n']}, k = {point['k']}, lambda = {point['lam']:.0e}",
                f"Hermite order: {defs['order_says']}",
                f"theta = {scal.theta:.6g}, eta = {scal.eta:.6g}, b = {defs['b']:.6f}",
            ]
        lines += [
            f"coefficients ({coeffs.method}): "
            + ", ".join(f"h_{j} = {float(h):.6g}" for j, h in enumerate(coeffs.h)),
            f"h_L* = {float(coeffs.h_star):.6g}, E[sigma(bz)^2] = {float(coeffs.second_moment):.6g}",
        ]
        here = ", ".join(f"{key} {value:.5g}" for key, value in defs["at_point"].items())
        along = _along(curve["values"], curve["gen_error"], point["k"])
        limit = defs.get("limit")
        if limit is None:
            lines += [f"theory at this point: {here}", f"theory curve along m (gen error): {along}",
                      f"seconds: exact layer {defs['exact_time']:.2f}, theory curve {defs['theory_seconds']:.2f}"]
            free = defs.get("free")
            if free is not None and "refused" in free:
                lines += [f"sampling-free theory: not available: {free['refused']}"]
            elif free is not None:
                lines += [f"sampling-free theory at this point: gen_error {free['gen_error']:.10g}, "
                          f"train_error {free['train_error']:.10g} ({free['seconds']:.2f} s)"]
        else:
            lines += [f"conditional on one trained layer at this point: {here}"]
            if "refused" in limit:
                lines += [f"limit (no sampling): not available: {limit['refused']}"]
            else:
                lim = limit["at_point"]
                lines += [
                    f"limit (no sampling) at this point: gen_error {lim['gen_error']:.10g}, "
                    f"train_error {lim['train_error']:.10g}",
                    f"limit / conditional - 1 (gen_error): {lim['gen_error'] / defs['at_point']['gen_error'] - 1:+.2%}",
                ]
            lines += [f"conditional curve along m (gen error): {along}"]
            if "refused" not in limit:
                lines += ["limit curve along m (gen error): "
                          + _along(curve["values"], limit["gen_error"], point["k"])]
            lines += [f"seconds: exact layer {defs['exact_time']:.2f}, conditional curve "
                      f"{defs['theory_seconds']:.2f}"
                      + ("" if "refused" in limit else f", limit curve {limit['seconds']:.3f}")]
        if defs.get("overlay") is not None:
            lines.append("simulated (2 trials): " + ", ".join(
                f"{model} gen {defs['overlay'][model]['gen_error']['mean']:.5g}"
                for model in defs["overlay_models"]))
        return "\n".join(lines)

    _outputs, _defs = app.run()
    print(report(_defs))
