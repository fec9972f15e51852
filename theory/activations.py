"""Activation functions: one object per activation, shared by every layer.

An :class:`Activation` carries the SymPy expression of :math:`\\sigma(x)`, its
derivative and the points where it is not smooth ("kinks").  Everything else
(Hermite coefficients, conditional moments, JAX functions) is derived from the
expression, so the network, the Hermite model, the conditional Gaussian model
and the theory curves can never disagree on what ``"tanh"`` is.

User expressions such as ``"x**3 - tanh(x)"`` are parsed by the whitelist of
:mod:`theory.expressions`; nothing is ever passed to ``eval``, ``sympify`` or ``parse_expr``.

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

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import mpmath
import sympy as sp
from onestep_gm.theory.budget import BudgetExceeded, within_budget
from onestep_gm.theory.expressions import (
    ActivationError,
    X,
    as_sympy,
    gelu,
    leaky_relu,
    parse_expression,
    relu,
    sigmoid,
    softplus,
)

__all__ = [
    "X",
    "Activation",
    "ActivationError",
    "REGISTRY",
    "KINK_RADIUS",
    "get_activation",
    "kinks_of",
    "moment_divergence",
    "registered_names",
    "require_finite_moments",
]

KINK_RADIUS = 64
"""Periodic switching sets are enumerated on :math:`|x| \\le` ``KINK_RADIUS`` in :attr:`Activation.kinks`."""
_SOLVE_SECONDS = 10


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
    periodic: tuple[sp.Set, ...] = ()

    @property
    def kinks_complete(self) -> bool:
        """True when :attr:`kinks` is every real kink (no periodic switching set was truncated)."""
        return not self.periodic

    def kinks_within(self, radius) -> tuple[sp.Expr, ...]:
        r"""Every kink with :math:`|x| \le` ``radius``, periodic switching sets enumerated exactly.

        >>> [str(k) for k in get_activation("sign(sin(x))").kinks_within(4)]
        ['-pi', '0', 'pi']
        """
        radius = sp.Rational(str(float(radius))) if not isinstance(radius, sp.Basic) else radius
        points = {k for k in self.kinks if abs(float(k)) <= float(radius)}
        for zeros in self.periodic:
            points.update(_enumerate(zeros, radius))
        return tuple(sorted(points, key=float))

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


def _switch_arguments(expr: sp.Expr) -> list[sp.Expr]:
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
    return [s for s in switches if s.has(X)]


def _enumerate(zeros: sp.Set, radius) -> set[sp.Expr]:
    inside = zeros.intersect(sp.Interval(-radius, radius))
    if not isinstance(inside, sp.FiniteSet):  # pragma: no cover - guarded in _real_zeros
        raise ActivationError(f"cannot enumerate the switching set {zeros}")
    return {p for p in inside if p.is_real}


def _real_zeros(s: sp.Expr, what: str) -> tuple[set[sp.Expr], sp.Set | None]:
    """Real zeros of ``s``: ``(finite set, None)``, or ``(set(), periodic set)``; refuses otherwise.

    Every zero must be found exactly: one missed zero would put a wrong branch between
    the ones found.  Periodic sets (``sin(3x) = 0``) are kept whole and enumerated on demand.
    """
    try:
        zeros = within_budget(_SOLVE_SECONDS, lambda: sp.solveset(s, X, sp.Reals))
    except (BudgetExceeded, NotImplementedError, TypeError, ValueError, RecursionError):
        zeros = None
    if zeros is sp.S.EmptySet:
        return set(), None
    if isinstance(zeros, sp.FiniteSet):
        if all(p.is_real for p in zeros):
            return set(zeros), None
    elif zeros is not None and not isinstance(zeros, sp.ConditionSet) and zeros.free_symbols == set():
        try:
            probe = within_budget(
                _SOLVE_SECONDS, lambda: zeros.intersect(sp.Interval(-KINK_RADIUS, KINK_RADIUS))
            )
        except (BudgetExceeded, NotImplementedError, TypeError, ValueError, RecursionError):
            probe = None
        if isinstance(probe, sp.FiniteSet) and all(p.is_real for p in probe):
            return set(), zeros
    raise ActivationError(
        f"cannot locate every {what} of the activation: the real solutions of {s} = 0 "
        "are not a finite or periodic set that SymPy can enumerate"
    )


def kinks_of(expr: sp.Expr) -> tuple[tuple[sp.Expr, ...], tuple[sp.Set, ...]]:
    """Exact real points where a non-smooth function inside ``expr`` switches branch.

    Returns the finite kinks (periodic sets enumerated on :math:`|x|\\le` ``KINK_RADIUS``
    included) and the periodic switching sets themselves.
    """
    points: set[sp.Expr] = set()
    periodic: list[sp.Set] = []
    for s in _switch_arguments(expr):
        finite, zeros = _real_zeros(s, "kink")
        points.update(finite)
        if zeros is not None:
            periodic.append(zeros)
            points.update(_enumerate(zeros, KINK_RADIUS))
    return tuple(sorted(points, key=lambda r: float(r))), tuple(periodic)


def _probe_points() -> list[mpmath.mpf]:
    steps = [mpmath.mpf(k) * mpmath.mpf("0.37") + mpmath.mpf("0.013") for k in range(80)]
    return sorted({s for v in steps for s in (v, -v)} | {mpmath.mpf("1e-6"), mpmath.mpf("-1e-6")})


def _check_real(name: str, expr: sp.Expr) -> None:
    """Refuse activations that take non-real values on the real line (``sqrt(x)``, ``log(x)``).

    Proven real by SymPy's assumptions, or else probed at 162 points of :math:`[-30, 30]`.
    """
    if expr.is_real:
        return
    fn = sp.lambdify(X, expr, modules="mpmath")
    with mpmath.workdps(30):
        for x in _probe_points():
            try:
                value = fn(x)
            except (ZeroDivisionError, ValueError, TypeError, OverflowError):
                continue
            if isinstance(value, mpmath.mpc) and abs(value.imag) > 1e-20 * (1 + abs(value.real)):
                raise ActivationError(
                    f"{name} is not real at x = {mpmath.nstr(x, 4)} (value {mpmath.nstr(value, 4)}): "
                    "activations must be real on the whole real line"
                )


def _make(name: str, expr: sp.Expr) -> Activation:
    _check_real(name, expr)
    kinks, periodic = kinks_of(expr)
    return Activation(name=name, expr=expr, kinks=kinks, periodic=periodic)


# ---------------------------------------------------------------- moments that exist


def _singular_candidates(expr: sp.Expr) -> set[sp.Expr]:
    r"""Real zeros of denominators and of logarithm arguments (where :math:`\sigma` may blow up)."""
    arguments = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Pow) and node.exp.is_number and bool(node.exp < 0):
            arguments.append(node.base)
        elif isinstance(node, sp.log):
            arguments.append(node.args[0])
    points: set[sp.Expr] = set()
    for u in arguments:
        if not u.has(X):
            continue
        finite, zeros = _real_zeros(u, "singular point")
        points.update(finite)
        if zeros is not None:
            points.update(_enumerate(zeros, KINK_RADIUS))
    return points


def _local_exponent(fn, x0: mpmath.mpf) -> mpmath.mpf:
    r""":math:`p` with :math:`|\sigma(x_0 \pm \epsilon)| \sim \epsilon^{-p}`, from :math:`\epsilon = 10^{-30}, 10^{-60}`."""
    worst = mpmath.mpf(0)
    for side in (1, -1):
        try:
            near = abs(fn(x0 + side * mpmath.mpf("1e-60")))
            far = abs(fn(x0 + side * mpmath.mpf("1e-30")))
        except (ZeroDivisionError, ValueError, OverflowError):
            return mpmath.inf
        if far == 0 or near == 0:
            continue
        worst = max(worst, mpmath.log(near / far) / mpmath.log(mpmath.mpf(10) ** 30))
    return worst


def _gaussian_growth(fn) -> mpmath.mpf:
    r""":math:`c = \max_\pm \log|\sigma(\pm x)|/x^2` at :math:`x = 10^4` (:math:`e^{c x^2}` growth)."""
    x = mpmath.mpf(10) ** 4
    rates = []
    for side in (1, -1):
        try:
            value = abs(fn(side * x))
        except (ZeroDivisionError, ValueError, OverflowError):
            continue
        rates.append(mpmath.log(value) / x**2 if value > 0 else mpmath.mpf(0))
    return max(rates, default=mpmath.mpf(0))


@functools.lru_cache(maxsize=256)
def _obstructions(activation: Activation) -> tuple[tuple[mpmath.mpf, str], mpmath.mpf]:
    fn = sp.lambdify(X, activation.expr, modules="mpmath")
    with mpmath.workdps(80):
        worst = (mpmath.mpf(0), "")
        for point in sorted(_singular_candidates(activation.expr), key=lambda r: abs(float(r))):
            p = _local_exponent(fn, mpmath.mpf(sp.N(point, 90)))
            if p > worst[0]:
                worst = (p, str(point))
        return worst, _gaussian_growth(fn)


MAX_EXACT_DEGREE = 24
"""Polynomial degree above which the exact (SymPy) routes are skipped for quadrature: products
such as ``(x+1)**64`` or ``Abs(x-1)**63*Abs(x+1)**63`` expand into thousands of terms and
stalled the symbolic route for over a minute, while quadrature takes well under a second."""


def polynomial_degree(expr: sp.Expr) -> int:
    """An upper bound on the polynomial degree of ``expr`` in ``x``, read off its tree without
    expanding: sums take the largest, products add, integer powers multiply; ``Abs``, ``Max``,
    ``Min`` and other functions count as their arguments' largest degree.

    >>> polynomial_degree(sp.Abs(X - 1) ** 63 * sp.Abs(X + 1) ** 63)
    126
    """
    if expr.is_Number or not expr.has(X):
        return 0
    if expr == X:
        return 1
    if isinstance(expr, sp.Add):
        return max(polynomial_degree(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        return sum(polynomial_degree(a) for a in expr.args)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return int(expr.exp) * polynomial_degree(expr.base)
    return max((polynomial_degree(a) for a in expr.args), default=0)


def moment_divergence(activation: Activation | str, scale=None, power: int = 2) -> str | None:
    r"""Why :math:`\mathbb E|\sigma(a + s g)|^{\text{power}} = \infty`, or ``None`` when it is finite.

    Two obstructions, each decided from the expression:

    * a real singular point :math:`x_0` (zero of a denominator or of a logarithm's argument)
      with :math:`|\sigma(x)| \sim |x-x_0|^{-p}`: the moment diverges for every :math:`s`
      when :math:`p \cdot \text{power} \ge 1` (``1/x``: :math:`p = 1`); :math:`p` is read off
      :math:`|\sigma(x_0\pm 10^{-30})|` and :math:`|\sigma(x_0\pm 10^{-60})|` at 80 digits;
    * Gaussian growth :math:`\log|\sigma(x)| \sim c\,x^2` (``exp(x**2)``: :math:`c = 1`): the
      moment at scale :math:`s` is finite iff :math:`\text{power}\cdot c\,s^2 < 1/2`; with
      ``scale=None`` only singular points are judged.

    Parameters
    ----------
    activation:
        Name, expression or :class:`Activation`.
    scale:
        The standard deviation :math:`s` (:math:`b` for the Hermite coefficients), or ``None``.
    power:
        1 for :math:`M_0`, 2 for :math:`M_2` and :math:`\mathbb E\sigma(bz)^2` (what every model needs).

    Returns
    -------
    str or None
        One line naming the moment and the reason.

    >>> print(moment_divergence("1/x"))
    E|σ(a + s g)|^2 = ∞ for every s: |σ(x)| grows like |x - 0|^-1.0 near x = 0 (needs exponent < 1/2)
    >>> print(moment_divergence("exp(x**2)", scale=0.5))
    E|σ(a + s g)|^2 = ∞ at s = 0.5: σ grows too fast, like exp(1.0 x²), finite only for s < 0.5
    >>> moment_divergence("tanh", scale=3) is None
    True
    """
    act = activation if isinstance(activation, Activation) else get_activation(activation)
    (p, where), c = _obstructions(act)
    if p * power >= 1 - 1e-6:
        shown = "inf" if p == mpmath.inf else mpmath.nstr(p, 3)
        return (
            f"E|σ(a + s g)|^{power} = ∞ for every s: |σ(x)| grows like |x - {where}|^-{shown} "
            f"near x = {where} (needs exponent < 1/{power})"
        )
    if scale is not None and c > mpmath.mpf("1e-6"):
        limit = 1 / mpmath.sqrt(2 * power * c)
        if float(scale) >= float(limit) * (1 - 1e-12):
            return (
                f"E|σ(a + s g)|^{power} = ∞ at s = {float(scale):g}: σ grows too fast, like "
                f"exp({mpmath.nstr(c, 3)} x²), finite only for s < {mpmath.nstr(limit, 6)}"
            )
    return None


def require_finite_moments(activation: Activation | str, scale=None, power: int = 2) -> None:
    """Raise :class:`ActivationError` with :func:`moment_divergence`'s line when the moment is infinite.

    Raises
    ------
    ActivationError
        When :math:`\\mathbb E|\\sigma(a+sg)|^{\\text{power}} = \\infty` (see :func:`moment_divergence`).
    """
    reason = moment_divergence(activation, scale, power)
    if reason is not None:
        raise ActivationError(reason)


class _Registry(Mapping):
    """Name → :class:`Activation`, each built (real check, kinks by ``solveset``) on first use.

    Building all of them at import would spend most of its time in ``solveset`` on
    activations a run never uses (the time is on the Performance page of the docs).
    """

    def __init__(self, expressions: dict[str, Callable[[], sp.Expr]]):
        self._expressions = expressions
        self._built: dict[str, Activation] = {}

    def __getitem__(self, name: str) -> Activation:
        if name not in self._built:
            self._built[name] = _make(name, self._expressions[name]())
        return self._built[name]

    def __iter__(self):
        return iter(self._expressions)

    def __len__(self) -> int:
        return len(self._expressions)

    def __contains__(self, name: object) -> bool:
        return name in self._expressions


REGISTRY: Mapping[str, Activation] = _Registry({
    "relu": lambda: relu(X),
    "tanh": lambda: sp.tanh(X),
    "sigmoid": lambda: sigmoid(X),
    "erf": lambda: sp.erf(X),
    "softplus": lambda: softplus(X),
    "gelu": lambda: gelu(X),
    "silu": lambda: X * sigmoid(X),
    "leaky_relu": lambda: leaky_relu(X),
    "linear": lambda: X,
    "abs": lambda: sp.Abs(X),
    "sign": lambda: sp.sign(X),
    "step": lambda: sp.Heaviside(X),
    "hardtanh": lambda: sp.Max(-1, sp.Min(1, X)),
    "sin": lambda: sp.sin(X),
    "cos": lambda: sp.cos(X),
    "gaussian": lambda: sp.exp(-(X**2) / 2),
    "exp": lambda: sp.exp(X),
    **{f"relu{p}": functools.partial(lambda p: sp.Max(0, X) ** p, p) for p in (2, 3, 4)},
})  # fmt: skip
r"""Registered activations by name; ``leaky_relu`` has slope 1/100 (``leaky_relu(0.2)`` sets it);
``relu2..relu4`` are the rectified monomials :math:`\max(0,x)^p`; ``step`` is ``Heaviside(x)``
(value 1/2 at 0); ``gaussian`` is :math:`e^{-x^2/2}`."""

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
        return _make(f"leaky_relu({match.group(1)})", leaky_relu(X, slope))
    if key.isidentifier() and key != "x":  # "x" alone is the identity, an expression
        raise ActivationError(
            f"unknown activation {key!r}; registered: {', '.join(REGISTRY)}, or an expression in x"
        )
    return _make(key, parse_expression(key))
