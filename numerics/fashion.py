r"""Fashion-MNIST as a two-component mixture (Figs 3, 7, 8 of the paper).

The IDX files (plain or gzip; Debian's ``dataset-fashion-mnist`` layout or torchvision's) are
read without any download, and two classes are turned into two pools of preprocessed images
plus the Gaussian surrogate with the same first two moments (a
:class:`~onestep_gm.numerics.mixture.Mixture`), so the theory curves apply to them.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from onestep_gm.numerics.arrays import ClassPools, RowSourceMixin, class_pools, sample_pools
from onestep_gm.numerics.memory import available_memory, format_bytes
from onestep_gm.numerics.validation import FieldTypeError, check_bool, check_int, is_int, require
from onestep_gm.theory.order import check_strength

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
class FashionSpec(RowSourceMixin):
    r"""Two Fashion-MNIST classes as a two-component mixture (the paper's Figs 3, 7, 8).

    One case of the general real-data source (:mod:`~onestep_gm.numerics.arrays`): the
    loader reads images and labels, and :func:`~onestep_gm.numerics.arrays.class_pools`
    preprocesses them.

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
    components: ClassVar[int] = 2

    @property
    def n(self) -> int:
        """Input dimension, :data:`FASHION_N` = 784."""
        return FASHION_N

    def rows(self) -> list[np.ndarray]:
        """The images of ``classes`` (component 0 first), in file order."""
        classes = tuple(self.classes)
        require(
            len(classes) == 2
            and all(is_int(c) and 0 <= c <= 9 for c in classes)
            and classes[0] != classes[1],
            f"classes must be two different labels in 0..9, got {self.classes!r}",
        )
        images, labels = load_fashion_mnist(self.data_dir)
        return [images[labels == classes[0]], images[labels == classes[1]]]

    def validate(self) -> None:
        """Check every field now (before any image is read); exceptions name the field."""
        classes = self.classes
        if not isinstance(classes, tuple | list) or len(classes) != 2:
            raise FieldTypeError("classes", f"classes must be two labels (got {classes!r})")
        for c in classes:
            check_int("classes", c, 0, 9)
        require(classes[0] != classes[1], f"classes must be two different labels (got {classes!r})", "classes")
        check_bool("keep_means", self.keep_means)
        for name in ("beta", "alpha"):
            check_strength(getattr(self, name), name)
        if self.data_dir is not None and not isinstance(self.data_dir, str | os.PathLike):
            raise FieldTypeError("data_dir", f"data_dir must be a folder's path (got {self.data_dir!r})")


FashionPools = ClassPools
"""The realised Fashion-MNIST source: :class:`~onestep_gm.numerics.arrays.ClassPools`."""
sample_fashion = sample_pools
"""Draw samples from the pools: :func:`~onestep_gm.numerics.arrays.sample_pools`."""


def fashion_from_images(
    images_1: np.ndarray,
    images_2: np.ndarray,
    *,
    keep_means: bool = False,
    beta: float = 1.0,
    alpha: float = 0.0,
    dtype=jnp.float64,
) -> ClassPools:
    r"""Preprocess two classes of images (rows in :math:`[0,1]^n`) as in the paper:
    :func:`~onestep_gm.numerics.arrays.class_pools` with two classes (its docstring states
    the steps: centre, equal trace, scale to :math:`\theta`; the surrogate from the
    eigen-decomposition of each class covariance)."""
    return class_pools([images_1, images_2], keep_means=keep_means, beta=beta, alpha=alpha, dtype=dtype)


def make_fashion(spec: FashionSpec, dtype=jnp.float64) -> ClassPools:
    """Load Fashion-MNIST and preprocess ``spec.classes`` (:meth:`FashionSpec.build`).

    Component 0 (label +1) is ``spec.classes[0]``; images keep their file order.
    """
    return spec.build(dtype)


def fashion_pools(spec: FashionSpec) -> ClassPools:
    """Preprocessed pools for ``spec`` (float64), loaded once per process and kept for the
    last spec only (:func:`~onestep_gm.numerics.arrays.cached_pools`).

    Raises
    ------
    ValueError
        As :func:`make_fashion`.
    """
    return spec.realise()
