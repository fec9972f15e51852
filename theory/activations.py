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

Your own names (:func:`register_activation`, :func:`unregister_activation`,
:func:`activation_scope`) sit beside the built-in ones, for SymPy expressions and, through
:func:`onestep_gm.numerics.activations.numeric_activation`, for JAX callables
(:class:`ExternalActivation`):

>>> with activation_scope():
...     register_activation("cube", "x**3 - x").expr
x**3 - x
>>> "cube" in registered_names()
False
"""

from __future__ import annotations

import contextlib
import functools
import keyword
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

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
    reserved_names,
    sigmoid,
    softplus,
)

__all__ = [
    "X",
    "Activation",
    "ActivationError",
    "ExternalActivation",
    "REGISTRY",
    "KINK_RADIUS",
    "activation_scope",
    "add_activation",
    "get_activation",
    "kinks_of",
    "moment_divergence",
    "register_activation",
    "registered_names",
    "require_finite_moments",
    "require_symbolic",
    "unregister_activation",
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

    symbolic: ClassVar[bool] = True
    """Defined by a SymPy expression (the exact routes apply); ``False`` for an
    :class:`ExternalActivation`."""

    @property
    def definition(self) -> sp.Expr:
        """What defines it (compared when a name is registered again): the expression."""
        return self.expr

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


class ExternalActivation:
    r"""Base of an activation defined outside SymPy (a JAX callable:
    :class:`onestep_gm.numerics.activations.NumericActivation`).

    It answers the numeric questions itself and has no SymPy expression: reading
    :attr:`expr` (what every exact route does: derivation pages, closed-form kernels and
    moments, exact Hermite coefficients) raises :class:`ActivationError` with one line naming
    the activation and the alternative (:func:`require_symbolic`).  The routes that do not need
    SymPy ask ``activation.symbolic`` once and call the methods below.

    A subclass sets ``name`` and ``kinks`` (floats: where quadrature cuts its panels) and
    implements :meth:`hermite_coefficients`, :meth:`moment_divergence` and :meth:`functions`
    (the JAX pair, called by :func:`onestep_gm.numerics.codegen.jax_activation`).
    """

    symbolic: ClassVar[bool] = False
    name: str
    kinks: tuple = ()
    periodic: tuple = ()
    kinks_complete: ClassVar[bool] = True

    def refusal(self, what: str) -> str:
        """The one line that refuses ``what`` (a quantity that needs a SymPy expression)."""
        return (
            f"activation {self.name!r} is numeric (a JAX callable, not a SymPy expression), so "
            f"{what} cannot be derived for it; register the expression with "
            "register_activation(name, expr), or use the numeric routes (simulate, "
            "hermite_coefficients, population_moments)"
        )

    @property
    def expr(self):
        raise ActivationError(self.refusal("an exact quantity (a derivation page, a closed form)"))

    @property
    def definition(self):  # pragma: no cover - abstract
        """What defines it (compared when a name is registered again)."""
        raise NotImplementedError

    def functions(self):  # pragma: no cover - abstract
        """``(sigma, sigma_prime)``: elementwise JAX functions."""
        raise NotImplementedError

    def hermite_coefficients(self, b: float, order: int):  # pragma: no cover - abstract
        """:class:`~onestep_gm.theory.hermite.HermiteCoefficients` with ``method="numeric"``."""
        raise NotImplementedError

    def moment_divergence(self, scale, power: int) -> str | None:  # pragma: no cover - abstract
        """As :func:`moment_divergence`: one line when the moment is infinite, else ``None``."""
        raise NotImplementedError

    def latex(self) -> str:
        return rf"\mathrm{{{self.name}}}(x)"

    def __str__(self) -> str:
        return self.name


def require_symbolic(activation, what: str):
    """``activation`` when it has a SymPy expression; else :class:`ActivationError` with the one
    line of :meth:`ExternalActivation.refusal` naming ``what``.

    >>> require_symbolic(get_activation("tanh"), "a derivation page").name
    'tanh'
    """
    if not activation.symbolic:
        raise ActivationError(activation.refusal(what))
    return activation


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
    act = get_activation(activation)
    if not act.symbolic:
        return act.moment_divergence(scale, power)
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


# ---------------------------------------------------------------- your own names

_USER: dict[str, Activation | ExternalActivation] = {}
"""Activations registered by name in this process (:func:`register_activation`, :func:`add_activation`)."""
_DEFINED: dict[str, object] = {}
"""Every name ever registered in this process, with its definition: compiled programs and
caches are keyed by name, so a name keeps its first definition for the life of the process."""


def registered_names() -> list[str]:
    """The built-in names, then the ones registered in this process."""
    return [*REGISTRY, *_USER]


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise ActivationError(f"an activation name must be a string, got {type(name).__name__}")
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ActivationError(
            f"activation name {name!r} must be a Python identifier (letters, digits, '_'; "
            "not a keyword, not starting with '_')"
        )
    if name in REGISTRY:
        raise ActivationError(f"activation name {name!r} is built in; choose another name")
    if name in reserved_names():
        raise ActivationError(
            f"activation name {name!r} is a function, constant or the variable of the expression "
            "language; choose another name"
        )
    return name


def add_activation(activation: Activation | ExternalActivation):
    """Register an activation object under its ``name`` (the one entry for both kinds;
    :func:`register_activation` builds one from an expression,
    :func:`onestep_gm.numerics.activations.numeric_activation` from a JAX callable).

    Registering the same definition again returns the one registered.

    Raises
    ------
    ActivationError
        (a ``ValueError``) for a name that is not an identifier, a built-in or reserved name, a
        name registered now with another definition, or one registered earlier in this process
        with another definition (compiled programs are keyed by name: choose a new name).
    """
    name = _check_name(activation.name)
    current = _USER.get(name)
    if current is not None:
        if current.definition == activation.definition:
            return current
        raise ActivationError(
            f"activation {name!r} is registered already with another definition; "
            "unregister_activation(name) first, or choose another name"
        )
    if name in _DEFINED and _DEFINED[name] != activation.definition:
        raise ActivationError(
            f"activation {name!r} had another definition earlier in this process; compiled "
            "programs are cached by name, so a new definition needs a new name"
        )
    _DEFINED[name] = activation.definition
    _USER[name] = activation
    get_activation.cache_clear()
    return activation


def register_activation(name: str, expr: str) -> Activation:
    """Register a whitelisted expression in ``x`` under ``name``, usable wherever a registry
    name is (``simulate``, ``hermite_coefficients``, ``conditional_moments``, ``derive``, the
    command line run in the same process).

    The registration lasts until :func:`unregister_activation` or the end of the enclosing
    :func:`activation_scope`; a name keeps its first definition for the life of the process.

    Parameters
    ----------
    name : str
        A Python identifier, neither built in (:data:`REGISTRY`) nor a name of the expression
        language (``x``, ``tanh``, ``pi``, ...).
    expr : str
        An expression in ``x`` for the whitelist parser (:mod:`theory.expressions`), e.g.
        ``"x**3 - tanh(x)"``.

    Returns
    -------
    Activation
        The registered activation (``name`` is its name).

    Raises
    ------
    ActivationError
        (a ``ValueError``) for a bad or taken name, or an expression the parser refuses.

    >>> with activation_scope():
    ...     act = register_activation("bump", "exp(-x**2)")
    ...     get_activation("bump") is act
    True
    """
    name = _check_name(name)
    if not isinstance(expr, str):
        raise ActivationError(f"expr must be an expression string in x, got {type(expr).__name__}")
    return add_activation(_make(name, parse_expression(expr.strip())))


def unregister_activation(name: str) -> None:
    """Remove a name registered by :func:`register_activation` or ``numeric_activation``.

    Raises
    ------
    ActivationError
        When ``name`` is built in or not registered.
    """
    if name in REGISTRY:
        raise ActivationError(f"activation {name!r} is built in and cannot be unregistered")
    if name not in _USER:
        raise ActivationError(f"activation {name!r} is not registered")
    del _USER[name]
    get_activation.cache_clear()


@contextlib.contextmanager
def activation_scope() -> Iterator[None]:
    """Registrations made inside the ``with`` block end with it (tests, notebooks).

    >>> with activation_scope():
    ...     _ = register_activation("square", "x**2")
    >>> "square" in registered_names()
    False
    """
    before = dict(_USER)
    try:
        yield
    finally:
        _USER.clear()
        _USER.update(before)
        get_activation.cache_clear()


@functools.lru_cache(maxsize=256)
def get_activation(spec: str) -> Activation:
    """Resolve a registry name, a registered name, ``leaky_relu(slope)``, or a whitelisted
    expression in ``x``; an activation object is returned as it is.

    >>> get_activation("tanh").name
    'tanh'
    >>> get_activation("x**3 - tanh(x)").expr
    x**3 - tanh(x)
    """
    if isinstance(spec, (Activation, ExternalActivation)):
        return spec
    if not isinstance(spec, str):
        raise ActivationError(f"activation must be a name or an expression, got {type(spec).__name__}")
    key = spec.strip()
    if key in REGISTRY:
        return REGISTRY[key]
    if key in _USER:
        return _USER[key]
    if (match := _LEAKY.match(key)) is not None:
        slope = sp.Rational(match.group(1))
        return _make(f"leaky_relu({match.group(1)})", leaky_relu(X, slope))
    if key.isidentifier() and key != "x":  # "x" alone is the identity, an expression
        raise ActivationError(
            f"unknown activation {key!r}; registered: {', '.join(registered_names())}, or an expression in x"
        )
    return _make(key, parse_expression(key))
