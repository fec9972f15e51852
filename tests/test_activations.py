"""The activation registry and the whitelist expression parser."""

from __future__ import annotations

import builtins
import math

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onestep_gm.theory.activations import REGISTRY, ActivationError, X, get_activation
from onestep_gm.theory.expressions import MAX_EXPRESSION_LENGTH, parse_expression


def test_registry_values():
    # sigma at a few points against hand-written formulas.
    expected = {
        "relu": lambda x: max(0.0, x),
        "tanh": math.tanh,
        "sigmoid": lambda x: 1 / (1 + math.exp(-x)),
        "erf": math.erf,
        "softplus": lambda x: math.log1p(math.exp(x)),
        "gelu": lambda x: x * (1 + math.erf(x / math.sqrt(2))) / 2,
        "silu": lambda x: x / (1 + math.exp(-x)),
        "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
        "linear": lambda x: x,
        "abs": abs,
        "sign": lambda x: math.copysign(1.0, x),
        "step": lambda x: 1.0 if x > 0 else 0.0,
        "hardtanh": lambda x: min(1.0, max(-1.0, x)),
        "sin": math.sin,
        "cos": math.cos,
        "gaussian": lambda x: math.exp(-x * x / 2),
        "exp": math.exp,
        "relu2": lambda x: max(0.0, x) ** 2,
        "relu3": lambda x: max(0.0, x) ** 3,
        "relu4": lambda x: max(0.0, x) ** 4,
    }
    assert set(expected) == set(REGISTRY)
    for name, f in expected.items():
        for x in (-2.5, -0.3, 0.7, 3.0):
            assert float(REGISTRY[name].expr.subs(X, sp.Float(x))) == pytest.approx(f(x), rel=1e-14)


def test_kinks_and_flags():
    assert REGISTRY["relu"].kinks == (0,) and REGISTRY["tanh"].kinks == ()
    assert get_activation("Abs(x - 1) + Abs(x + 2)").kinks == (-2, 1)
    assert REGISTRY["relu"].is_piecewise_polynomial and not REGISTRY["tanh"].is_piecewise_polynomial
    assert get_activation("x**3 - x").degree == 3 and REGISTRY["tanh"].degree is None
    assert get_activation("leaky_relu(0.2)").expr == sp.Max(X / 5, X)


def test_derivative_of_relu_is_heaviside():
    assert sp.simplify(REGISTRY["relu"].derivative - sp.Heaviside(X)) == 0


# ---------------------------------------------------------------- safe trees

_LEAVES = st.one_of(
    st.just(("x", X)),
    st.integers(0, 50).map(lambda n: (str(n), sp.Integer(n))),
    st.sampled_from(["0.5", "1.25", "2.75", "0.125"]).map(lambda t: (t, sp.Rational(t))),
    st.just(("pi", sp.pi)),
)
_UNARY = {
    "tanh": sp.tanh,
    "sin": sp.sin,
    "cos": sp.cos,
    "exp": sp.exp,
    "erf": sp.erf,
    "atan": sp.atan,
    "Abs": sp.Abs,
    "sigmoid": lambda u: 1 / (1 + sp.exp(-u)),
    "relu": lambda u: sp.Max(0, u),
}


def _extend(children):
    unary = st.tuples(st.sampled_from(sorted(_UNARY)), children).map(
        lambda t: (f"{t[0]}({t[1][0]})", _UNARY[t[0]](t[1][1]))
    )
    binary = st.tuples(st.sampled_from(["+", "-", "*"]), children, children).map(
        lambda t: (
            f"({t[1][0]}) {t[0]} ({t[2][0]})",
            {"+": sp.Add, "-": lambda a, b: a - b, "*": sp.Mul}[t[0]](t[1][1], t[2][1]),
        )
    )
    divide = st.tuples(children, st.integers(1, 9)).map(
        lambda t: (f"({t[0][0]}) / {t[1]}", t[0][1] / t[1])
    )
    power = st.tuples(children, st.integers(0, 3)).map(
        lambda t: (f"({t[0][0]})**{t[1]}", t[0][1] ** t[1])
    )
    negate = children.map(lambda t: (f"-({t[0]})", -t[1]))
    maximum = st.tuples(children, children).map(
        lambda t: (f"Max({t[0][0]}, {t[1][0]})", sp.Max(t[0][1], t[1][1]))
    )
    return st.one_of(unary, binary, divide, power, negate, maximum)


_SAFE = st.recursive(_LEAVES, _extend, max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SAFE)
def test_safe_trees_parse_to_the_same_sympy_value(pair):
    text, expr = pair
    if len(text) > MAX_EXPRESSION_LENGTH:
        with pytest.raises(ActivationError, match="longer"):
            parse_expression(text)
    elif not expr.has(X) or expr.has(sp.zoo, sp.nan):
        with pytest.raises(ActivationError):
            parse_expression(text)
    else:
        assert parse_expression(text) == expr


# ---------------------------------------------------------------- hostile input

_HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "x.__class__",
    "(x).real",
    "x.__class__.__mro__[-1].__subclasses__()",
    "().__class__.__bases__[0]",
    "x[0]",
    "[x][0]",
    "lambda: x",
    "(lambda y: y)(x)",
    "'x'",
    "b'x'",
    "f'{x}'",
    "__builtins__",
    "__name__",
    'exec(\'open("{marker}", "w")\')',
    "eval('x')",
    "open('{marker}', 'w')",
    "getattr(x, '__class__')",
    "globals()",
    "tanh(x=1)",
    "[x for x in (1,)]",
    "(y := x)",
    "x if x else x",
    "x < 1",
    "x and x",
    "{x: 1}",
    "import os",
    "x; __import__('os')",
    "sympify('x')",
    "exp(*[x])",
    "tanh(**{})",
    "1j * x",
    "True * x",
    "None",
    "x @ x",
]
_WRAPPERS = ["@", "x + @", "tanh(@)", "(@) * x", "Max(@, x)", "-(@)", "@ ** 2"]


def _refuse(*args, **kwargs):
    raise AssertionError("the parser must never evaluate code")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hostile=st.sampled_from(_HOSTILE), wrapper=st.sampled_from(_WRAPPERS))
def test_hostile_input_is_refused_and_never_run(hostile, wrapper, tmp_path):
    marker = tmp_path / "pwned"
    text = wrapper.replace("@", hostile.replace("{marker}", str(marker)))
    with pytest.MonkeyPatch.context() as patch:
        # Any route through eval/exec/sympify on the string would trip these.
        for owner, name in (
            (builtins, "eval"),
            (builtins, "exec"),
            (sp, "sympify"),
            (sp, "parse_expr"),
        ):
            patch.setattr(owner, name, _refuse)
        with pytest.raises(ActivationError):
            get_activation(text)
    assert not marker.exists()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_arbitrary_text_is_parsed_or_refused_cleanly(text):
    try:
        act = get_activation(text)
    except ActivationError:
        return
    assert act.expr.has(X)


@given(st.integers(MAX_EXPRESSION_LENGTH + 1, 5000))
def test_long_input_is_refused(length):
    text = ("x+" * length)[: length - 1] + "x"
    assert len(text) > MAX_EXPRESSION_LENGTH
    with pytest.raises(ActivationError, match="longer"):
        parse_expression(text)


@pytest.mark.parametrize(
    "text",
    [
        "((((9**64)**64)**64)**64)**64 + x",
        "x**100",
        "sign(x, x)",
        "1e400 * x",
        "x / 0",
        "sqrt(-1)*x",
    ],
)
def test_expensive_or_invalid_arithmetic_is_refused(text):
    with pytest.raises(ActivationError):
        parse_expression(text)


def test_unknown_name():
    with pytest.raises(ActivationError, match="unknown activation"):
        get_activation("swish")


def test_expression_evaluates_like_python():
    act = get_activation("x**3 - tanh(x) + 0.5*Abs(x)")
    f = sp.lambdify(X, act.expr, "mpmath")
    assert f(mpmath.mpf("0.7")) == pytest.approx(0.7**3 - math.tanh(0.7) + 0.35, rel=1e-14)


# ---------------------------------------------------------------- your own names



def test_a_registered_expression_has_the_hermite_coefficients_of_its_closed_form(activation_registrations):
    from onestep_gm.theory.activations import register_activation
    from onestep_gm.theory.hermite import hermite_coefficients

    act = register_activation("cubic", "x**3 - 2*x")
    assert get_activation("cubic") is act and act.expr == X**3 - 2 * X
    b = sp.Rational(7, 10)
    registered = hermite_coefficients("cubic", b, 5)
    inline = hermite_coefficients("x**3 - 2*x", b, 5)
    # E[(b^3 z^3 - 2 b z) He_j(z)]: h1 = 3b^3 - 2b, h3 = 3! b^3, the even ones 0 (Isserlis)
    closed = [0, 3 * b**3 - 2 * b, 0, 6 * b**3, 0]
    assert registered.h == inline.h
    assert [float(v) for v in registered.h] == pytest.approx([float(c) for c in closed], abs=1e-30)
    assert registered.method == "exact" and registered.activation == "cubic"


def test_a_registered_name_works_in_moments_derive_and_the_command_line(activation_registrations, capsys):
    import json

    from onestep_gm.experiments.cli.main import main
    from onestep_gm.experiments.derive import render_activation
    from onestep_gm.theory.activations import register_activation
    from onestep_gm.theory.moments import conditional_moments

    register_activation("square", "x**2")
    assert conditional_moments("square").M2 == conditional_moments("x**2").M2
    assert render_activation("square").splitlines()[2] == "# square"
    assert main(["hermite", "--activation", "square", "--b", "1", "--order", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [float(v) for v in out["h"]] == [1.0, 0.0, 2.0]  # E[z^2 He_j]: 1, 0, 2


def test_registration_refuses_bad_names_clashes_and_expressions_with_one_value_error(activation_registrations):
    from onestep_gm.theory.activations import register_activation, unregister_activation

    cases = {
        "tanh": "built in", "sqrt": "expression language", "x": "expression language",
        "pi": "expression language", "two words": "identifier", "lambda": "identifier",
        "_hidden": "identifier",
    }  # fmt: skip
    for name, reason in cases.items():
        with pytest.raises(ValueError, match=reason):
            register_activation(name, "x**2")
    with pytest.raises(ValueError, match="cannot parse"):
        register_activation("broken", "x +* 2")
    with pytest.raises(ValueError, match="not allowed|unknown|cannot"):
        register_activation("sneaky", "__import__('os')")
    with pytest.raises(ValueError, match="expression string"):
        register_activation("number", 3)
    first = register_activation("mine", "x**2 + 1")
    assert register_activation("mine", "x**2 + 1") is first  # the same definition again: no-op
    with pytest.raises(ValueError, match="registered already"):
        register_activation("mine", "x**4")
    unregister_activation("mine")
    with pytest.raises(ValueError, match="unknown activation 'mine'"):
        get_activation("mine")
    with pytest.raises(ValueError, match="earlier in this process"):  # caches are keyed by name
        register_activation("mine", "x**4")
    assert register_activation("mine", "x**2 + 1").expr == X**2 + 1
    with pytest.raises(ValueError, match="built in"):
        unregister_activation("relu")
    with pytest.raises(ValueError, match="not registered"):
        unregister_activation("never_registered")


def test_registrations_do_not_leak_out_of_their_scope():
    from onestep_gm.theory.activations import (
        activation_scope,
        register_activation,
        registered_names,
    )

    with activation_scope():
        register_activation("scoped_only", "x**2")
        assert "scoped_only" in registered_names()
    assert "scoped_only" not in registered_names()
    with pytest.raises(ActivationError, match="unknown activation"):
        get_activation("scoped_only")
    with pytest.raises(RuntimeError), activation_scope():  # an exception leaves the same way
        register_activation("scoped_only", "x**2")
        raise RuntimeError
    assert "scoped_only" not in registered_names()
