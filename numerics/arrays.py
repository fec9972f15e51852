r"""Your own data: arrays ``X (N, n)``, class labels ``y (N,)`` as a mixture of classes.

Any labelled data set becomes a data source of this package: a few classes of its rows are
preprocessed as the paper preprocesses Fashion-MNIST (Demir & Dogan, ICLR 2025, Sec. 5 and
App. F), sampled as ``row + N(0, I_n)``, and summarised for the theory by the Gaussian mixture
with each class's empirical mean and covariance (:func:`class_pools`).  Fashion-MNIST
(:mod:`~onestep_gm.numerics.fashion`) and the torchvision-layout datasets
(:mod:`~onestep_gm.numerics.datasets`) are cases of it: their loaders produce rows and labels
and hand them to :func:`class_pools`.

:class:`ArraySpec` takes the arrays from an ``.npz`` file (keys ``X``, ``y`` and optionally
``labels``, the class names) or directly from Python.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.frozen import FrozenArray, freeze
from onestep_gm.numerics.memory import available_memory, format_bytes
from onestep_gm.numerics.mixture import Mixture, blocked_normal
from onestep_gm.numerics.validation import FieldTypeError, check_bool, check_int, is_int, require
from onestep_gm.theory.order import check_strength, scalings

Array = jax.Array

NPZ_KEYS = ("X", "y", "labels")
"""The keys of an ``.npz`` data file: ``X`` (N, n) numbers, ``y`` (N,) integer class labels,
``labels`` (optional) the class names, indexed by the values of ``y``."""


# ---------------------------------------------------------------------------------------------
# The realised pytree: preprocessed pools per class and their Gaussian surrogate
# ---------------------------------------------------------------------------------------------


class ClassPools(NamedTuple):
    """Preprocessed pools of rows, one per class, and their Gaussian surrogate (a pytree)."""

    pools: Array  # (C, P, n) preprocessed rows per class (noise is added at sampling)
    mixture: Mixture  # same first two moments as row + N(0, I), classification

    @property
    def surrogate(self) -> Mixture:
        """The Gaussian mixture with the pools' first two moments (for the theory)."""
        return self.mixture

    def sample(self, key: Array, m: int, dtype=None, components: Array | None = None):
        """``m`` samples ``(X (m, n), y (m,), c (m,) int32)`` (:func:`sample_pools`)."""
        return sample_pools(self, key, m, dtype, components)

    def check_draws(self, draws: int) -> None:
        """Refuse pools too small for ``draws`` samples (:func:`check_pool_size`)."""
        check_pool_size(self, draws)


def _class_statistics(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.mean(axis=0)
    centred = rows - mean
    return mean, centred.T @ centred / len(rows)


def class_pools(
    rows: list[np.ndarray] | tuple[np.ndarray, ...],
    *,
    keep_means: bool = False,
    beta: float = 1.0,
    alpha: float = 0.0,
    dtype=jnp.float64,
) -> ClassPools:
    r"""Preprocess ``C >= 2`` classes of rows as the paper preprocesses Fashion-MNIST.

    Every pool is cut to :math:`P = \min_c N_c` rows first (in the given order), so every
    statistic below is that of the pools.  With class means :math:`\hat\mu_c` and covariances
    :math:`S_c` (divided by :math:`P`: the moments of drawing uniformly from the pool):

    1. centre: :math:`x - \hat\mu_c` (``keep_means``: :math:`x - \frac1C\sum_{c'}\hat\mu_{c'}`,
       so the means :math:`\hat\mu_c - \bar\mu` remain; for two classes
       :math:`\pm(\hat\mu_1-\hat\mu_2)/2`, the paper's Fig 8);
    2. equal trace: class :math:`c \ge 2`'s deviation from its own mean is multiplied by
       :math:`\sqrt{\operatorname{tr}S_1/\operatorname{tr}S_c}` (its mean is kept);
    3. scale everything by :math:`\sqrt{\theta/\operatorname{tr}\bar S}`,
       :math:`\bar S = \frac1C\sum_c S_c` after step 2 (:math:`=\operatorname{tr} S_1`),
       :math:`\theta = n^{\beta(1-\alpha)}`.

    Sampling adds :math:`\mathcal N(0, I_n)`, so :math:`\operatorname{tr}\Sigma_c = n+\theta`
    and :math:`\tau = n + \theta`.  The surrogate mixture has :math:`\Sigma_c = I + U_c
    \operatorname{diag}(s_c) U_c^\top` from the eigen-decomposition of the scaled :math:`S_c`
    (full rank, :math:`d = n`, eigenvalues below 0 from rounding set to 0), the scaled means,
    weights :math:`1/C`; labels :math:`y = +1` for class 0 and :math:`-1` otherwise.

    Parameters
    ----------
    rows : sequence of numpy.ndarray
        One ``(N_c, n)`` array per class, the same ``n`` (at least two rows each).
    keep_means : bool
        Keep the class means' differences (step 1).
    beta, alpha : float
        Strength and weight in [0, 1] (they set :math:`\theta`).
    dtype
        Of the returned arrays.

    Returns
    -------
    ClassPools
        ``pools`` (C, P, n) and ``mixture`` (the surrogate).

    Raises
    ------
    ValueError
        For fewer than two classes, pools of different widths, a class with fewer than two
        rows or with identical rows (zero covariance), non-finite values, β or α outside
        [0, 1].
    """
    rows = [np.asarray(x, np.float64) for x in rows]
    require(len(rows) >= 2, f"need at least two classes, got {len(rows)}")
    require(
        all(x.ndim == 2 for x in rows) and len({x.shape[1] for x in rows}) == 1,
        f"class pools must be (N, n) with the same n, got {', '.join(str(x.shape) for x in rows)}",
    )
    P, n = min(len(x) for x in rows), rows[0].shape[1]
    require(P >= 2, f"each class needs at least 2 rows, got {', '.join(str(len(x)) for x in rows)}")
    for name, value in (("beta", beta), ("alpha", alpha)):
        check_strength(value, name)
    rows = [x[:P] for x in rows]
    require(all(np.isfinite(x).all() for x in rows), "the rows contain NaN or infinite values")

    stats = [_class_statistics(x) for x in rows]
    traces = [np.trace(S) for _, S in stats]
    for label, (x, trace_c) in enumerate(zip(rows, traces, strict=True), start=1):
        # exact test first: the mean of identical rows need not round back to them
        require(
            not np.all(x == x[0]) and trace_c > 1e-20 * n,
            f"class {label} of the pair has identical images (zero covariance): no spike to learn"
            if len(rows) == 2 else
            f"class {label} has identical rows (zero covariance): no spike to learn",
        )  # fmt: skip
    means = [mu for mu, _ in stats]
    if not keep_means:
        kept = [0 * mu for mu in means]
    elif len(rows) == 2:  # the paper's form (bitwise as before the general source)
        kept = [(means[0] - means[1]) / 2, (means[1] - means[0]) / 2]
    else:
        centre = np.mean(means, axis=0)
        kept = [mu - centre for mu in means]
    ratios = [1.0] + [math.sqrt(traces[0] / t) for t in traces[1:]]
    theta = scalings(n, beta, alpha).theta
    scale = math.sqrt(theta / traces[0])  # tr S_bar = tr S_1 once every class has equal trace

    pools = np.stack([
        scale * (x - mu + k) if c == 0 else scale * (r * (x - mu) + k)
        for c, (x, (mu, _), k, r) in enumerate(zip(rows, stats, kept, ratios, strict=True))
    ])  # fmt: skip
    spikes, sizes = [], []
    for (_, S), r in zip(stats, ratios, strict=True):
        eigenvalues, vectors = np.linalg.eigh((scale * r) ** 2 * S)
        order = np.argsort(eigenvalues)[::-1]
        sizes.append(np.clip(eigenvalues[order], 0.0, None))
        spikes.append(vectors[:, order].T)
    C = len(rows)
    mixture = Mixture(
        weights=jnp.full(C, 1.0 / C, dtype),
        means=jnp.asarray(scale * np.stack(kept), dtype),
        spikes=jnp.asarray(np.stack(spikes), dtype),
        sizes=jnp.asarray(np.stack(sizes), dtype),
        xi=jnp.zeros(n, dtype),
        noise=jnp.zeros((), dtype),
        classification=jnp.asarray(True),
    )
    return ClassPools(pools=jnp.asarray(pools, dtype), mixture=mixture)


def check_pool_size(data: ClassPools, draws: int) -> None:
    """Refuse pools too small for one trial: ``draws`` samples take about ``draws / C`` rows
    of each of the ``C`` classes, and rows must not repeat within a trial.

    Parameters
    ----------
    data : ClassPools
        The preprocessed pools.
    draws : int
        Samples one trial draws, ``(2 + test_factor) * m``.

    Raises
    ------
    ValueError
        When a class has fewer than ``ceil(draws / C)`` rows.
    """
    C, P = int(data.pools.shape[0]), int(data.pools.shape[1])
    need = -(-int(draws) // C)
    require(
        P >= need,
        f"each class has {P} images but one trial draws about {need} per class "
        f"((2 + test_factor) * m / {C} = {draws}/{C}): lower m or test_factor",
    )


@functools.partial(jax.jit, static_argnames=("m", "dtype"))
def sample_pools(
    data: ClassPools, key: Array, m: int, dtype=None, components: Array | None = None
) -> tuple[Array, Array, Array]:
    r"""Draw ``m`` samples ``(X (m, n), y (m,), c (m,) int32)``: :math:`c` uniform over the
    ``C`` classes (:math:`\mathrm{Bernoulli}(\frac12)` for two), a row of class :math:`c` from
    its pool, :math:`x = \text{row} + \mathcal N(0, I_n)`, :math:`y = +1` for class 0 and
    :math:`-1` otherwise.

    Rows are distinct within one call while a class is drawn at most :math:`P` times (each
    class walks through its own random permutation of the pool); to keep several batches
    disjoint, draw them in one call and split.  ``X`` and ``y`` are in ``dtype`` (default: the
    pools' dtype).  ``components`` (``(m,)`` int32) fixes every sample's class instead of
    drawing it.
    """
    key_c, key_perm, key_z = jax.random.split(key, 3)
    C, P, n = data.pools.shape
    if components is not None:
        c = jnp.asarray(components, jnp.int32)
    elif C == 2:
        c = jax.random.bernoulli(key_c, 0.5, (m,)).astype(jnp.int32)
    else:
        c = jax.random.randint(key_c, (m,), 0, C, jnp.int32)
    perms = jnp.stack([jax.random.permutation(k, P) for k in jax.random.split(key_perm, C)])
    onehot = jax.nn.one_hot(c, C, dtype=jnp.int32)
    rank = jnp.take_along_axis(jnp.cumsum(onehot, axis=0), c[:, None], axis=1)[:, 0] - 1
    dtype = data.pools.dtype if dtype is None else dtype
    rows = data.pools[c, perms[c, rank % P]].astype(dtype)
    X = rows + blocked_normal(key_z, m, n, dtype)
    y = jnp.where(c == 0, 1.0, -1.0).astype(X.dtype)
    return X, y, c


# ---------------------------------------------------------------------------------------------
# The labelled arrays: checks and the .npz reader
# ---------------------------------------------------------------------------------------------


class LabelledArrays(NamedTuple):
    """Checked data: ``X (N, n)`` float64, ``y (N,)`` int64, ``labels`` class names or ``None``."""

    X: np.ndarray
    y: np.ndarray
    labels: tuple[str, ...] | None


def check_arrays(X, y, labels=None, where: str = "arrays") -> LabelledArrays:
    """Check and convert user arrays (the rules of :class:`ArraySpec`).

    Raises
    ------
    ValueError
        ``"<where>: ..."`` for X not 2-D numbers, y not 1-D integers, lengths that differ,
        non-finite X, negative labels, or ``labels`` that do not name every value of ``y``.
    """
    X, y = np.asarray(X), np.asarray(y)
    require(X.ndim == 2 and X.shape[0] > 0 and X.shape[1] > 0,
            f"{where}: X must be a 2-D array (N, n) with N, n >= 1, got shape {X.shape}")  # fmt: skip
    require(X.dtype.kind in "biuf", f"{where}: X must hold numbers, got dtype {X.dtype}")
    require(y.ndim == 1 and len(y) == len(X),
            f"{where}: y must have shape ({len(X)},) like X's rows, got shape {y.shape}")  # fmt: skip
    if y.dtype.kind == "f":
        require(bool(np.all(np.isfinite(y) & (y == np.round(y)))),
                f"{where}: y must hold integer class labels (regression targets have no class "
                f"statistics for the theory)")  # fmt: skip
        y = y.astype(np.int64)
    require(y.dtype.kind in "iub", f"{where}: y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    require(bool((y >= 0).all()), f"{where}: y must hold class labels >= 0, got {int(y.min())}")
    X = X.astype(np.float64, copy=False)
    require(bool(np.isfinite(X).all()), f"{where}: X contains NaN or infinite values")
    if labels is not None:
        names = np.asarray(labels)
        require(names.ndim == 1 and names.dtype.kind in "US",
                f"{where}: labels must be a 1-D array of class names (strings)")  # fmt: skip
        require(len(names) > int(y.max()),
                f"{where}: labels names {len(names)} classes but y has the label {int(y.max())}")  # fmt: skip
        labels = tuple(str(v) for v in names)
    return LabelledArrays(X, y, labels)


def read_npz(path: str | Path) -> LabelledArrays:
    """Read an ``.npz`` data file: keys ``X`` (N, n), ``y`` (N,) integer class labels and,
    optionally, ``labels`` (class names).

    Nothing is unpickled (``allow_pickle=False``) and no member is inflated before its size
    (from the archive's directory) is checked against the available memory.

    Raises
    ------
    ValueError
        For a missing or unreadable file, not an ``.npz`` archive, a missing key, an unknown
        key, a member larger than the available memory, or arrays that fail
        :func:`check_arrays`; the message names the file.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {Path(info.filename).stem: info.file_size for info in archive.infolist()}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: a folder, not an .npz file") from None
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not an .npz file (expected a NumPy archive with keys X, y)") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror or error})") from None
    missing = [k for k in ("X", "y") if k not in members]
    require(not missing, f"{path}: missing key {', '.join(missing)} (an .npz data file holds X (N, n), "
                         f"y (N,) and optionally labels)")  # fmt: skip
    extra = sorted(set(members) - set(NPZ_KEYS))
    if extra:
        raise ValueError(f"{path}: unknown key {extra[0]!r} (expected {', '.join(NPZ_KEYS)})")
    total = sum(members.values())
    require(total * 2 <= available_memory(),
            f"{path}: its arrays take {format_bytes(total)}, more than half the available memory")  # fmt: skip
    try:
        with np.load(path, allow_pickle=False) as npz:
            X, y = npz["X"], npz["y"]
            labels = npz["labels"] if "labels" in members else None
    except ValueError as error:
        raise ValueError(f"{path}: unreadable member ({error})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path}: corrupt archive ({error})") from None
    return check_arrays(X, y, labels, where=str(path))


@functools.lru_cache(maxsize=4)
def _read_npz_cached(path: str, stamp: tuple[int, int]) -> LabelledArrays:
    return read_npz(path)


def load_npz(path: str | Path) -> LabelledArrays:
    """:func:`read_npz`, cached per file (and its modification time and size)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return read_npz(path)  # its one-line error
    return _read_npz_cached(str(path), (stat.st_mtime_ns, stat.st_size))


def select_classes(data: LabelledArrays, classes, where: str) -> list[np.ndarray]:
    """The rows of each class in ``classes`` (in order; rows keep their order).

    Raises
    ------
    ValueError
        For fewer than two classes, repeated or non-integer classes, or a class with no rows.
    """
    classes = tuple(classes)
    require(len(classes) >= 2 and all(is_int(c) and c >= 0 for c in classes)
            and len(set(classes)) == len(classes),
            f"classes must be two or more different labels >= 0, got {classes!r}")  # fmt: skip
    present = set(np.unique(data.y).tolist())
    absent = [c for c in classes if c not in present]
    if absent:
        raise ValueError(f"{where}: no rows of class {absent[0]} (y holds {sorted(present)[:20]})")
    return [data.X[data.y == c] for c in classes]


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


_POOLS: dict = {}


def cached_pools(spec, build) -> ClassPools:
    """``build(spec)`` (float64 pools), kept for the last spec only (a pair of 784-pixel
    classes takes about 10 MB; a figure uses one spec throughout).  Every real-data source
    uses this one cache."""
    if spec not in _POOLS:
        _POOLS.clear()
        _POOLS[spec] = build(spec)
    return _POOLS[spec]


class RowSourceMixin:
    """What every real-data source shares: classification by class, no label noise, full-rank
    class covariances, :math:`\\tau = n + \\theta` and :math:`b = 1` fixed by the
    preprocessing.  A subclass provides ``n``, ``rows()`` (one array per class) and the fields
    ``classes``, ``keep_means``, ``beta``, ``alpha``."""

    title: ClassVar[str] = "data rows"
    has_population_law: ClassVar[bool] = False
    """Real data have no population law: test errors are sampled; the theory line uses the
    Gaussian surrogate (each class's mean and covariance)."""
    noise: ClassVar[float] = 0.0
    """Label noise: none (labels are the classes)."""

    @property
    def components(self) -> int:
        """Number of classes (components)."""
        return len(tuple(self.classes))

    @property
    def max_spikes(self) -> int:
        """The surrogate's covariances are full rank: ``n`` spikes per class."""
        return self.n

    def spike_size(self) -> float:
        r""":math:`\theta = n^{\beta(1-\alpha)}`, the total variance of the scaled rows."""
        return scalings(self.n, self.beta, self.alpha).theta

    def fixed_scales(self) -> tuple[float, float]:
        r"""``(tau, b)`` fixed by the preprocessing: :math:`\tau = n + \theta`, :math:`b = 1`."""
        return self.n + self.spike_size(), 1.0

    def validate(self) -> None:
        """Check the shared fields now, before anything is read (exceptions name the field):
        ``classes`` two or more different integers >= 0, ``keep_means`` a bool, ``beta`` and
        ``alpha`` in [0, 1]."""
        classes = self.classes
        if not isinstance(classes, tuple | list) or len(classes) < 2:
            raise FieldTypeError("classes", f"classes must be two or more labels (got {classes!r})")
        for c in classes:
            check_int("classes", c, 0)
        require(len(set(classes)) == len(classes), f"classes must be different labels (got {classes!r})", "classes")
        check_bool("keep_means", self.keep_means)
        for name in ("beta", "alpha"):
            check_strength(getattr(self, name), name)

    def build(self, dtype=jnp.float64) -> ClassPools:
        """Check the fields, load the rows and preprocess them (:func:`class_pools`)."""
        for name in ("beta", "alpha"):
            check_strength(getattr(self, name), name)
        return class_pools(self.rows(), keep_means=self.keep_means, beta=self.beta,
                           alpha=self.alpha, dtype=dtype)  # fmt: skip

    def realise(self, key=None, dtype=jnp.float64) -> ClassPools:
        """The preprocessed pools (cached; ``key`` is unused: the rows are fixed)."""
        return cached_pools(self, type(self).build) if dtype == jnp.float64 else self.build(dtype)

    def preload(self) -> None:
        """Read, check and preprocess the rows now (cached for the run)."""
        self.realise()


@dataclass(frozen=True)
class ArraySpec(RowSourceMixin):
    r"""Your own labelled arrays as a mixture of classes (kind ``"arrays"``).

    The arrays come from an ``.npz`` file (``path``; keys ``X``, ``y``, optional ``labels``)
    or from Python (``X``, ``y``, ``labels``; held read-only and compared by content, so the
    spec stays hashable).  The classes listed in ``classes`` are preprocessed by
    :func:`class_pools` (the paper's Fashion-MNIST recipe): class ``classes[0]`` is component 0
    with label :math:`+1`, every other class has label :math:`-1`.

    Parameters
    ----------
    path : str or None
        An ``.npz`` file; exactly one of ``path`` and ``X`` is given.
    X : array_like (N, n) or None
        Rows (any real numbers; the preprocessing centres and scales them).
    y : array_like (N,) or None
        Integer class labels >= 0 (with ``X``).
    labels : tuple of str or None
        Class names indexed by the values of ``y`` (with ``X``; in messages and reports).
    classes : tuple of int
        Two or more different values of ``y``.
    keep_means : bool
        Keep the class means' differences (Fig 8) instead of removing each class's own mean.
    beta, alpha : float
        Strength and weight (default β = 1, α = 0 as the paper's real-data figures:
        :math:`\eta = 1`, :math:`\theta = n`).

    Raises
    ------
    ValueError
        When realised or preloaded (and for ``n``): a missing or bad file, bad arrays
        (:func:`check_arrays`), classes absent from ``y``; at construction: both or neither of
        ``path`` and ``X``, ``y`` without ``X``.
    """

    path: str | None = None
    X: FrozenArray | None = dataclasses.field(default=None)
    y: FrozenArray | None = dataclasses.field(default=None)
    labels: tuple[str, ...] | None = None
    classes: tuple[int, ...] = (0, 1)
    keep_means: bool = False
    beta: float = 1.0
    alpha: float = 0.0

    kind: ClassVar[str] = "arrays"
    """The tag of this data source in saved results and sweep specs."""
    title: ClassVar[str] = "your arrays"
    """What the data are, in messages."""

    def __post_init__(self):
        for name in ("X", "y"):
            value = getattr(self, name)
            if isinstance(value, str):  # a saved result holds only the arrays' digest
                raise ValueError(f"{name}: arrays given from Python are not stored in saved results "
                                 f"({value}); pass X and y again")  # fmt: skip
        require((self.path is None) != (self.X is None),
                "give either path (an .npz file) or X and y (arrays), not both and not neither")  # fmt: skip
        require((self.X is None) == (self.y is None), "X and y go together")
        require(self.path is None or isinstance(self.path, str | Path),
                f"path must be a file name, got {self.path!r}")  # fmt: skip
        if self.path is not None:
            object.__setattr__(self, "path", str(self.path))
            require(self.labels is None, "labels come from the .npz file (key labels), not from the spec")
        else:
            checked = check_arrays(self.X, self.y, self.labels)
            object.__setattr__(self, "X", freeze(checked.X))
            object.__setattr__(self, "y", freeze(checked.y))
            object.__setattr__(self, "labels", checked.labels)
        object.__setattr__(self, "classes", tuple(self.classes))

    def data(self) -> LabelledArrays:
        """The checked arrays (read from ``path`` once per file)."""
        if self.path is not None:
            return load_npz(self.path)
        return LabelledArrays(self.X.array, self.y.array, self.labels)

    @property
    def n(self) -> int:
        """Input dimension: the width of ``X``."""
        return int(self.data().X.shape[1])

    def class_names(self) -> tuple[str, ...]:
        """The names of ``classes`` (from ``labels``; the numbers without them)."""
        labels = self.data().labels
        return tuple(labels[c] if labels is not None and c < len(labels) else str(c) for c in self.classes)

    def rows(self) -> list[np.ndarray]:
        """One ``(N_c, n)`` array per class of ``classes``, rows in their order."""
        return select_classes(self.data(), self.classes, self.path or "arrays")
