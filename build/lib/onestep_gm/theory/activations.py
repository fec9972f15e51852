"""Activation functions: one object per activation, shared by every layer.

An :class:`Activation` carries the SymPy expression of :math:`\\sigma(x)`, its
derivative and the points where it is not smooth ("kinks").  Everything else
(Hermite coefficients, conditional moments, JAX functions) is derived from the
expression, so the network, the Hermite model, the conditional Gaussian model
and the theory curves can never disagree on what ``"tanh"`` is.

User expressions such as ``"x**3 - tanh(x)"`` are parsed by a whitelist that
walks Python's ``ast`` and builds SymPy nodes; nothing is ever passed to
``eval``, ``sympify`` or ``parse_expr``.

Examples
--------
>>> get_activation("relu").expr
Max(0, x)
>>> get_activation("x**2 - 1").expr
x**2 - 1
>>> get_activation("leaky_relu(0.1)").kinks
(0,)
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

__all__ = [
    "X",
    "Activation",
    "ActivationError",
    "REGISTRY",
    "get_activation",
    "parse_expression",
    "registered_names",
]

X = sp.Symbol("x", real=True)
"""The symbol every activation expression is written in."""

MAX_EXPRESSION_LENGTH = 300


class ActivationError(ValueError):
    """An activation name or expression that cannot be used."""


@dataclass(frozen=True)
class Activation:
    r"""An activation :math:`\sigma`, defined once by its SymPy expression in :data:`X`.

    Attributes
    ----------
    name:
        Registry name (``"relu"``) or the user's expression text.
    expr:
        :math:`\sigma(x)` as a SymPy expression in :data:`X`.
    kinks:
        Real points where :math:`\sigma` or one of its derivatives jumps
        (quadrature is split there; exact integration works piecewise).
    """

    name: str
    expr: sp.Expr
    kinks: tuple[sp.Expr, ...] = ()

    @functools.cached_property
    def derivative(self) -> sp.Expr:
        r""":math:`\sigma'(x)` (``Heaviside`` at kinks of piecewise-linear activations)."""
        return sp.diff(self.expr, X)

    @functools.cached_property
    def is_polynomial(self) -> bool:
        return bool(self.expr.is_polynomial(X))

    @functools.cached_property
    def degree(self) -> int | None:
        """Polynomial degree, or ``None`` when :math:`\\sigma` is not a polynomial."""
        return int(sp.Poly(self.expr, X).degree()) if self.is_polynomial else None

    @functools.cached_property
    def is_piecewise_polynomial(self) -> bool:
        """True when every smooth piece is a polynomial (relu, leaky_relu, ``Abs(x)``...)."""
        pw = sp.piecewise_fold(self.expr.rewrite(sp.Piecewise))
        pieces = pw.args if isinstance(pw, sp.Piecewise) else ((pw, True),)
        return all(as_sympy(e).is_polynomial(X) for e, _ in pieces)

    def latex(self) -> str:
        return sp.latex(self.expr)

    def __str__(self) -> str:
        return self.name


def as_sympy(obj) -> sp.Basic:
    """An internal value (SymPy node, bool or number) as a SymPy object.

    Never applied to user text: strings are refused, so this cannot parse anything.
    """
    if isinstance(obj, sp.Basic):
        return obj
    if isinstance(obj, bool):
        return sp.true if obj else sp.false
    if isinstance(obj, int):
        return sp.Integer(obj)
    if isinstance(obj, float):
        return sp.Float(obj)
    raise TypeError(f"expected a SymPy object or a number, got {type(obj).__name__}")


def _kinks_of(expr: sp.Expr) -> tuple[sp.Expr, ...]:
    """Real points where a non-smooth function inside ``expr`` switches branch."""
    switches: list[sp.Expr] = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Max, sp.Min)):
            args = list(node.args)
            switches += [a - b for i, a in enumerate(args) for b in args[i + 1 :]]
        elif isinstance(node, (sp.Abs, sp.Heaviside, sp.sign)):
            switches.append(node.args[0])
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                if cond not in (sp.true, True) and hasattr(cond, "lhs"):
                    switches.append(cond.lhs - cond.rhs)
    points: set[sp.Expr] = set()
    for s in switches:
        if not s.has(X):
            continue
        try:
            roots = sp.solve(sp.Eq(s, 0), X)
        except NotImplementedError as exc:  # pragma: no cover - exotic input
            raise ActivationError(f"cannot locate the kinks of {expr}") from exc
        points.update(r for r in roots if r.is_real)
    return tuple(sorted(points, key=lambda r: float(r)))


def _sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


def _softplus(u: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(u))


def _gelu(u: sp.Expr) -> sp.Expr:
    return u * (1 + sp.erf(u / sp.sqrt(2))) / 2


def _relu(u: sp.Expr) -> sp.Expr:
    return sp.Max(0, u)


_LEAKY_SLOPE = sp.Rational(1, 100)


def _leaky_relu(u: sp.Expr, slope: sp.Expr = _LEAKY_SLOPE) -> sp.Expr:
    return sp.Max(slope * u, u)


# Functions a user expression may call, each mapped to a SymPy builder.
_FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "sin": sp.sin,
    "cos": sp.cos,
    "atan": sp.atan,
    "arctan": sp.atan,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "abs": sp.Abs,
    "Abs": sp.Abs,
    "Max": sp.Max,
    "max": sp.Max,
    "Min": sp.Min,
    "min": sp.Min,
    "Heaviside": sp.Heaviside,
    "sign": sp.sign,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
    "gelu": _gelu,
    "leaky_relu": _leaky_relu,
}
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E, "e": sp.E}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


def _build(node: ast.AST) -> sp.Expr:
    if isinstance(node, ast.Expression):
        return _build(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ActivationError(f"only numbers are allowed as constants, got {node.value!r}")
        return sp.Rational(str(node.value)) if isinstance(node.value, float) else sp.Integer(node.value)
    if isinstance(node, ast.Name):
        if node.id == "x":
            return X
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ActivationError(f"unknown name {node.id!r}: an expression may only use the variable x")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left), _build(node.right)
        if isinstance(node.op, ast.Pow) and right.is_number:
            if bool(abs(right) > 64):
                raise ActivationError("exponents larger than 64 are not allowed")
            # Nested numeric powers such as ((9**64)**64)**64 would take forever to expand.
            if left.is_Rational and max(abs(left.p), left.q).bit_length() * abs(right) > 4096:
                raise ActivationError("numeric powers larger than 2**4096 are not allowed")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _build(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.dump(node.func)[:40]
            allowed = ", ".join(sorted(_FUNCTIONS))
            raise ActivationError(f"function {what!r} is not allowed (allowed: {allowed})")
        if node.keywords or not node.args or len(node.args) > 4:
            raise ActivationError(f"bad arguments to {node.func.id}()")
        return _FUNCTIONS[node.func.id](*(_build(a) for a in node.args))
    raise ActivationError(f"syntax {type(node).__name__} is not allowed in an activation expression")


def parse_expression(text: str) -> sp.Expr:
    """Parse a user activation expression in ``x`` through a whitelist.

    Allowed: numbers, ``x``, ``pi``, ``E``, ``+ - * / **``, unary ``-`` and calls
    to the functions listed in ``_FUNCTIONS``.  Anything else (attributes,
    other names, subscripts, lambdas, strings, keyword arguments, very long
    input) raises :class:`ActivationError`.

    >>> parse_expression("Max(0, x) + 0.1*x")
    x/10 + Max(0, x)
    """
    if not isinstance(text, str) or not text.strip():
        raise ActivationError("empty activation expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ActivationError(f"activation expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ActivationError(f"cannot parse activation expression {text!r}: {exc.msg}") from None
    try:
        expr = _build(tree)
    except ActivationError:
        raise
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        # SymPy's own complaints (wrong arity, inf/nan literals) are bad input too.
        raise ActivationError(f"cannot use activation expression {text!r}: {exc}") from None
    if not isinstance(expr, sp.Expr) or not expr.has(X):
        raise ActivationError(f"{text!r} is not a function of x")
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
        raise ActivationError(f"{text!r} is not a real, finite function of x")
    return expr


def _make(name: str, expr: sp.Expr) -> Activation:
    return Activation(name=name, expr=expr, kinks=_kinks_of(expr))


REGISTRY: dict[str, Activation] = {
    a.name: a
    for a in (
        _make("relu", _relu(X)),
        _make("tanh", sp.tanh(X)),
        _make("sigmoid", _sigmoid(X)),
        _make("erf", sp.erf(X)),
        _make("softplus", _softplus(X)),
        _make("gelu", _gelu(X)),
        _make("silu", X * _sigmoid(X)),
        _make("leaky_relu", _leaky_relu(X)),
        _make("linear", X),
    )
}
"""Registered activations by name; ``leaky_relu`` has slope 1/100 (``leaky_relu(0.2)`` sets it)."""

_LEAKY = re.compile(r"^\s*leaky_relu\s*\(\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\)\s*$")


def registered_names() -> list[str]:
    return list(REGISTRY)


@functools.lru_cache(maxsize=256)
def get_activation(spec: str) -> Activation:
    """Resolve a registry name, ``leaky_relu(slope)``, or a whitelisted expression in ``x``.

    >>> get_activation("tanh").name
    'tanh'
    >>> get_activation("x**3 - tanh(x)").expr
    x**3 - tanh(x)
    """
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise ActivationError(f"activation must be a name or an expression, got {type(spec).__name__}")
    key = spec.strip()
    if key in REGISTRY:
        return REGISTRY[key]
    if (match := _LEAKY.match(key)) is not None:
        slope = sp.Rational(match.group(1))
        return _make(f"leaky_relu({match.group(1)})", _leaky_relu(X, slope))
    if key.isidentifier():
        raise ActivationError(
            f"unknown activation {key!r}; registered: {', '.join(REGISTRY)}, or an expression in x"
        )
    return _make(key, parse_expression(key))
