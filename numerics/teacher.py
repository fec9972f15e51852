r"""The teacher: the regression target :math:`y = \sum_r c_r\,\sigma^*_r(\xi_r^\top x) + \delta\varepsilon`.

Any activation (registry name or whitelisted expression) per direction, up to
:data:`MAX_TEACHER_INDICES` directions with weights :math:`c_r`, the directions :math:`\xi_r`
random, along the spikes or the means, or given (:func:`teacher_directions`).  The default,
one ReLU with weight 1 along a random direction, is the paper's (Demir & Dogan, ICLR 2025,
Sec. 2).  A :class:`Teacher` is a static part of the realised
:class:`~onestep_gm.numerics.mixture.Mixture`; the spec's fields live on
:class:`~onestep_gm.numerics.mixture.MixtureSpec`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np
from onestep_gm.numerics.validation import is_finite, require
from onestep_gm.theory.activations import Activation, get_activation, require_finite_moments

Array = jax.Array

TEACHER_DIRECTIONS = ("random", "spikes", "means", "given")
MAX_TEACHER_INDICES = 8
"""The most directions :math:`R` of a multi-index teacher."""


LEGACY_TEACHERS = ("random", "spikes")
"""The old meaning of ``teacher`` (a direction), mapped by :meth:`MixtureSpec.upgrade_fields`."""


@dataclass(frozen=True)
class Teacher:
    r"""The target :math:`y = \sum_r c_r\sigma^*_r(\xi_r^\top x)`: activations and weights.

    A static (hashable, leaf-free) part of the :class:`Mixture` pytree: a jitted function
    compiles once per teacher.  The directions :math:`\xi_r` are arrays in :attr:`Mixture.xi`.
    """

    activations: tuple[Activation, ...]
    weights: tuple[float, ...]

    @property
    def indices(self) -> int:
        """The number :math:`R` of directions."""
        return len(self.activations)

    @property
    def is_relu(self) -> bool:
        """Today's default: one ReLU with weight 1."""
        return self.indices == 1 and self.activations[0].name == "relu" and self.weights == (1.0,)


jax.tree_util.register_static(Teacher)


def make_teacher(spec) -> Teacher:
    """The :class:`Teacher` of ``spec`` (a :class:`~onestep_gm.numerics.mixture.MixtureSpec`), checked.

    Raises
    ------
    ValueError
        For a ``teacher`` that is not a name/expression (or a tuple of 1 to
        :data:`MAX_TEACHER_INDICES` of them), an activation whose second moment is infinite,
        ``teacher_weights`` of another length or not finite, an unknown ``teacher_direction``,
        or a teacher other than the default ReLU with ``task="classification"``.
    """
    names = spec.teachers
    require(
        1 <= len(names) <= MAX_TEACHER_INDICES and all(isinstance(t, str) for t in names),
        f"teacher must be an activation (name or expression) or a tuple of 1 to "
        f"{MAX_TEACHER_INDICES} of them, got {spec.teacher!r}",
    )
    require(
        spec.teacher_direction in TEACHER_DIRECTIONS,
        f"teacher_direction must be one of {TEACHER_DIRECTIONS}, got {spec.teacher_direction!r}",
    )
    if any(t in LEGACY_TEACHERS for t in names):
        raise ValueError(
            f"teacher={spec.teacher!r} is the old direction field: use teacher_direction="
            f"{names[0]!r} (teacher is now the activation, default 'relu')"
        )
    activations = []
    for name in names:
        try:
            act = get_activation(name)
            require_finite_moments(act)
        except ValueError as exc:
            raise ValueError(f"teacher {name!r}: {exc}") from None
        activations.append(act)
    weights = (1.0,) * len(names) if spec.teacher_weights is None else spec.teacher_weights
    require(
        isinstance(weights, tuple) and len(weights) == len(names) and all(is_finite(w) for w in weights),
        f"teacher_weights must be {len(names)} finite numbers (one per teacher activation) or None, "
        f"got {spec.teacher_weights!r}",
    )
    teacher = Teacher(tuple(activations), tuple(float(w) for w in weights))
    if spec.task == "classification":
        require(
            teacher.is_relu and spec.teacher_weights is None,
            f"teacher={spec.teacher!r} applies to regression only: classification labels are "
            f"+-1 by component (leave teacher and teacher_weights at their defaults)",
        )
    return teacher


RELU_TEACHER = Teacher((get_activation("relu"),), (1.0,))
r"""The paper's target :math:`\mathrm{ReLU}(\xi^\top x)` (and the tag of classification data)."""


def check_teacher_vectors(spec, R: int) -> None:
    """``teacher_vectors`` go with ``teacher_direction="given"``: R finite non-zero rows of length n."""
    require(spec.teacher_direction == "given", "teacher_vectors are used with teacher_direction='given' only "
            f"(got teacher_direction={spec.teacher_direction!r})", "teacher_vectors")  # fmt: skip
    require(spec.teacher_vectors is not None,
            "teacher_direction='given' needs teacher_vectors, the (R, n) rows xi_r", "teacher_vectors")  # fmt: skip
    vectors = np.asarray(spec.teacher_vectors, np.float64)
    rows = vectors.reshape(1, -1) if vectors.ndim == 1 else vectors
    require(rows.ndim == 2 and rows.shape == (R, spec.n),
            f"teacher_vectors must have shape ({R}, {spec.n}) (one row per teacher activation), got "
            f"{vectors.shape}", "teacher_vectors")  # fmt: skip
    require(bool(np.all(np.isfinite(rows))), "teacher_vectors must be finite", "teacher_vectors")
    require(bool(np.all(np.linalg.norm(rows, axis=1) > 0)), "teacher_vectors has a zero row", "teacher_vectors")


def teacher_directions(spec, R: int, spikes: np.ndarray, means: np.ndarray, top: float,
                       rng: np.random.Generator) -> np.ndarray:
    r"""The directions :math:`\xi_r` of ``spec``'s teacher, on the host.

    Parameters
    ----------
    spec : MixtureSpec
        Its ``teacher_direction`` and ``teacher_vectors``.
    R : int
        The number of directions.
    spikes : array, shape ``(C, d, n)``
        The realised spikes :math:`\gamma_{c,i}` (``"spikes"``: :math:`\xi_r \propto
        \gamma_{1,r} + \gamma_{2,r}`, or :math:`\gamma_{1,r}` with one component).
    means : array, shape ``(C, n)``
        The realised means (``"means"``: :math:`\xi_r \propto \mu_r`).
    top : float
        :math:`\|\bar\Sigma\|_2`: every direction but ``"given"`` is rescaled to
        :math:`\|\xi_r\| = 1/\sqrt{\|\bar\Sigma\|_2}`.
    rng : numpy.random.Generator
        ``"random"``: :math:`\xi_1 \sim N(0, I_n)`, each further one a fresh draw made
        orthogonal to the earlier ones (Gram–Schmidt).

    Returns
    -------
    array, shape ``(n,)`` for one direction, ``(R, n)`` for several
    """
    n = spikes.shape[-1]
    C = spikes.shape[0]
    rows, units = [], []
    given = None if spec.teacher_vectors is None else np.asarray(spec.teacher_vectors, np.float64).reshape(R, n)
    for r in range(R):
        if given is not None:  # used as given: their norms set the teacher's scale
            rows.append(given[r])
            continue
        if spec.teacher_direction == "spikes":
            direction = spikes[0, r] + spikes[1, r] if C >= 2 else spikes[0, r]
        elif spec.teacher_direction == "means":
            direction = means[r]  # the r-th mean direction (C = 2: mu_1 = -mu_2, one direction)
        else:
            direction = rng.standard_normal(n)
            for unit in units:  # Gram-Schmidt against the directions drawn before
                direction = direction - (unit @ direction) * unit
        units.append(direction / np.linalg.norm(direction))
        rows.append(direction / (np.linalg.norm(direction) * math.sqrt(top)))
    return np.stack(rows) if R > 1 else rows[0]


def teacher_function(activation: Activation):
    r"""The elementwise JAX function of a teacher activation.

    Parameters
    ----------
    activation : Activation
        :math:`\sigma^*_r` (from :func:`~onestep_gm.theory.activations.get_activation`).

    Returns
    -------
    callable
        ``jax.nn.relu`` for ReLU (the labels of the default teacher are those of the paper's
        code, bit for bit), else the code-generated function of
        :func:`onestep_gm.numerics.codegen.jax_activation`.
    """
    if activation.name == "relu":
        return jax.nn.relu
    # SymPy-to-JAX code generation loads only for a teacher other than ReLU
    from onestep_gm.numerics.codegen import jax_activation

    return jax_activation(activation)[0]


def teacher_output(mixture, X: Array) -> Array:
    r""":math:`\sum_r c_r\sigma^*_r(\xi_r^\top x)` for the rows of ``X``, without the noise.

    Parameters
    ----------
    mixture : Mixture
        The realised mixture (its ``xi``, ``(n,)`` or ``(R, n)``, and its static ``teacher``).
    X : array, shape ``(m, n)``
        Inputs.

    Returns
    -------
    array, shape ``(m,)``
        The noiseless regression labels, in ``X``'s dtype.
    """
    teacher = mixture.teacher
    if mixture.xi.ndim == 1:
        out = teacher_function(teacher.activations[0])(X @ mixture.xi)
        return out if teacher.weights[0] == 1.0 else teacher.weights[0] * out
    T = X @ mixture.xi.T  # (m, R)
    return sum(w * teacher_function(act)(T[:, r]) for r, (act, w) in enumerate(zip(teacher.activations, teacher.weights, strict=True)))
