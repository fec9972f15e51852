r"""Fashion-MNIST as a two-component mixture (Figs 3, 7, 8 of the paper).

The IDX files (plain or gzip; Debian's ``dataset-fashion-mnist`` layout or torchvision's) are
read without any download, and two classes are turned into two pools of preprocessed images
plus the Gaussian surrogate with the same first two moments (a
:class:`~onestep_gm.numerics.mixture.Mixture`), so the theory curves apply to them.
"""

from __future__ import annotations

import functools
import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.memory import available_memory, format_bytes
from onestep_gm.numerics.mixture import Mixture, blocked_normal
from onestep_gm.numerics.validation import is_int, require
from onestep_gm.theory.order import check_strength, scalings

Array = jax.Array


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


IMAGE_SHAPE = (28, 28)
FASHION_N = math.prod(IMAGE_SHAPE)
"""Input dimension of Fashion-MNIST: 784 pixels."""


def read_idx(path: str | Path, item_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (plain or gzip): images (magic 0x00000803) or labels
    (0x00000801).

    The file is streamed: the header is read first, and no more than the data bytes it
    announces (plus one, to detect trailing bytes) are ever read or inflated, so a gzip stream
    that inflates to far more than its header says cannot exhaust memory.

    Parameters
    ----------
    path : str or Path
        The file.
    item_shape : tuple of int, optional
        The shape every item must have (``(28, 28)`` for Fashion-MNIST images, ``()`` for
        labels); checked against the header before the data is read.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of the announced shape.

    Raises
    ------
    ValueError
        For a missing or unreadable file, a bad magic number, items of another shape, no
        items, data larger than the available memory, a truncated file (or gzip stream) and
        trailing bytes; the message names the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as raw_fh:
            gzipped = raw_fh.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4:
                raise ValueError(f"{path}: truncated: {len(head)} bytes, shorter than the IDX header")
            magic = int.from_bytes(head, "big")
            if magic not in (IDX_IMAGES, IDX_LABELS):
                raise ValueError(
                    f"{path}: bad magic number 0x{magic:08x} (expected 0x{IDX_IMAGES:08x} for images "
                    f"or 0x{IDX_LABELS:08x} for labels); not an IDX file of unsigned bytes"
                )
            ndim = magic & 0xFF
            header = fh.read(4 * ndim)
            if len(header) < 4 * ndim:
                raise ValueError(f"{path}: truncated: the header announces {ndim} dimensions")
            dims = tuple(int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(ndim))
            if item_shape is not None and dims[1:] != tuple(item_shape):
                raise ValueError(
                    f"{path}: items of shape {dims[1:]} (file shape {dims}), expected "
                    f"{tuple(item_shape)} (shape (N, {', '.join(map(str, item_shape))}))".replace(", )", ")")
                )
            if dims[0] == 0:
                raise ValueError(f"{path}: no items (file shape {dims}); expected shape (N, "
                                 f"{', '.join(map(str, dims[1:]))}) with N > 0".replace(", )", ")"))
            expected = math.prod(dims)
            if expected > available_memory():
                raise ValueError(
                    f"{path}: the header announces shape {dims}, {format_bytes(expected)} of data, "
                    f"more than the available memory"
                )
            data = fh.read(expected + 1)  # never more than announced (+1: trailing bytes)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file; {_HOW_TO_FIX}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: truncated or corrupt gzip stream ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror or error})") from None
    found = len(data)
    if found < expected:
        raise ValueError(
            f"{path}: truncated: shape {dims} needs {expected} data bytes, found {found}"
        )
    if found > expected:
        raise ValueError(f"{path}: trailing bytes after the data of shape {dims}")
    return np.frombuffer(data, np.uint8, count=expected).reshape(dims).copy()


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
                read_idx(files[f"{split}_images"], IMAGE_SHAPE), read_idx(files[f"{split}_labels"], ()),
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
    r"""Two Fashion-MNIST classes as a two-component mixture (the paper's Figs 3, 7, 8).

    Parameters
    ----------
    classes : tuple of int
        Two different labels in 0..9; the first is component 0 (label +1).
    keep_means : bool
        Remove only the common mean :math:`(\hat\mu_1+\hat\mu_2)/2` (Fig. 8) instead of each
        class's own mean.
    beta : float
        Strength :math:`\beta \in [0, 1]` (paper: β = 1, so with α = 0, θ = n).
    alpha : float
        Weight :math:`\alpha \in [0, 1]` (paper: α = 0, so η = 1).
    data_dir : str or None
        Folder with the IDX files (Debian's or torchvision's layout); ``None`` is
        ``/usr/share/datasets/fashion-mnist``.
    """

    classes: tuple[int, int] = (0, 1)
    keep_means: bool = False  # Fig 8: remove only the common mean (mu_1 + mu_2)/2
    beta: float = 1.0
    alpha: float = 0.0
    data_dir: str | None = None  # None -> FASHION_DIR

    kind: ClassVar[str] = "fashion"
    """The tag of this data source in saved results and sweep specs."""
    title: ClassVar[str] = "Fashion-MNIST images"
    """What the data are, in messages."""
    has_population_law: ClassVar[bool] = False
    """Real images have no population law: test errors are sampled, no theory curves."""
    noise: ClassVar[float] = 0.0
    """Label noise: none (labels are the classes)."""
    components: ClassVar[int] = 2

    @property
    def n(self) -> int:
        """Input dimension, :data:`FASHION_N` = 784."""
        return FASHION_N

    @property
    def max_spikes(self) -> int:
        """The surrogate's covariances are full rank: ``n`` spikes per class."""
        return FASHION_N

    def spike_size(self) -> float:
        r""":math:`\theta = n^{\beta(1-\alpha)}`, the total variance of the scaled images."""
        return scalings(FASHION_N, self.beta, self.alpha).theta

    def fixed_scales(self) -> tuple[float, float]:
        r"""``(tau, b)`` fixed by the preprocessing: :math:`\tau = n + \theta`, :math:`b = 1`."""
        return FASHION_N + self.spike_size(), 1.0

    def realise(self, key=None, dtype=jnp.float64) -> FashionPools:
        """The preprocessed pools (:func:`fashion_pools`; ``key`` is unused: the images are fixed)."""
        return fashion_pools(self) if dtype == jnp.float64 else make_fashion(self, dtype)

    def preload(self) -> None:
        """Read, check and preprocess the images now (cached for the run, :func:`fashion_pools`)."""
        fashion_pools(self)


class FashionPools(NamedTuple):
    """Preprocessed image pools and their Gaussian surrogate (a pytree)."""

    pools: Array  # (2, P, n) preprocessed images per class (noise is added at sampling)
    mixture: Mixture  # same first two moments as image + N(0, I), classification

    @property
    def surrogate(self) -> Mixture:
        """The Gaussian mixture with the pools' first two moments (for the theory)."""
        return self.mixture

    def sample(self, key: Array, m: int, dtype=None, components: Array | None = None):
        """``m`` samples ``(X (m, n), y (m,), c (m,) int32)`` (:func:`sample_fashion`)."""
        return sample_fashion(self, key, m, dtype, components)

    def check_draws(self, draws: int) -> None:
        """Refuse pools too small for ``draws`` samples (:func:`check_pool_size`)."""
        check_pool_size(self, draws)


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
    require(
        images_1.ndim == 2 and images_2.ndim == 2 and images_1.shape[1] == images_2.shape[1],
        f"image pools must be (N, n) with the same n, got {images_1.shape} and {images_2.shape}",
    )
    P, n = min(len(images_1), len(images_2)), images_1.shape[1]
    require(P >= 2, f"each class needs at least 2 images, got {len(images_1)} and {len(images_2)}")
    for name, value in (("beta", beta), ("alpha", alpha)):
        check_strength(value, name)
    images_1, images_2 = images_1[:P], images_2[:P]

    (mu_1, S_1), (mu_2, S_2) = _class_statistics(images_1), _class_statistics(images_2)
    trace_1, trace_2 = np.trace(S_1), np.trace(S_2)
    for label, images_c, trace_c in ((1, images_1, trace_1), (2, images_2, trace_2)):
        # exact test first: the mean of identical rows need not round back to them
        require(
            not np.all(images_c == images_c[0]) and trace_c > 1e-20 * n,
            f"class {label} of the pair has identical images (zero covariance): no spike to learn",
        )
    ratio = math.sqrt(trace_1 / trace_2)
    kept_1, kept_2 = ((mu_1 - mu_2) / 2, (mu_2 - mu_1) / 2) if keep_means else (0 * mu_1, 0 * mu_2)
    theta = scalings(n, beta, alpha).theta
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
    require(
        len(classes) == 2
        and all(is_int(c) and 0 <= c <= 9 for c in classes)
        and classes[0] != classes[1],
        f"classes must be two different labels in 0..9, got {spec.classes!r}",
    )
    for name in ("beta", "alpha"):
        check_strength(getattr(spec, name), name)
    images, labels = load_fashion_mnist(spec.data_dir)
    return fashion_from_images(
        images[labels == classes[0]],
        images[labels == classes[1]],
        keep_means=spec.keep_means,
        beta=spec.beta,
        alpha=spec.alpha,
        dtype=dtype,
    )


_POOLS: dict = {}


def fashion_pools(spec: FashionSpec) -> FashionPools:
    """Preprocessed pools for ``spec`` (float64), loaded once per process and kept for the
    last spec only (a pair of classes takes about 10 MB; a figure uses one spec throughout).

    Raises
    ------
    ValueError
        As :func:`make_fashion`.
    """
    if spec not in _POOLS:
        _POOLS.clear()
        _POOLS[spec] = make_fashion(spec)
    return _POOLS[spec]


def check_pool_size(data: FashionPools, draws: int) -> None:
    """Refuse pools too small for one trial: ``draws`` samples take about ``draws / 2`` images
    of each class, and images must not repeat within a trial.

    Parameters
    ----------
    data : FashionPools
        The preprocessed pools.
    draws : int
        Samples one trial draws, ``(2 + test_factor) * m``.

    Raises
    ------
    ValueError
        When a class has fewer than ``ceil(draws / 2)`` images.
    """
    P = int(data.pools.shape[1])
    need = -(-int(draws) // 2)
    require(
        P >= need,
        f"each class has {P} images but one trial draws about {need} per class "
        f"((2 + test_factor) * m / 2 = {draws}/2): lower m or test_factor",
    )


@functools.partial(jax.jit, static_argnames=("m", "dtype"))
def sample_fashion(
    data: FashionPools, key: Array, m: int, dtype=None, components: Array | None = None
) -> tuple[Array, Array, Array]:
    r"""Draw ``m`` samples ``(X (m, n), y (m,), c (m,) int32)``: :math:`c\sim\mathrm{Bernoulli}
    (\frac12)`, an image of class :math:`c` from its pool, :math:`x = \text{image} +
    \mathcal N(0, I_n)`, :math:`y = +1` for class 0 and :math:`-1` otherwise.

    Images are distinct within one call while a class is drawn at most :math:`P` times (each
    class walks through its own random permutation of the pool); to keep several batches
    disjoint, draw them in one call and split.  ``X`` and ``y`` are in ``dtype`` (default: the
    pools' dtype).  ``components`` (``(m,)`` int32) fixes every sample's class instead of
    drawing it.
    """
    key_c, key_perm, key_z = jax.random.split(key, 3)
    _, P, n = data.pools.shape
    if components is None:
        c = jax.random.bernoulli(key_c, 0.5, (m,)).astype(jnp.int32)
    else:
        c = jnp.asarray(components, jnp.int32)
    perms = jnp.stack([jax.random.permutation(k, P) for k in jax.random.split(key_perm, 2)])
    onehot = jax.nn.one_hot(c, 2, dtype=jnp.int32)
    rank = jnp.take_along_axis(jnp.cumsum(onehot, axis=0), c[:, None], axis=1)[:, 0] - 1
    dtype = data.pools.dtype if dtype is None else dtype
    images = data.pools[c, perms[c, rank % P]].astype(dtype)
    X = images + blocked_normal(key_z, m, n, dtype)
    y = jnp.where(c == 0, 1.0, -1.0).astype(X.dtype)
    return X, y, c
