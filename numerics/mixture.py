r"""Gaussian mixtures with spiked covariances and their labels.

The mixture model of Demir & Dogan (ICLR 2025, Sec. 2):

.. math::
    x \sim \sum_{c=1}^C \rho_c\, \mathcal N(\mu_c, \Sigma_c), \qquad
    \Sigma_c = I_n + \sum_{i\le d_c} \theta_{c,i}\,\gamma_{c,i}\gamma_{c,i}^\top,

with orthonormal spikes :math:`\gamma_{c,i}` within each component.  Nothing here ever forms
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
from onestep_gm.numerics.validation import is_finite, is_int, require
from onestep_gm.theory.order import check_strength, scalings

Array = jax.Array

TASKS = ("regression", "classification")
TEACHERS = ("random", "spikes")
SPIKE_SIZES = ("equal", "uniform")


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
        :math:`y = \mathrm{ReLU}(\xi^\top x) + \delta\varepsilon`, or :math:`y = \pm 1` by component.
    teacher : {"random", "spikes"}
        :math:`\xi` random with :math:`\|\xi\| = 1/\sqrt{\|\bar\Sigma\|}`, or along the first spikes.
    noise : float
        Label noise :math:`\delta \ge 0`.
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
    teacher: str = "random"  # "random" | "spikes" (xi along gamma_{1,1} + gamma_{2,1})
    noise: float = 0.0  # delta

    kind: ClassVar[str] = "mixture"
    """The tag of this data source in saved results and sweep specs."""
    title: ClassVar[str] = "Gaussian-mixture samples"
    """What the data are, in messages."""
    has_population_law: ClassVar[bool] = True
    """The mixture is its own population law: exact test errors and theory curves apply."""

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


class Mixture(NamedTuple):
    """A realised mixture: a JAX pytree of arrays (vmap/jit-friendly).

    ``classification`` is a traced 0/1 flag, so one compiled sampler serves both tasks.
    """

    weights: Array  # (C,) rho_c
    means: Array  # (C, n) mu_c
    spikes: Array  # (C, d, n) rows orthonormal within a component; zero rows where d_c < d
    sizes: Array  # (C, d) theta_{c,i}; 0 for padding rows
    xi: Array  # (n,) teacher direction; zeros for classification
    noise: Array  # () delta
    classification: Array  # () bool

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


def _spike_counts(spec: MixtureSpec) -> tuple[int, ...]:
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
    require(is_int(spec.n) and spec.n >= 1, f"n must be an integer >= 1, got {spec.n!r}")
    for name in ("beta", "alpha"):
        check_strength(getattr(spec, name), name)
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
    require(spec.task in TASKS, f"task must be one of {TASKS}, got {spec.task!r}")
    require(spec.teacher in TEACHERS, f"teacher must be one of {TEACHERS}, got {spec.teacher!r}")
    require(
        is_finite(spec.noise) and spec.noise >= 0,
        f"noise (delta) must be finite and >= 0, got {spec.noise!r}",
    )
    if spec.task == "regression" and spec.teacher == "spikes":
        require(
            len(counts) >= 2 and counts[0] >= 1 and counts[1] >= 1,
            "teacher='spikes' needs two components with at least one spike each",
        )
        require(
            spec.alignment != -1,
            "teacher='spikes' is undefined for alignment -1 (gamma_11 + gamma_21 = 0)",
        )
    if spec.equal_trace and spike_size(spec) > 0 and any(counts):
        require(
            all(d > 0 for d in counts),
            f"equal_trace needs at least one spike in every component, got spikes {counts}",
        )
    directions = sum(counts) + _mean_directions(spec)
    require(
        directions <= spec.n,
        f"n = {spec.n} is too small: the spikes and means need {directions} orthogonal directions",
    )
    return counts


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
    present = np.arange(d)[None, :] < np.asarray(counts)[:, None]
    draws = rng.uniform(size=(C, d)) if spec.spike_sizes == "uniform" else np.ones((C, d))
    sizes = spike_size(spec) * draws * present
    if spec.equal_trace:
        target = sizes[0].sum()
        for c in range(1, C):
            total = sizes[c].sum()
            if total > 0:
                sizes[c] *= target / total
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
      directions, :math:`\mu_c = r e_c`.
    * Teacher (regression): ``"random"`` :math:`\xi\sim\mathcal N(0,I_n)`, ``"spikes"``
      :math:`\xi \propto \gamma_{1,1}+\gamma_{2,1}` (Fig 4); both rescaled to
      :math:`\|\xi\| = 1/\sqrt{\|\bar\Sigma\|_2}`.  Classification: :math:`\xi = 0`.

    Construction runs on the host in numpy (:math:`O(n r^2)` for the :math:`r` directions, no
    XLA compilation per shape), with randomness determined by ``key`` (a JAX key or an int
    seed); the result is a pytree of ``dtype`` arrays.  Raises :class:`ValueError` for an
    invalid spec (see :func:`validate_spec`).
    """
    counts = validate_spec(spec)
    rng = _host_rng(key)
    n, C = spec.n, len(counts)
    mean_dirs = _mean_directions(spec)
    basis = _orthonormal_rows(rng, n, sum(counts) + mean_dirs)
    sizes = _realise_sizes(spec, counts, rng)
    spikes = _realise_spikes(counts, basis, float(spec.alignment))

    means = np.zeros((C, n))
    if mean_dirs == 1:
        means = spec.mean_norm * np.stack([basis[-1], -basis[-1]])
    elif mean_dirs > 1:
        means = spec.mean_norm * basis[-C:]

    xi = np.zeros(n)
    if spec.task == "regression":
        direction = spikes[0, 0] + spikes[1, 0] if spec.teacher == "spikes" else rng.standard_normal(n)
        lam = _top_eigenvalue(np.asarray(spec.weights, np.float64), sizes, spikes, np)
        xi = direction / (np.linalg.norm(direction) * math.sqrt(lam))

    return Mixture(
        weights=jnp.asarray(spec.weights, dtype),
        means=jnp.asarray(means, dtype),
        spikes=jnp.asarray(spikes, dtype),
        sizes=jnp.asarray(sizes, dtype),
        xi=jnp.asarray(xi, dtype),
        noise=jnp.asarray(spec.noise, dtype),
        classification=jnp.asarray(spec.task == "classification"),
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


def top_eigenvalue(mixture: Mixture) -> Array:
    r""":math:`\|\bar\Sigma\|_2` for :math:`\bar\Sigma = I_n + B D B^\top`, without an
    :math:`n\times n` matrix.

    :math:`B\in\mathbb R^{n\times Cd}` stacks all spikes, :math:`D=\operatorname{diag}(\rho_c
    \theta_{c,i})\succeq 0`; the non-zero spectrum of :math:`BDB^\top` is that of
    :math:`D^{1/2}B^\top B D^{1/2}` (size :math:`Cd`), so
    :math:`\|\bar\Sigma\|_2 = 1 + \lambda_{\max}(D^{1/2}B^\top BD^{1/2})`. Means excluded.
    """
    lam = _top_eigenvalue(mixture.weights, mixture.sizes, mixture.spikes, jnp)
    return jnp.asarray(lam, mixture.means.dtype)


def component_covariance_apply(mixture: Mixture, c: int | Array, V: Array) -> Array:
    r""":math:`\Sigma_c V = V + \Gamma_c^\top\operatorname{diag}(\theta_c)\Gamma_c V` for
    ``V`` of shape (n,) or (n, r); :math:`O(ndr)`; ``c`` may be traced."""
    U, theta = mixture.spikes[c], mixture.sizes[c]
    coords = U @ V
    scaled = theta * coords if V.ndim == 1 else theta[:, None] * coords
    return V + U.T @ scaled


def _labels(mixture: Mixture, X: Array, c: Array, key: Array) -> Array:
    regression = jax.nn.relu(X @ mixture.xi)
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
    \Sigma_c^{1/2}z`, :math:`O(mnCd)`). Labels: regression :math:`y = \mathrm{ReLU}(\xi^\top x) +
    \delta\varepsilon`; classification :math:`y = +1` for component 0 and :math:`-1` otherwise.
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
