r"""Data: Gaussian mixtures with spiked covariances, their labels, and Fashion-MNIST.

The mixture model of DESIGN.md (Demir & Dogan, ICLR 2025, Sec. 2):

.. math::
    x \sim \sum_{c=1}^C \rho_c\, \mathcal N(\mu_c, \Sigma_c), \qquad
    \Sigma_c = I_n + \sum_{i\le d_c} \theta_{c,i}\,\gamma_{c,i}\gamma_{c,i}^\top,

with orthonormal spikes :math:`\gamma_{c,i}` within each component.  Nothing here ever forms
an :math:`n\times n` matrix for the mixture: samples use
:math:`\Sigma_c^{1/2} z = z + \sum_i (\sqrt{1+\theta_{c,i}} - 1)\gamma_{c,i}\gamma_{c,i}^\top z`
(:math:`O(mnd)`), and the top eigenvalue of :math:`\bar\Sigma = \sum_c\rho_c\Sigma_c` comes from a
:math:`(Cd)\times(Cd)` Gram problem.

Fashion-MNIST (Figs 3, 7, 8) is read from the IDX files (plain or gzip) and turned into two
pools of preprocessed images plus the Gaussian surrogate with the same first two moments.

Shapes: ``n`` input dimension, ``m`` samples, ``C`` components, ``d`` spikes per component
(padded to the largest :math:`d_c`).
"""

from __future__ import annotations

import functools
import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

TASKS = ("regression", "classification")
TEACHERS = ("random", "spikes")
SPIKE_SIZES = ("equal", "uniform")


@dataclass(frozen=True)
class MixtureSpec:
    r"""A Gaussian mixture :math:`x \sim \sum_c \rho_c \mathcal N(\mu_c, \Sigma_c)` with labels.

    :math:`\Sigma_c = I_n + \sum_{i\le d_c} \theta_{c,i}\gamma_{c,i}\gamma_{c,i}^\top`.
    See :func:`make_mixture` for how each field is realised.
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


# ---------------------------------------------------------------------------------------------
# Mixture construction
# ---------------------------------------------------------------------------------------------


def spike_size(spec: MixtureSpec) -> float:
    r"""The spike size :math:`\theta = n^{\beta(1-\alpha)}` (DESIGN.md), or ``spec.theta`` if set."""
    if spec.theta is not None:
        return float(spec.theta)
    return float(spec.n) ** (spec.beta * (1.0 - spec.alpha))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, int | float | np.number) and math.isfinite(float(value))


def _spike_counts(spec: MixtureSpec) -> tuple[int, ...]:
    C = len(spec.weights)
    counts = (spec.spikes,) * C if _is_int(spec.spikes) else tuple(spec.spikes)
    _require(
        len(counts) == C,
        f"spikes: {len(counts)} counts given for {C} components (weights has {C} entries)",
    )
    _require(
        all(_is_int(d) and d >= 0 for d in counts),
        f"spikes must be non-negative integers, got {spec.spikes!r}",
    )
    return tuple(int(d) for d in counts)


def _mean_directions(spec: MixtureSpec) -> int:
    if spec.mean_norm == 0:
        return 0
    return 1 if len(spec.weights) == 2 else len(spec.weights)


def validate_spec(spec: MixtureSpec) -> tuple[int, ...]:
    """Check ``spec``; raise :class:`ValueError` naming the first bad field. Returns the d_c."""
    _require(_is_int(spec.n) and spec.n >= 1, f"n must be an integer >= 1, got {spec.n!r}")
    for name in ("beta", "alpha"):
        value = getattr(spec, name)
        _require(_finite(value) and 0 <= value <= 1, f"{name} must lie in [0, 1], got {value!r}")
    weights = tuple(spec.weights)
    _require(len(weights) >= 1, "weights must have at least one entry")
    _require(
        all(_finite(w) and w >= 0 for w in weights),
        f"weights must be finite and >= 0, got {weights}",
    )
    _require(abs(sum(weights) - 1) <= 1e-9, f"weights must sum to 1, got sum {sum(weights)!r}")
    counts = _spike_counts(spec)
    _require(
        spec.theta is None or (_finite(spec.theta) and spec.theta >= 0),
        f"theta must be None or a finite number >= 0, got {spec.theta!r}",
    )
    _require(
        spec.spike_sizes in SPIKE_SIZES,
        f"spike_sizes must be one of {SPIKE_SIZES}, got {spec.spike_sizes!r}",
    )
    _require(
        _finite(spec.alignment) and abs(spec.alignment) <= 1,
        f"alignment must lie in [-1, 1], got {spec.alignment!r}",
    )
    _require(
        _finite(spec.mean_norm) and spec.mean_norm >= 0,
        f"mean_norm must be finite and >= 0, got {spec.mean_norm!r}",
    )
    _require(spec.task in TASKS, f"task must be one of {TASKS}, got {spec.task!r}")
    _require(spec.teacher in TEACHERS, f"teacher must be one of {TEACHERS}, got {spec.teacher!r}")
    _require(
        _finite(spec.noise) and spec.noise >= 0,
        f"noise (delta) must be finite and >= 0, got {spec.noise!r}",
    )
    if spec.task == "regression" and spec.teacher == "spikes":
        _require(
            len(counts) >= 2 and counts[0] >= 1 and counts[1] >= 1,
            "teacher='spikes' needs two components with at least one spike each",
        )
        _require(
            spec.alignment != -1,
            "teacher='spikes' is undefined for alignment -1 (gamma_11 + gamma_21 = 0)",
        )
    if spec.equal_trace and spike_size(spec) > 0 and any(counts):
        _require(
            all(d > 0 for d in counts),
            f"equal_trace needs at least one spike in every component, got spikes {counts}",
        )
    directions = sum(counts) + _mean_directions(spec)
    _require(
        directions <= spec.n,
        f"n = {spec.n} is too small: the spikes and means need {directions} orthogonal directions",
    )
    return counts


def _host_rng(key: Array | int) -> np.random.Generator:
    """A numpy generator determined by a JAX key (raw or typed) or an int seed."""
    if _is_int(key):
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
    the means is excluded (it is the :math:`\tau` that normalises :math:`F`, DESIGN.md).
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
    on all cores, each in cache (measured for 7000×1000 float64: 84 ms in one call, 53 ms
    in blocks).
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


@functools.partial(jax.jit, static_argnames=("m", "dtype"))
def sample_mixture(mixture: Mixture, key: Array, m: int, dtype=None) -> tuple[Array, Array, Array]:
    r"""Draw ``m`` i.i.d. samples: ``(X (m, n), y (m,), c (m,) int32)``.

    :math:`c\sim\mathrm{Categorical}(\rho)`, :math:`x = \mu_c + z + \sum_i (\sqrt{1+\theta_{c,i}}-1)
    \gamma_{c,i}\gamma_{c,i}^\top z` with :math:`z\sim\mathcal N(0,I_n)` (:math:`=\mu_c +
    \Sigma_c^{1/2}z`, :math:`O(mnCd)`). Labels: regression :math:`y = \mathrm{ReLU}(\xi^\top x) +
    \delta\varepsilon`; classification :math:`y = +1` for component 0 and :math:`-1` otherwise.
    Pure and jitted with ``m`` static.  Everything is drawn and computed in ``dtype`` (default:
    the dtype of ``mixture.means``); the float32 engine asks for float32, which rounds each
    sample to 7 digits and cuts the normal tails at 5.3σ.
    """
    key_c, key_z, key_eps = jax.random.split(key, 3)
    mixture = _floats_as(mixture, dtype)
    C, _, n = mixture.spikes.shape
    dtype = mixture.means.dtype
    c = jax.random.categorical(key_c, jnp.log(mixture.weights), shape=(m,)).astype(jnp.int32)
    onehot = jax.nn.one_hot(c, C, dtype=dtype)
    z = blocked_normal(key_z, m, n, dtype)
    stretch = jnp.sqrt(1.0 + mixture.sizes) - 1.0
    coords = jnp.einsum("mn,cdn->mcd", z, mixture.spikes) * stretch * onehot[:, :, None]
    X = z + jnp.einsum("mcd,cdn->mn", coords, mixture.spikes) + onehot @ mixture.means
    return X, _labels(mixture, X, c, key_eps), c


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_HOW_TO_FIX = (
    "install the Debian package dataset-fashion-mnist (`make fmnist`) "
    "or pass --data-dir DIR holding the IDX files"
)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or gzip): images (magic 0x00000803) or labels
    (0x00000801).  Returns a ``uint8`` array of the announced shape.

    Raises :class:`ValueError` for a missing or unreadable file, a bad magic number, a
    truncated file (or gzip stream) and trailing bytes.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file; {_HOW_TO_FIX}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: truncated or corrupt gzip stream ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated: {len(raw)} bytes, shorter than the IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_IMAGES, IDX_LABELS):
        raise ValueError(
            f"{path}: bad magic number 0x{magic:08x} (expected 0x{IDX_IMAGES:08x} for images "
            f"or 0x{IDX_LABELS:08x} for labels); not an IDX file of unsigned bytes"
        )
    ndim = magic & 0xFF
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"{path}: truncated: the header announces {ndim} dimensions")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected, found = math.prod(dims), len(raw) - offset
    if found < expected:
        raise ValueError(
            f"{path}: truncated: shape {dims} needs {expected} data bytes, found {found}"
        )
    if found > expected:
        raise ValueError(
            f"{path}: {found - expected} trailing bytes after the data of shape {dims}"
        )
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims).copy()


def _locate_fashion(data_dir: Path) -> dict[str, Path]:
    """The four IDX files in ``data_dir`` itself or in torchvision's ``FashionMNIST/raw``."""
    for folder in (data_dir, data_dir / "FashionMNIST" / "raw", data_dir / "raw"):
        found = {}
        for role, stem in FASHION_FILES.items():
            for name in (stem, stem + ".gz"):
                if (folder / name).is_file():
                    found[role] = folder / name
                    break
        if len(found) == len(FASHION_FILES):
            return found
        if found:
            missing = [FASHION_FILES[r] + "[.gz]" for r in FASHION_FILES if r not in found]
            raise ValueError(f"{folder}: Fashion-MNIST incomplete, missing {', '.join(missing)}")
    raise ValueError(
        f"Fashion-MNIST not found in {data_dir} (expected {{train,t10k}}-{{images-idx3,"
        f"labels-idx1}}-ubyte[.gz] there or under FashionMNIST/raw/); {_HOW_TO_FIX}"
    )


def _images_and_labels(images: np.ndarray, labels: np.ndarray, where: str):
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{where}: images of shape {images.shape} do not match labels of shape {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{where}: label {int(labels.max())} outside 0..9")
    return images.reshape(len(images), -1), labels


def _load_torchvision(root: str | None) -> tuple[np.ndarray, np.ndarray]:
    root = root or str(Path.home() / ".cache" / "onestep" / "fashion-mnist")
    try:
        import torchvision  # optional dependency, imported only on explicit request

        parts = [
            torchvision.datasets.FashionMNIST(root, train=train, download=True)
            for train in (True, False)
        ]
        images = np.concatenate([np.asarray(p.data.numpy(), np.uint8) for p in parts])
        labels = np.concatenate([np.asarray(p.targets.numpy(), np.int64) for p in parts])
    except Exception as error:  # any failure of the optional path is a user-facing error
        raise ValueError(
            f"loading Fashion-MNIST through torchvision into {root} failed "
            f"({type(error).__name__}: {error}); use the IDX loader: {_HOW_TO_FIX}"
        ) from None
    return _images_and_labels(images, labels, f"torchvision root {root}")


def load_fashion_mnist(
    data_dir: str | Path | None = None, loader: str = "idx"
) -> tuple[np.ndarray, np.ndarray]:
    """All 70000 Fashion-MNIST images (train then t10k): ``(images (N, 784) float64 in [0, 1],
    labels (N,) int64)``.

    ``data_dir`` (default :data:`FASHION_DIR`, the Debian package ``dataset-fashion-mnist``)
    holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` directly or torchvision's
    layout ``<data_dir>/FashionMNIST/raw/``.  ``loader="torchvision"`` (optional, never
    needed) downloads through torchvision into ``data_dir``; any failure is a ValueError.
    """
    if loader == "torchvision":
        images, labels = _load_torchvision(None if data_dir is None else str(data_dir))
    elif loader == "idx":
        folder = Path(FASHION_DIR if data_dir is None else data_dir)
        files = _locate_fashion(folder)
        images, labels = [], []
        for split in ("train", "test"):
            split_images, split_labels = _images_and_labels(
                read_idx(files[f"{split}_images"]), read_idx(files[f"{split}_labels"]),
                str(files[f"{split}_images"].parent),
            )
            images.append(split_images)
            labels.append(split_labels)
        images, labels = np.concatenate(images), np.concatenate(labels)
    else:
        raise ValueError(f"loader must be 'idx' or 'torchvision', got {loader!r}")
    return images.astype(np.float64) / 255.0, labels.astype(np.int64)


@dataclass(frozen=True)
class FashionSpec:
    """Two Fashion-MNIST classes as a two-component mixture (Figs 3, 7, 8)."""

    classes: tuple[int, int] = (0, 1)
    keep_means: bool = False  # Fig 8: remove only the common mean (mu_1 + mu_2)/2
    beta: float = 1.0
    alpha: float = 0.0
    data_dir: str | None = None  # None -> FASHION_DIR


class FashionPools(NamedTuple):
    """Preprocessed image pools and their Gaussian surrogate (a pytree)."""

    pools: Array  # (2, P, n) preprocessed images per class (noise is added at sampling)
    mixture: Mixture  # same first two moments as image + N(0, I), classification


def _class_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = images.mean(axis=0)
    centred = images - mean
    return mean, centred.T @ centred / len(images)


def fashion_from_images(
    images_1: np.ndarray,
    images_2: np.ndarray,
    *,
    keep_means: bool = False,
    beta: float = 1.0,
    alpha: float = 0.0,
    dtype=jnp.float64,
) -> FashionPools:
    r"""Preprocess two classes of images (rows in :math:`[0,1]^n`) as in the paper.

    Both pools are cut to :math:`P = \min(N_1, N_2)` images first, so every statistic below
    is that of the pools.  With class means :math:`\hat\mu_c` and covariances :math:`S_c`
    (divided by :math:`P`: the moments of drawing uniformly from the pool):

    1. centre: :math:`x - \hat\mu_c` (``keep_means``: :math:`x - (\hat\mu_1+\hat\mu_2)/2`, so
       the means :math:`\pm(\hat\mu_1-\hat\mu_2)/2` remain, Fig 8);
    2. equal trace: class 2's deviation from its own mean is multiplied by
       :math:`\sqrt{\operatorname{tr}S_1/\operatorname{tr}S_2}` (its mean is kept);
    3. scale everything by :math:`\sqrt{\theta/\operatorname{tr}\bar S}`,
       :math:`\bar S = (S_1 + S_2)/2` after step 2, :math:`\theta = n^{\beta(1-\alpha)}`.

    Sampling adds :math:`\mathcal N(0, I_n)`, so :math:`\operatorname{tr}\Sigma_c = n+\theta`
    and :math:`\tau = n + \theta`.  The surrogate mixture has :math:`\Sigma_c = I + U_c
    \operatorname{diag}(s_c) U_c^\top` from the eigen-decomposition of the scaled :math:`S_c`
    (full rank, :math:`d = n`), the scaled means, weights :math:`(\frac12,\frac12)`.
    """
    images_1, images_2 = (np.asarray(x, np.float64) for x in (images_1, images_2))
    _require(
        images_1.ndim == 2 and images_2.ndim == 2 and images_1.shape[1] == images_2.shape[1],
        f"image pools must be (N, n) with the same n, got {images_1.shape} and {images_2.shape}",
    )
    P, n = min(len(images_1), len(images_2)), images_1.shape[1]
    _require(P >= 2, f"each class needs at least 2 images, got {len(images_1)} and {len(images_2)}")
    for name, value in (("beta", beta), ("alpha", alpha)):
        _require(_finite(value) and 0 <= value <= 1, f"{name} must lie in [0, 1], got {value!r}")
    images_1, images_2 = images_1[:P], images_2[:P]

    (mu_1, S_1), (mu_2, S_2) = _class_statistics(images_1), _class_statistics(images_2)
    trace_1, trace_2 = np.trace(S_1), np.trace(S_2)
    _require(trace_1 > 0 and trace_2 > 0, "a class has identical images (zero covariance)")
    ratio = math.sqrt(trace_1 / trace_2)
    kept_1, kept_2 = ((mu_1 - mu_2) / 2, (mu_2 - mu_1) / 2) if keep_means else (0 * mu_1, 0 * mu_2)
    theta = float(n) ** (beta * (1.0 - alpha))
    scale = math.sqrt(theta / trace_1)  # tr S_bar = tr S_1 once class 2 has equal trace

    pools = np.stack([
        scale * (images_1 - mu_1 + kept_1),
        scale * (ratio * (images_2 - mu_2) + kept_2),
    ])
    spikes, sizes = [], []
    for S in (scale**2 * S_1, (scale * ratio) ** 2 * S_2):
        eigenvalues, vectors = np.linalg.eigh(S)
        order = np.argsort(eigenvalues)[::-1]
        sizes.append(np.clip(eigenvalues[order], 0.0, None))
        spikes.append(vectors[:, order].T)
    mixture = Mixture(
        weights=jnp.full(2, 0.5, dtype),
        means=jnp.asarray(scale * np.stack([kept_1, kept_2]), dtype),
        spikes=jnp.asarray(np.stack(spikes), dtype),
        sizes=jnp.asarray(np.stack(sizes), dtype),
        xi=jnp.zeros(n, dtype),
        noise=jnp.zeros((), dtype),
        classification=jnp.asarray(True),
    )
    return FashionPools(pools=jnp.asarray(pools, dtype), mixture=mixture)


def make_fashion(spec: FashionSpec, dtype=jnp.float64) -> FashionPools:
    """Load Fashion-MNIST and preprocess ``spec.classes`` with :func:`fashion_from_images`.

    Component 0 (label +1) is ``spec.classes[0]``; images keep their file order.
    """
    classes = tuple(spec.classes)
    _require(
        len(classes) == 2
        and all(_is_int(c) and 0 <= c <= 9 for c in classes)
        and classes[0] != classes[1],
        f"classes must be two different labels in 0..9, got {spec.classes!r}",
    )
    for name in ("beta", "alpha"):
        value = getattr(spec, name)
        _require(_finite(value) and 0 <= value <= 1, f"{name} must lie in [0, 1], got {value!r}")
    images, labels = load_fashion_mnist(spec.data_dir)
    return fashion_from_images(
        images[labels == classes[0]],
        images[labels == classes[1]],
        keep_means=spec.keep_means,
        beta=spec.beta,
        alpha=spec.alpha,
        dtype=dtype,
    )


@functools.partial(jax.jit, static_argnames=("m", "dtype"))
def sample_fashion(data: FashionPools, key: Array, m: int, dtype=None) -> tuple[Array, Array, Array]:
    r"""Draw ``m`` samples ``(X (m, n), y (m,), c (m,) int32)``: :math:`c\sim\mathrm{Bernoulli}
    (\frac12)`, an image of class :math:`c` from its pool, :math:`x = \text{image} +
    \mathcal N(0, I_n)`, :math:`y = +1` for class 0 and :math:`-1` otherwise.

    Images are distinct within one call while a class is drawn at most :math:`P` times (each
    class walks through its own random permutation of the pool); to keep several batches
    disjoint, draw them in one call and split.  ``X`` and ``y`` are in ``dtype`` (default: the
    pools' dtype).
    """
    key_c, key_perm, key_z = jax.random.split(key, 3)
    _, P, n = data.pools.shape
    c = jax.random.bernoulli(key_c, 0.5, (m,)).astype(jnp.int32)
    perms = jnp.stack([jax.random.permutation(k, P) for k in jax.random.split(key_perm, 2)])
    onehot = jax.nn.one_hot(c, 2, dtype=jnp.int32)
    rank = jnp.take_along_axis(jnp.cumsum(onehot, axis=0), c[:, None], axis=1)[:, 0] - 1
    dtype = data.pools.dtype if dtype is None else dtype
    images = data.pools[c, perms[c, rank % P]].astype(dtype)
    X = images + blocked_normal(key_z, m, n, dtype)
    y = jnp.where(c == 0, 1.0, -1.0).astype(X.dtype)
    return X, y, c
