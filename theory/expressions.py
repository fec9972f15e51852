r"""User activation expressions: the whitelist parser and the SymPy builders it may call.

An expression such as ``"x**3 - tanh(x)"`` is parsed by walking Python's ``ast`` and building
SymPy nodes from a fixed table of names (``_FUNCTIONS``); nothing is ever passed to
``eval``, ``sympify`` or ``parse_expr``, so user text cannot run code or reach SymPy's parser.
The registry of named activations (:mod:`theory.activations`) uses the same builders.

References: the Python ``ast`` grammar (https://docs.python.org/3/library/ast.html);
SymPy's note that ``sympify`` uses ``eval`` and must not see untrusted input.

Examples
--------
>>> parse_expression("relu(x) - 0.5*x")
-x/2 + Max(0, x)
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import sympy as sp

__all__ = [
    "LEAKY_SLOPE",
    "MAX_EXPRESSION_LENGTH",
    "X",
    "ActivationError",
    "as_sympy",
    "gelu",
    "leaky_relu",
    "parse_expression",
    "relu",
    "reserved_names",
    "sigmoid",
    "softplus",
]

X = sp.Symbol("x", real=True)
"""The symbol every activation expression is written in."""

MAX_EXPRESSION_LENGTH = 300
"""Longest expression text accepted."""


class ActivationError(ValueError):
    """An activation name or expression that cannot be used."""


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


def sigmoid(u: sp.Expr) -> sp.Expr:
    r""":math:`1/(1+e^{-u})`."""
    return 1 / (1 + sp.exp(-u))


def softplus(u: sp.Expr) -> sp.Expr:
    r""":math:`\log(1+e^{u})`."""
    return sp.log(1 + sp.exp(u))


def gelu(u: sp.Expr) -> sp.Expr:
    r""":math:`u\,\Phi(u)` (Hendrycks & Gimpel 2016), exact with ``erf``."""
    return u * (1 + sp.erf(u / sp.sqrt(2))) / 2


def relu(u: sp.Expr) -> sp.Expr:
    r""":math:`\max(0, u)`."""
    return sp.Max(0, u)


LEAKY_SLOPE = sp.Rational(1, 100)
"""Default slope of ``leaky_relu``."""


def leaky_relu(u: sp.Expr, slope: sp.Expr = LEAKY_SLOPE) -> sp.Expr:
    r""":math:`\max(\text{slope}\cdot u, u)` (slope below 1)."""
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
    "sigmoid": sigmoid,
    "softplus": softplus,
    "relu": relu,
    "hardtanh": lambda u: sp.Max(-1, sp.Min(1, u)),
    "gelu": gelu,
    "leaky_relu": leaky_relu,
}
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E, "e": sp.E}


def reserved_names() -> frozenset[str]:
    """The names an expression gives a meaning of its own: the symbol ``x``, the functions it
    may call and the constants (a user activation may not take one of them as its name).

    >>> {"x", "tanh", "pi"} <= reserved_names()
    True
    """
    return frozenset({str(X), *_FUNCTIONS, *_CONSTANTS})
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
