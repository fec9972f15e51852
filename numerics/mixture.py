r"""Gaussian mixtures with spiked covariances and their labels.

The mixture model of Demir & Dogan (ICLR 2025, Sec. 2):

.. math::
    x \sim \sum_{c=1}^C \rho_c\, \mathcal N(\mu_c, \Sigma_c), \qquad
    \Sigma_c = I_n + \sum_{i\le d_c} \theta_{c,i}\,\gamma_{c,i}\gamma_{c,i}^\top,

with orthonormal spikes :math:`\gamma_{c,i}` within each component.  A component may instead be
isotropic (no spikes), have user-given spike directions and sizes, or a user-given full
covariance :math:`\Sigma_c = I + V\operatorname{diag}(\lambda - 1)V^\top` (``n`` spikes of
sizes :math:`\lambda_i - 1 \ge -1`, from its eigen-decomposition).  Nothing here ever forms
an :math:`n\times n` matrix for the mixture: samples use
:math:`\Sigma_c^{1/2} z = z + \sum_i (\sqrt{1+\theta_{c,i}} - 1)\gamma_{c,i}\gamma_{c,i}^\top z`
(:math:`O(mnd)`), and the top eigenvalue of :math:`\bar\Sigma = \sum_c\rho_c\Sigma_c` comes from a
:math:`(Cd)\times(Cd)` Gram problem.

Shapes: ``n`` input dimension, ``m`` samples, ``C`` components, ``d`` spikes per component
(padded to the largest :math:`d_c`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.frozen import FrozenArray, freeze
from onestep_gm.numerics.memory import available_memory, format_bytes
from onestep_gm.numerics.teacher import (
    LEGACY_TEACHERS,
    RELU_TEACHER,
    Teacher,
    check_teacher_vectors,
    make_teacher,
    teacher_directions,
    teacher_output,
)
from onestep_gm.numerics.validation import (
    FieldTypeError,
    check_bool,
    check_int,
    check_real,
    is_finite,
    is_int,
    require,
)
from onestep_gm.theory.order import check_strength, scalings

Array = jax.Array

TASKS = ("regression", "classification")
SPIKE_SIZES = ("equal", "uniform")
MAX_COVARIANCE_N = 2000
"""The largest ``n`` of a user-given full covariance (its eigen-decomposition is O(n³))."""


@dataclass(frozen=True)
class MixtureSpec:
    r"""A Gaussian mixture :math:`x \sim \sum_c \rho_c \mathcal N(\mu_c, \Sigma_c)` with labels.

    :math:`\Sigma_c = I_n + \sum_{i\le d_c} \theta_{c,i}\gamma_{c,i}\gamma_{c,i}^\top` with orthonormal
    spikes (Demir & Dogan, ICLR 2025, Sec. 2).  See :func:`make_mixture` for how each field is
    realised.

    Parameters
    ----------
    n : int
        Input dimension.
    beta : float
        Strength :math:`\beta \in [0, 1]`: :math:`\theta = n^{\beta(1-\alpha)}`, :math:`\eta = n^{\beta\alpha}`.
    alpha : float
        Weight :math:`\alpha \in [0, 1]`: the share of :math:`\beta` that goes to the learning rate.
    weights : tuple of float
        Mixture ratios :math:`\rho_c` (C = their number).
    spikes : int or tuple of int
        Spikes :math:`d_c` per component (one int for all).
    theta : float or None
        Spike size; ``None`` is :math:`n^{\beta(1-\alpha)}`.
    spike_sizes : {"equal", "uniform"}
        :math:`\theta_{c,i} = \theta`, or :math:`\theta\cdot U(0,1)` (the paper's Fig. 2c).
    alignment : float
        :math:`a` in :math:`\gamma_2 = a\gamma_1 + \sqrt{1-a^2}\gamma_2'`, in [−1, 1].
    equal_trace : bool
        Rescale components :math:`c \ge 2` to the trace of component 1.
    mean_norm : float
        :math:`\|\mu_c\|` (0: zero means).
    task : {"regression", "classification"}
        :math:`y = \sum_r c_r\sigma^*_r(\xi_r^\top x) + \delta\varepsilon`, or :math:`y = \pm 1`
        by component.
    teacher : str or tuple of str
        The target activation :math:`\sigma^*` (a registry name or a whitelisted expression in
        ``x``, as for the student); a tuple of up to :data:`~onestep_gm.numerics.teacher.MAX_TEACHER_INDICES` is the
        multi-index target :math:`\sum_r c_r\sigma^*_r(\xi_r^\top x)`.  Default ``"relu"``
        (the paper's).  Classification takes only the default.
    teacher_direction : {"random", "spikes", "means", "given"}
        Where the :math:`\xi_r` lie (:func:`make_mixture`); every :math:`\|\xi_r\| =
        1/\sqrt{\|\bar\Sigma\|_2}`, except ``"given"``.
    teacher_vectors : array (R, n) or (n,), or None
        With ``teacher_direction="given"``: the :math:`\xi_r` themselves, one row per teacher
        activation, used as given (their norms set the teacher's scale; any angles between them).
    teacher_weights : tuple of float or None
        :math:`c_r`, one per teacher activation; ``None`` is all 1.
    noise : float
        Label noise :math:`\delta \ge 0`.
    spike_directions : tuple of (array (d_c, n) or None), or None
        Per component, user-given spike directions :math:`\gamma_{c,i}` as orthonormal rows
        (checked to 1e-8), or ``None`` for the paper's random draw.  Their number overrides
        ``spikes`` for that component.
    spike_values : tuple of (tuple of float or None), or None
        Per component, user-given spike sizes :math:`\theta_{c,i} \ge -1` (used as given: no
        ``theta``, ``spike_sizes`` or ``equal_trace``), or ``None`` for the paper's sizes.
        With ``spike_directions`` of the same component, one size per direction; alone, the
        directions are drawn.
    covariances : tuple of (array (n, n) or None), or None
        Per component, a user-given full covariance :math:`\Sigma_c` (symmetric, positive
        semi-definite, finite, :math:`n \le 2000`), or ``None``.  Realised as ``n`` spikes:
        the eigenvectors, sizes :math:`\lambda_i - 1`.  Excludes ``spike_directions`` and
        ``spike_values`` for that component.

    Raises
    ------
    ValueError
        At construction, for a bad ``teacher``, ``teacher_direction`` or ``teacher_weights``,
        or a teacher other than the default with ``task="classification"``; the other fields
        are checked by :func:`validate_spec` when the spec is realised.

    Notes
    -----
    An empty entry (``[]``, as TOML sweep specs write it) stands for ``None``.  Arrays given
    here are held read-only and compared by content
    (:class:`~onestep_gm.numerics.frozen.FrozenArray`), so specs stay hashable and a cached
    result is found again from equal arrays.  ``equal_trace`` rescales only the components
    whose sizes follow the paper's rule, to the trace of the first of them; drawn spike and
    mean directions are orthonormal among themselves, user-given ones are used as given, and
    ``alignment`` relates drawn components to component 1 when component 1 is drawn.
    """

    n: int = 1000
    beta: float = 0.74
    alpha: float = 0.5
    weights: tuple[float, ...] = (0.5, 0.5)  # rho_c; C = len(weights)
    spikes: int | tuple[int, ...] = 1  # d_c (one int for all components)
    theta: float | None = None  # spike size; None -> n**(beta*(1-alpha))
    spike_sizes: str = "equal"  # "equal" | "uniform" (theta_{c,i} = theta*U(0,1), Fig 2c)
    alignment: float = 0.0  # a: gamma_2 = a*gamma_1 + sqrt(1-a^2)*gamma_2'
    equal_trace: bool = True  # rescale components c >= 2 to the trace of component 1
    mean_norm: float = 0.0  # ||mu_c||; 0 -> zero means
    task: str = "regression"  # "regression" | "classification"
    teacher: str | tuple[str, ...] = "relu"  # sigma*_r: name or expression; a tuple = multi-index
    noise: float = 0.0  # delta
    teacher_direction: str = "random"  # "random" | "spikes" | "means" | "given": where the xi_r lie
    teacher_vectors: FrozenArray | None = None  # (R, n) or (n,): the xi_r themselves, with "given"
    teacher_weights: tuple[float, ...] | None = None  # c_r; None -> all 1
    spike_directions: tuple[FrozenArray | None, ...] | None = None  # per component (d_c, n) rows
    spike_values: tuple[tuple[float, ...] | None, ...] | None = None  # per component theta_{c,i}
    covariances: tuple[FrozenArray | None, ...] | None = None  # per component (n, n) Sigma_c

    kind: ClassVar[str] = "mixture"
    """The tag of this data source in saved results and sweep specs."""
    title: ClassVar[str] = "Gaussian-mixture samples"
    """What the data are, in messages."""
    has_population_law: ClassVar[bool] = True
    """The mixture is its own population law: exact test errors and theory curves apply."""

    def __post_init__(self):
        for name in ("spike_directions", "covariances"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _freeze_entries(name, value))
        if self.spike_values is not None:
            require(isinstance(self.spike_values, tuple | list),
                    f"spike_values must be one entry per component, got {self.spike_values!r}")  # fmt: skip
            object.__setattr__(self, "spike_values", tuple(
                None if v is None or (isinstance(v, tuple | list) and len(v) == 0)
                else tuple(float(x) if is_finite(x) else x for x in v) if isinstance(v, tuple | list | np.ndarray)
                else v for v in self.spike_values
            ))  # fmt: skip
        if self.teacher_vectors is not None and not isinstance(self.teacher_vectors, FrozenArray):
            require(not isinstance(self.teacher_vectors, str), "teacher_vectors: arrays are not stored in "
                    f"saved results ({self.teacher_vectors}); pass them again", "teacher_vectors")  # fmt: skip
            try:
                object.__setattr__(self, "teacher_vectors", freeze(self.teacher_vectors))
            except (ValueError, TypeError) as error:
                raise ValueError(f"teacher_vectors: not an array of numbers ({error})") from None
        for name in ("teacher", "teacher_weights"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self.target()  # refuses a bad teacher at construction (one ValueError)

    @classmethod
    def upgrade_fields(cls, fields: dict) -> dict:
        """The fields of a saved result or sweep spec in today's names.

        Before the teacher took an activation, ``teacher`` was ``"random"`` or ``"spikes"`` (the
        direction of a ReLU teacher): those values become ``teacher_direction`` with
        ``teacher="relu"``.  The one place where old files are mapped.
        """
        fields = dict(fields)
        if fields.get("teacher") in LEGACY_TEACHERS and "teacher_direction" not in fields:
            fields["teacher_direction"] = fields.pop("teacher")
            fields["teacher"] = "relu"
        return fields

    @property
    def teachers(self) -> tuple[str, ...]:
        r"""The teacher's activations :math:`\sigma^*_r` as given (one for a single index)."""
        return (self.teacher,) if isinstance(self.teacher, str) else tuple(self.teacher)

    def target(self) -> Teacher:
        """The parsed teacher (:class:`Teacher`); raises ``ValueError`` naming the bad field."""
        return make_teacher(self)

    @property
    def components(self) -> int:
        """Number of components :math:`C`."""
        return len(self.weights)

    @property
    def max_spikes(self) -> int:
        """The largest spike count :math:`\\max_c d_c` (the padded ``d`` of :class:`Mixture`)."""
        return max(_spike_counts(self), default=0)

    def spike_size(self) -> float:
        r"""The spike size :math:`\theta` (:func:`spike_size`)."""
        return spike_size(self)

    def fixed_scales(self) -> None:
        r"""``None``: :math:`\tau` and :math:`b` follow from each realised mixture's trace."""
        return None

    def realise(self, key: Array | int, dtype=jnp.float64) -> Mixture:
        """One draw of the spikes and the teacher (:func:`make_mixture`)."""
        return make_mixture(self, key, dtype)

    def preload(self) -> None:
        """Nothing to read: the mixture is drawn, not loaded."""

    def validate(self) -> None:
        """Check every field now (:func:`validate_spec`); exceptions name the field."""
        validate_spec(self)


class Mixture(NamedTuple):
    """A realised mixture: a JAX pytree of arrays (vmap/jit-friendly).

    ``classification`` is a traced 0/1 flag, so one compiled sampler serves both tasks.
    """

    weights: Array  # (C,) rho_c
    means: Array  # (C, n) mu_c
    spikes: Array  # (C, d, n) rows orthonormal within a component; zero rows where d_c < d
    sizes: Array  # (C, d) theta_{c,i}; 0 for padding rows
    xi: Array  # (n,) teacher direction, (R, n) for a multi-index teacher; zeros for classification
    noise: Array  # () delta
    classification: Array  # () bool
    teacher: Teacher = RELU_TEACHER  # static: the activations sigma*_r and weights c_r

    @property
    def surrogate(self) -> Mixture:
        """The Gaussian mixture whose moments the theory uses: the mixture itself."""
        return self

    def sample(self, key: Array, m: int, dtype=None, components: Array | None = None):
        """``m`` samples ``(X (m, n), y (m,), c (m,) int32)`` (:func:`sample_mixture`)."""
        return sample_mixture(self, key, m, dtype, components)

    def check_draws(self, draws: int) -> None:
        """Nothing to check: a mixture gives any number of samples."""


# ---------------------------------------------------------------------------------------------
# Mixture construction
# ---------------------------------------------------------------------------------------------


def spike_size(spec: MixtureSpec) -> float:
    r"""The spike size :math:`\theta = n^{\beta(1-\alpha)}` (the model page of the docs), or ``spec.theta`` if set."""
    if spec.theta is not None:
        return float(spec.theta)
    return scalings(spec.n, spec.beta, spec.alpha).theta


def _freeze_entries(name: str, value) -> tuple[FrozenArray | None, ...]:
    require(isinstance(value, tuple | list), f"{name} must be one entry (an array or None) per component")
    out = []
    for c, entry in enumerate(value):
        require(not isinstance(entry, str),
                f"{name}[{c}]: arrays are not stored in saved results ({entry}); pass them again")  # fmt: skip
        if isinstance(entry, tuple | list) and len(entry) == 0:  # TOML has no None: [] stands for it
            out.append(None)
            continue
        try:
            out.append(freeze(entry))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{name}[{c}]: not an array of numbers ({error})") from None
    return tuple(out)


def _user_entry(spec: MixtureSpec, name: str, c: int):
    value = getattr(spec, name)
    return None if value is None else value[c]


def _has_user_covariance(spec: MixtureSpec) -> bool:
    return any(getattr(spec, name) is not None and any(v is not None for v in getattr(spec, name))
               for name in ("spike_directions", "spike_values", "covariances"))  # fmt: skip


def _spike_counts(spec: MixtureSpec) -> tuple[int, ...]:
    """d_c per component: user-given directions, sizes or covariances override ``spikes``."""
    counts = _paper_counts(spec)
    if not _has_user_covariance(spec):
        return counts
    for name in ("spike_directions", "spike_values", "covariances"):
        value = getattr(spec, name)
        require(value is None or len(value) == len(counts),
                f"{name}: {len(value) if value is not None else 0} entries given for {len(counts)} "
                f"components (one per component, None where not given)")  # fmt: skip
    out = []
    for c, d in enumerate(counts):
        covariance = _user_entry(spec, "covariances", c)
        directions = _user_entry(spec, "spike_directions", c)
        values = _user_entry(spec, "spike_values", c)
        if covariance is not None:
            d = covariance.shape[0] if covariance.array.ndim == 2 else 0
        elif directions is not None:
            d = directions.shape[0] if directions.array.ndim == 2 else 0
        elif values is not None:
            d = len(values)
        out.append(int(d))
    return tuple(out)


def _paper_counts(spec: MixtureSpec) -> tuple[int, ...]:
    C = len(spec.weights)
    counts = (spec.spikes,) * C if is_int(spec.spikes) else tuple(spec.spikes)
    require(
        len(counts) == C,
        f"spikes: {len(counts)} counts given for {C} components (weights has {C} entries)",
    )
    require(
        all(is_int(d) and d >= 0 for d in counts),
        f"spikes must be non-negative integers, got {spec.spikes!r}",
    )
    return tuple(int(d) for d in counts)


def _mean_directions(spec: MixtureSpec) -> int:
    if spec.mean_norm == 0:
        return 0
    return 1 if len(spec.weights) == 2 else len(spec.weights)


def validate_spec(spec: MixtureSpec) -> tuple[int, ...]:
    """Check ``spec``; raise :class:`ValueError` naming the first bad field. Returns the d_c."""
    _check_field_types(spec)
    counts = _check_field_values(spec)
    R = spec.target().indices
    require(
        is_finite(spec.noise) and spec.noise >= 0,
        f"noise (delta) must be finite and >= 0, got {spec.noise!r}",
    )
    _check_teacher_directions(spec, counts, R)
    _check_room(spec, counts, R)
    return counts


def _check_field_types(spec: MixtureSpec) -> None:
    """Each field of the right type (and the strengths in range)."""
    check_int("n", spec.n, 1)
    for name in ("alignment", "mean_norm", "noise"):
        check_real(name, getattr(spec, name))
    if spec.theta is not None:
        check_real("theta", spec.theta, 0)
    check_bool("equal_trace", spec.equal_trace)
    if not isinstance(spec.weights, tuple | list):
        raise FieldTypeError("weights", f"weights must be a list of numbers (got {spec.weights!r})")
    if not is_int(spec.spikes):
        if not isinstance(spec.spikes, tuple | list):
            raise FieldTypeError("spikes", f"spikes must be an integer or a list of integers (got {spec.spikes!r})")
        for d in spec.spikes:
            check_int("spikes", d, 0)
    else:
        check_int("spikes", spec.spikes, 0)
    for name in ("beta", "alpha"):
        check_strength(getattr(spec, name), name)


def _check_field_values(spec: MixtureSpec) -> tuple[int, ...]:
    """Each field in its range, field by field; returns the spike counts d_c."""
    weights = tuple(spec.weights)
    require(len(weights) >= 1, "weights must have at least one entry")
    require(
        all(is_finite(w) and w >= 0 for w in weights),
        f"weights must be finite and >= 0, got {weights}",
    )
    require(abs(sum(weights) - 1) <= 1e-9, f"weights must sum to 1, got sum {sum(weights)!r}")
    counts = _spike_counts(spec)
    require(
        spec.theta is None or (is_finite(spec.theta) and spec.theta >= 0),
        f"theta must be None or a finite number >= 0, got {spec.theta!r}",
    )
    require(
        spec.spike_sizes in SPIKE_SIZES,
        f"spike_sizes must be one of {SPIKE_SIZES}, got {spec.spike_sizes!r}",
    )
    require(
        is_finite(spec.alignment) and abs(spec.alignment) <= 1,
        f"alignment must lie in [-1, 1], got {spec.alignment!r}",
    )
    require(
        is_finite(spec.mean_norm) and spec.mean_norm >= 0,
        f"mean_norm must be finite and >= 0, got {spec.mean_norm!r}",
    )
    if _has_user_covariance(spec):
        _validate_user_covariance(spec)
    require(spec.task in TASKS, f"task must be one of {TASKS}, got {spec.task!r}")
    return counts


def _check_teacher_directions(spec: MixtureSpec, counts: tuple[int, ...], R: int) -> None:
    """The teacher's R directions exist in this mixture (spikes, given vectors or means)."""
    if spec.task == "regression" and spec.teacher_direction == "spikes":
        pairs = len(counts) >= 2
        require(
            min(counts[:2]) >= R,
            f"teacher_direction='spikes' with {R} teacher direction(s) needs at least {R} spike(s) in "
            f"{'each of the first two components' if pairs else 'the component'}, got spikes {counts}",
        )
        require(
            not pairs or spec.alignment != -1,
            "teacher_direction='spikes' is undefined for alignment -1 (gamma_1r + gamma_2r = 0)",
        )
    if spec.teacher_direction == "given" or spec.teacher_vectors is not None:
        check_teacher_vectors(spec, R)
    if spec.task == "regression" and spec.teacher_direction == "means":
        available = _mean_directions(spec)
        require(
            available >= R,
            f"teacher_direction='means' with {R} teacher direction(s) needs mean_norm > 0 and at least "
            f"{R} mean direction(s); this mixture has {available} (C = 2 has one, mu_2 = -mu_1)",
        )


def _check_room(spec: MixtureSpec, counts: tuple[int, ...], R: int) -> None:
    """Sizes drawn where needed, and n large enough for every orthogonal direction."""
    drawn = _drawn_counts(spec, counts)
    sized = [d for c, d in enumerate(counts) if _draws_sizes(spec, c)]
    if spec.equal_trace and spike_size(spec) > 0 and any(sized):
        require(
            all(d > 0 for d in sized),
            f"equal_trace needs at least one spike in every component, got spikes {counts}",
        )
    directions = sum(drawn) + _mean_directions(spec)
    require(
        directions <= spec.n,
        f"n = {spec.n} is too small: the spikes and means need {directions} orthogonal directions",
    )
    require(R <= spec.n, f"n = {spec.n} is too small for {R} orthogonal teacher directions")


def _draws_sizes(spec: MixtureSpec, c: int) -> bool:
    return _user_entry(spec, "covariances", c) is None and _user_entry(spec, "spike_values", c) is None


def _drawn_counts(spec: MixtureSpec, counts: tuple[int, ...]) -> tuple[int, ...]:
    """Spikes whose directions are drawn: 0 for components with given directions or covariance."""
    return tuple(
        0 if _user_entry(spec, "covariances", c) is not None or _user_entry(spec, "spike_directions", c) is not None
        else d for c, d in enumerate(counts)
    )  # fmt: skip


def _validate_user_covariance(spec: MixtureSpec) -> None:
    C, n = len(spec.weights), spec.n
    for c in range(C):
        covariance = _user_entry(spec, "covariances", c)
        directions = _user_entry(spec, "spike_directions", c)
        values = _user_entry(spec, "spike_values", c)
        if covariance is not None:
            require(directions is None and values is None,
                    f"covariances[{c}]: give a full covariance or spikes for a component, not both")  # fmt: skip
            covariance_spikes(covariance, n, f"covariances[{c}]", C)
        if directions is not None:
            D = directions.array
            require(D.ndim == 2 and D.shape[1] == n and 1 <= D.shape[0] <= n,
                    f"spike_directions[{c}]: shape {D.shape}, expected (d, n) = (d, {n}) with 1 <= d <= n")  # fmt: skip
            require(bool(np.isfinite(D).all()), f"spike_directions[{c}]: NaN or infinite entries")
            gap = float(np.abs(D @ D.T - np.eye(len(D))).max())
            require(gap <= 1e-8, f"spike_directions[{c}]: rows must be orthonormal (max |D D^T - I| = "
                                 f"{gap:.3g}); orthonormalise them first (numpy.linalg.qr)")  # fmt: skip
        if values is not None:
            require(isinstance(values, tuple) and len(values) >= 1
                    and all(is_finite(v) and v >= -1 for v in values),
                    f"spike_values[{c}]: sizes must be finite numbers >= -1 (Sigma_c positive "
                    f"semi-definite), got {values!r}")  # fmt: skip
            if directions is not None and len(values) != len(directions.array):
                raise ValueError(f"spike_values[{c}]: {len(values)} sizes for {len(directions.array)} spike directions")


_EIGEN: dict = {}


def covariance_spikes(covariance: FrozenArray, n: int, name: str = "covariance", components: int = 1):
    r"""A full covariance as spikes: ``(directions (n, n) rows, sizes (n,))`` with
    :math:`\Sigma = I + \sum_i s_i v_i v_i^\top`, :math:`s_i = \lambda_i - 1 \ge -1`
    (eigenvalues in decreasing order; those within rounding below 0 set to 0).

    Cached per matrix (content hash), for the last few matrices.

    Raises
    ------
    ValueError
        ``"<name>: ..."`` for a wrong shape, ``n`` above :data:`MAX_COVARIANCE_N`, more memory
        than available, non-finite entries, asymmetry beyond 1e-10 relative, or an eigenvalue
        below -1e-10 relative (not positive semi-definite).
    """
    S = covariance.array
    require(S.ndim == 2 and S.shape == (n, n), f"{name}: shape {S.shape}, expected (n, n) = ({n}, {n})")
    require(n <= MAX_COVARIANCE_N,
            f"{name}: n = {n} exceeds {MAX_COVARIANCE_N}, the largest full covariance "
            f"(give spike_directions and spike_values instead)")  # fmt: skip
    need = 8 * n * n * (components + 4)
    require(need <= available_memory(),
            f"{name}: a full covariance of n = {n} for {components} components needs about "
            f"{format_bytes(need)}, more than the available memory")  # fmt: skip
    require(bool(np.isfinite(S).all()), f"{name}: NaN or infinite entries")
    scale = max(1.0, float(np.abs(S).max()))
    asymmetry = float(np.abs(S - S.T).max())
    require(asymmetry <= 1e-10 * scale, f"{name}: not symmetric (max |S - S^T| = {asymmetry:.3g})")
    if covariance not in _EIGEN:
        eigenvalues, vectors = np.linalg.eigh((S + S.T) / 2)
        if len(_EIGEN) >= 4:
            _EIGEN.pop(next(iter(_EIGEN)))
        _EIGEN[covariance] = (eigenvalues[::-1].copy(), vectors[:, ::-1].T.copy())
    eigenvalues, rows = _EIGEN[covariance]
    lowest = float(eigenvalues[-1])
    require(lowest >= -1e-10 * max(scale, float(eigenvalues[0])),
            f"{name}: not positive semi-definite (smallest eigenvalue {lowest:.3g})")  # fmt: skip
    return rows, np.clip(eigenvalues, 0.0, None) - 1.0


def _host_rng(key: Array | int) -> np.random.Generator:
    """A numpy generator determined by a JAX key (raw or typed) or an int seed."""
    if is_int(key):
        return np.random.default_rng(int(key))
    key = jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def _orthonormal_rows(rng: np.random.Generator, n: int, r: int) -> np.ndarray:
    """r Haar-distributed orthonormal rows in R^n (QR of a Gaussian with the sign fix)."""
    Q, R = np.linalg.qr(rng.standard_normal((n, r)))
    return (Q * np.where(np.diagonal(R) < 0, -1.0, 1.0)).T


def _realise_sizes(spec: MixtureSpec, counts: tuple[int, ...], rng: np.random.Generator):
    C, d = len(counts), max(counts)
    draws = rng.uniform(size=(C, d)) if spec.spike_sizes == "uniform" else np.ones((C, d))
    return sizes_from_draws(spec, counts, draws)


def sizes_from_draws(spec: MixtureSpec, counts: tuple[int, ...], draws: np.ndarray) -> np.ndarray:
    r"""The spike sizes :math:`\theta_{c,i} = \theta U_{c,i}` ``(..., C, d)`` of a spec without user
    covariances, from the uniform draws ``draws`` ``(..., C, d)`` (ones for ``spike_sizes="equal"``),
    after ``equal_trace``'s rescaling; ``counts`` the spikes per component
    (:func:`validate_spec`).  The one place a draw becomes sizes: :func:`make_mixture` and the
    sampling-free theory's average over the sizes' law both come through here."""
    C, d = len(counts), max(counts)
    present = np.arange(d)[None, :] < np.asarray(counts)[:, None]
    sizes = spike_size(spec) * np.asarray(draws, np.float64) * present
    if spec.equal_trace:
        target = sizes[..., 0, :].sum(axis=-1)
        for c in range(1, C):
            total = sizes[..., c, :].sum(axis=-1)
            sizes[..., c, :] *= np.where(total > 0, target / np.where(total > 0, total, 1.0), 1.0)[..., None]
    return sizes


def _realise_spikes(counts: tuple[int, ...], basis: np.ndarray, a: float) -> np.ndarray:
    d, n = max(counts), basis.shape[1]
    spikes = np.zeros((len(counts), d, n))
    first = basis[: counts[0]]
    spikes[0, : counts[0]] = first
    start = counts[0]
    for c, d_c in enumerate(counts[1:], start=1):
        own = basis[start : start + d_c]
        start += d_c
        shared = min(d_c, counts[0])
        spikes[c, :shared] = a * first[:shared] + math.sqrt(max(0.0, 1.0 - a * a)) * own[:shared]
        spikes[c, shared:d_c] = own[shared:]
    return spikes


def _realise_user(spec: MixtureSpec, counts: tuple[int, ...], rng: np.random.Generator, mean_dirs: int):
    """Spikes and sizes when some component has user-given directions, sizes or covariance."""
    n, C, d = spec.n, len(counts), max(counts, default=0)
    drawn = _drawn_counts(spec, counts)
    basis = _orthonormal_rows(rng, n, sum(drawn) + mean_dirs)
    drawn_spikes = _realise_spikes(drawn, basis, float(spec.alignment)) if any(drawn) else None
    sized = [c for c in range(C) if _draws_sizes(spec, c)]
    uniform = rng.uniform(size=(C, d)) if spec.spike_sizes == "uniform" else np.ones((C, d))
    spikes, sizes = np.zeros((C, d, n)), np.zeros((C, d))
    for c, d_c in enumerate(counts):
        covariance = _user_entry(spec, "covariances", c)
        directions = _user_entry(spec, "spike_directions", c)
        values = _user_entry(spec, "spike_values", c)
        if covariance is not None:
            spikes[c, :d_c], sizes[c, :d_c] = covariance_spikes(covariance, n, f"covariances[{c}]", C)
            continue
        spikes[c, :d_c] = directions.array if directions is not None else drawn_spikes[c, :d_c]
        sizes[c, :d_c] = values if values is not None else spike_size(spec) * uniform[c, :d_c]
    if spec.equal_trace and sized:
        target = sizes[sized[0]].sum()
        for c in sized[1:]:
            total = sizes[c].sum()
            if total > 0:
                sizes[c] *= target / total
    return basis, spikes, np.clip(sizes, -1.0, None)


def make_mixture(spec: MixtureSpec, key: Array | int, dtype=jnp.float64) -> Mixture:
    r"""Realise ``spec``: draw spikes, spike sizes, means and the teacher.

    * Spike size :math:`\theta = n^{\beta(1-\alpha)}` (or ``spec.theta``);
      ``"uniform"``: :math:`\theta_{c,i} = \theta\,U_{c,i}`, :math:`U\sim U(0,1)` (Fig 2c).
    * ``equal_trace``: sizes of components :math:`c\ge 2` are multiplied by
      :math:`\sum_i\theta_{1,i} / \sum_i\theta_{c,i}`, so :math:`\operatorname{tr}\Sigma_c =
      \operatorname{tr}\Sigma_1`.
    * Spikes: :math:`\gamma_{1,\cdot}` Haar-random orthonormal; for every :math:`c\ge2` and
      :math:`i\le\min(d_1,d_c)`, :math:`\gamma_{c,i} = a\gamma_{1,i} + \sqrt{1-a^2}\,\gamma'_{c,i}`
      with all :math:`\gamma'` orthonormal and orthogonal to :math:`\gamma_{1,\cdot}`; so
      :math:`\gamma_{1,i}^\top\gamma_{c,j} = a\delta_{ij}`, each component's spikes are
      orthonormal, and two components :math:`c, c' \ge 2` overlap by :math:`a^2\delta_{ij}`.
      Spikes with :math:`i > d_1` are :math:`\gamma'_{c,i}`.
    * Means (``mean_norm`` :math:`= r > 0`): a direction :math:`e` orthogonal to all spikes,
      :math:`\mu_1 = r e = -\mu_2` when :math:`C = 2`; otherwise :math:`C` orthonormal
      directions, :math:`\mu_c = r e_c` (:math:`C = 1`: all data shifted by :math:`\mu_1 = r e`).
    * Teacher directions (regression), :math:`r = 1..R`: ``teacher_direction="random"``:
      :math:`\xi_1\sim\mathcal N(0,I_n)`, and each further :math:`\xi_r` a fresh Gaussian
      draw made orthogonal to :math:`\xi_1..\xi_{r-1}` (Gram–Schmidt); ``"spikes"``:
      :math:`\xi_r \propto \gamma_{1,r}+\gamma_{2,r}` (Fig 4 for :math:`R = 1`; mutually
      orthogonal since :math:`\gamma_{1,i}^\top\gamma_{2,j} = a\delta_{ij}`; needs
      :math:`d_1, d_2 \ge R` and :math:`a \ne -1`), or :math:`\xi_r \propto\gamma_{1,r}` with one
      component; ``"means"``: :math:`\xi_r \propto e_r`, the :math:`r`-th mean direction (needs
      ``mean_norm`` > 0 and :math:`R` mean directions: one for :math:`C = 2`, :math:`C` otherwise).
      ``"given"``: the rows of ``teacher_vectors``, as given.  Every other
      :math:`\xi_r` is rescaled to :math:`\|\xi_r\| = 1/\sqrt{\|\bar\Sigma\|_2}`.  One
      direction is stored as ``xi`` of shape ``(n,)``, several as ``(R, n)``.
      Classification: :math:`\xi = 0`.

    * User-given covariances (:class:`MixtureSpec` ``spike_directions``, ``spike_values``,
      ``covariances``): given directions and sizes are used as given; a full covariance
      becomes ``n`` spikes from its eigen-decomposition (:func:`covariance_spikes`).

    Construction runs on the host in numpy (:math:`O(n r^2)` for the :math:`r` directions, no
    XLA compilation per shape), with randomness determined by ``key`` (a JAX key or an int
    seed); the result is a pytree of ``dtype`` arrays.  Raises :class:`ValueError` for an
    invalid spec (see :func:`validate_spec`).
    """
    counts = validate_spec(spec)
    rng = _host_rng(key)
    n, C = spec.n, len(counts)
    mean_dirs = _mean_directions(spec)
    if _has_user_covariance(spec):
        basis, spikes, sizes = _realise_user(spec, counts, rng, mean_dirs)
    else:
        basis = _orthonormal_rows(rng, n, sum(counts) + mean_dirs)
        sizes = _realise_sizes(spec, counts, rng)
        spikes = _realise_spikes(counts, basis, float(spec.alignment))

    means = np.zeros((C, n))
    if mean_dirs == 1 and C == 2:
        means = spec.mean_norm * np.stack([basis[-1], -basis[-1]])
    elif mean_dirs:
        means = spec.mean_norm * basis[-C:]

    teacher = spec.target()
    R = teacher.indices
    xi = np.zeros(n)
    if spec.task == "regression":
        top = _signed_top_eigenvalue if np.any(sizes < 0) else _top_eigenvalue
        lam = top(np.asarray(spec.weights, np.float64), sizes, spikes, np)
        xi = teacher_directions(spec, R, spikes, means, lam, rng)

    return Mixture(
        weights=jnp.asarray(spec.weights, dtype),
        means=jnp.asarray(means, dtype),
        spikes=jnp.asarray(spikes, dtype),
        sizes=jnp.asarray(sizes, dtype),
        xi=jnp.asarray(xi, dtype),
        noise=jnp.asarray(spec.noise, dtype),
        classification=jnp.asarray(spec.task == "classification"),
        teacher=teacher,
    )


# ---------------------------------------------------------------------------------------------
# Mixture statistics and sampling
# ---------------------------------------------------------------------------------------------


def covariance_trace(mixture: Mixture) -> Array:
    r""":math:`\tau = \operatorname{tr}\bar\Sigma = \sum_c\rho_c\,(n + \sum_i\theta_{c,i})`.

    The trace of the average covariance :math:`\bar\Sigma=\sum_c\rho_c\Sigma_c`; the spread of
    the means is excluded (it is the :math:`\tau` that normalises :math:`F`).
    """
    n = mixture.means.shape[-1]
    return jnp.sum(mixture.weights * (n + jnp.sum(mixture.sizes, axis=-1)))


def _top_eigenvalue(weights, sizes, spikes, xp):
    C, d, n = spikes.shape
    if C * d == 0:
        return 1.0
    B = spikes.reshape(C * d, n)
    root = xp.sqrt(xp.clip(weights[:, None] * sizes, 0.0, None)).reshape(C * d)
    small = root[:, None] * (B @ B.T) * root[None, :]
    return 1.0 + xp.maximum(xp.linalg.eigvalsh(small)[-1], 0.0)


def _signed_top_eigenvalue(weights, sizes, spikes, xp):
    r""":math:`\|\bar\Sigma\|_2` when some sizes are negative (eigenvalues below 1)."""
    C, d, n = spikes.shape
    if C * d == 0:
        return 1.0
    B = spikes.reshape(C * d, n)
    D = (weights[:, None] * sizes).reshape(C * d)
    if C * d >= n:  # B may span R^n: the dense n x n matrix, no guaranteed eigenvalue 1
        return 1.0 + xp.linalg.eigvalsh((B.T * D) @ B)[-1]
    # C d < n: Sigma_bar keeps an eigenvalue 1; B^T D B's others are those of L^T D L, B B^T = L L^T
    gram_values, Q = xp.linalg.eigh(B @ B.T)
    L = Q * xp.sqrt(xp.clip(gram_values, 0.0, None))
    return 1.0 + xp.maximum(xp.linalg.eigvalsh((L.T * D) @ L)[-1], 0.0)


def top_eigenvalue(mixture: Mixture) -> Array:
    r""":math:`\|\bar\Sigma\|_2` for :math:`\bar\Sigma = I_n + B D B^\top`, without an
    :math:`n\times n` matrix.

    :math:`B\in\mathbb R^{n\times Cd}` stacks all spikes, :math:`D=\operatorname{diag}(\rho_c
    \theta_{c,i})\succeq 0`; the non-zero spectrum of :math:`BDB^\top` is that of
    :math:`D^{1/2}B^\top B D^{1/2}` (size :math:`Cd`), so
    :math:`\|\bar\Sigma\|_2 = 1 + \lambda_{\max}(D^{1/2}B^\top BD^{1/2})`. Means excluded.
    Negative sizes (a user-given covariance with eigenvalues below 1) are handled exactly
    through :math:`L^\top D L` with :math:`B^\top B = LL^\top` (or the dense matrix when
    :math:`Cd \ge n`).
    """
    lam = _signed_top_eigenvalue(mixture.weights, mixture.sizes, mixture.spikes, jnp)
    return jnp.asarray(lam, mixture.means.dtype)


def component_covariance_apply(mixture: Mixture, c: int | Array, V: Array) -> Array:
    r""":math:`\Sigma_c V = V + \Gamma_c^\top\operatorname{diag}(\theta_c)\Gamma_c V` for
    ``V`` of shape (n,) or (n, r); :math:`O(ndr)`; ``c`` may be traced."""
    U, theta = mixture.spikes[c], mixture.sizes[c]
    coords = U @ V
    scaled = theta * coords if V.ndim == 1 else theta[:, None] * coords
    return V + U.T @ scaled


def _labels(mixture: Mixture, X: Array, c: Array, key: Array) -> Array:
    regression = teacher_output(mixture, X)
    regression = regression + mixture.noise * jax.random.normal(key, c.shape, X.dtype)
    classification = jnp.where(c == 0, 1.0, -1.0).astype(X.dtype)
    return jnp.where(mixture.classification, classification, regression)


NORMAL_BLOCK_ENTRIES = 1 << 20
_MAX_NORMAL_BLOCKS = 64


def blocked_normal(key: Array, rows: int, n: int, dtype) -> Array:
    """``(rows, n)`` standard normals drawn as independent row blocks of about
    ``NORMAL_BLOCK_ENTRIES`` entries.

    Same distribution as one ``jax.random.normal`` call; on CPU the independent blocks run
    on all cores, each in cache (faster than one call for the Fashion-MNIST sizes; the
    numbers are on the Performance page of the docs).
    """
    block = max(1, NORMAL_BLOCK_ENTRIES // max(n, 1), -(-rows // _MAX_NORMAL_BLOCKS))
    sizes = [min(block, rows - start) for start in range(0, rows, block)]
    if len(sizes) <= 1:
        return jax.random.normal(key, (rows, n), dtype)
    keys = jax.random.split(key, len(sizes))
    return jnp.concatenate([jax.random.normal(k, (size, n), dtype) for k, size in zip(keys, sizes, strict=True)])


def _floats_as(tree, dtype):
    if dtype is None:
        return tree
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def balanced_components(key: Array, weights: Array, sizes: tuple[int, ...]) -> Array:
    r"""Component labels for consecutive batches of ``sizes``, each with fixed counts.

    Batch :math:`b` of size :math:`M` gets exactly :math:`\lfloor M\sum_{c'\le c}\rho_{c'}
    + \tfrac12\rfloor - \lfloor M\sum_{c'<c}\rho_{c'} + \tfrac12\rfloor` samples of
    component :math:`c` (so :math:`M/2` each for :math:`\rho = (\frac12, \frac12)` and even
    :math:`M`), in a random order: the paper's code draws its batches this way.  ``weights``
    may be traced (no shape depends on it).  Returns ``(sum(sizes),)`` int32.
    """
    weights = jnp.asarray(weights, jnp.float64)
    edges = jnp.cumsum(weights)[:-1]
    parts = []
    for key_b, size in zip(jax.random.split(key, len(sizes)), sizes, strict=True):
        slots = (jnp.arange(size) + 0.5) / size  # slot i is component c when it falls in c's share
        c = jnp.searchsorted(jnp.floor(edges * size + 0.5) / size, slots, side="right")
        parts.append(jax.random.permutation(key_b, c.astype(jnp.int32)))
    return jnp.concatenate(parts)


@functools.partial(jax.jit, static_argnames=("m", "dtype"))
def sample_mixture(
    mixture: Mixture, key: Array, m: int, dtype=None, components: Array | None = None
) -> tuple[Array, Array, Array]:
    r"""Draw ``m`` i.i.d. samples: ``(X (m, n), y (m,), c (m,) int32)``.

    :math:`c\sim\mathrm{Categorical}(\rho)`, :math:`x = \mu_c + z + \sum_i (\sqrt{1+\theta_{c,i}}-1)
    \gamma_{c,i}\gamma_{c,i}^\top z` with :math:`z\sim\mathcal N(0,I_n)` (:math:`=\mu_c +
    \Sigma_c^{1/2}z`, :math:`O(mnCd)`). Labels: regression :math:`y = \sum_r c_r\sigma^*_r(\xi_r^\top x) +
    \delta\varepsilon` (:func:`teacher_output`); classification :math:`y = +1` for component 0 and :math:`-1` otherwise.
    Pure and jitted with ``m`` static.  Everything is drawn and computed in ``dtype`` (default:
    the dtype of ``mixture.means``); the float32 engine asks for float32, which rounds each
    sample to 7 digits and cuts the normal tails at 5.3σ.  ``components`` (``(m,)`` int32, e.g.
    from :func:`balanced_components`) fixes every sample's component instead of drawing it.
    """
    key_c, key_z, key_eps = jax.random.split(key, 3)
    mixture = _floats_as(mixture, dtype)
    C, _, n = mixture.spikes.shape
    dtype = mixture.means.dtype
    if components is None:
        c = jax.random.categorical(key_c, jnp.log(mixture.weights), shape=(m,)).astype(jnp.int32)
    else:
        c = jnp.asarray(components, jnp.int32)
    onehot = jax.nn.one_hot(c, C, dtype=dtype)
    z = blocked_normal(key_z, m, n, dtype)
    stretch = jnp.sqrt(1.0 + mixture.sizes) - 1.0
    coords = jnp.einsum("mn,cdn->mcd", z, mixture.spikes) * stretch * onehot[:, :, None]
    X = z + jnp.einsum("mcd,cdn->mn", coords, mixture.spikes) + onehot @ mixture.means
    return X, _labels(mixture, X, c, key_eps), c
