r"""Datasets from a local torchvision root: MNIST, KMNIST, Fashion-MNIST, CIFAR-10.

The files are read where ``torchvision.datasets.X(root, download=False)`` reads them:

* ``root/MNIST/raw/``, ``root/KMNIST/raw/``, ``root/FashionMNIST/raw/``:
  ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (plain or ``.gz``);
* ``root/cifar-10-batches-py/``: ``data_batch_1`` … ``data_batch_5`` and ``test_batch``
  (Python pickles of a ``(10000, 3072)`` uint8 array and a label list).

Nothing is downloaded.  When torchvision is installed (the extra ``[torch]``) it reads them;
otherwise this module's own readers do (bounded IDX reads,
:func:`~onestep_gm.numerics.fashion.read_idx`, and an unpickler that builds nothing but NumPy
arrays, lists and dicts).  Both give the same arrays: the training split then the test split,
pixels in [0, 1], images flattened row by row (CIFAR-10: channels first, R then G then B,
``n = 3072``; or, by default, greyscaled with the ITU-R 601 luma weights ``0.299 R + 0.587 G +
0.114 B``, ``n = 1024``, as ``PIL.Image.convert("L")`` up to its rounding to bytes).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from onestep_gm.numerics.arrays import LabelledArrays, RowSourceMixin, select_classes
from onestep_gm.numerics.fashion import FASHION_FILES, read_idx
from onestep_gm.numerics.memory import available_memory, format_bytes
from onestep_gm.numerics.validation import require

IDX_DATASETS = ("MNIST", "KMNIST", "FashionMNIST")
CIFAR = "CIFAR10"
DATASETS = (*IDX_DATASETS, CIFAR)
"""The torchvision dataset names this loader reads (``torchvision.datasets.<name>``)."""
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601 weights of R, G, B in the greyscale of CIFAR-10 images."""


def dataset_width(dataset: str, grey: bool = True) -> int:
    """Input dimension ``n`` of ``dataset``: 784 (28×28) for the IDX sets, 1024 (32×32 grey)
    or 3072 (32×32×3) for CIFAR-10."""
    require(dataset in DATASETS, f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if dataset == CIFAR:
        return 1024 if grey else 3072
    return 784


def locate(dataset: str, root: str | Path) -> list[Path]:
    """The files of ``dataset`` under ``root`` in torchvision's layout, in reading order.

    Raises
    ------
    ValueError
        One line naming the folder and the missing files (nothing is downloaded).
    """
    dataset_width(dataset)
    root = Path(root)
    if dataset == CIFAR:
        folder = root / CIFAR_FOLDER
        found = [folder / name for name in CIFAR_FILES]
        missing = [p.name for p in found if not p.is_file()]
    else:
        folder = root / dataset / "raw"
        found, missing = [], []
        for stem in FASHION_FILES.values():
            hit = next((folder / name for name in (stem, stem + ".gz") if (folder / name).is_file()), None)
            if hit is None:
                missing.append(stem + "[.gz]")
            else:
                found.append(hit)
    require(not missing, f"{dataset} not found under {root}: {folder} lacks {', '.join(missing)} "
                         f"(torchvision's layout; nothing is downloaded)")  # fmt: skip
    return found


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays, dicts, lists and strings, nothing else (no code runs)."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }  # fmt: skip

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: ``(data (N, 3072) uint8, labels (N,) int64)``.

    Raises
    ------
    ValueError
        For an unreadable, oversized or malformed file (the message names it).
    """
    try:
        size = path.stat().st_size
        require(size * 4 <= available_memory(),
                f"{path}: {format_bytes(size)}, more than the available memory allows")  # fmt: skip
        raw = path.read_bytes()
        batch = _ArraysOnly(io.BytesIO(raw), encoding="bytes").load()
    except ValueError:
        raise
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror or error})") from None
    except Exception as error:  # any unpickling failure is a corrupt file
        raise ValueError(f"{path}: not a CIFAR-10 batch ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: data must be a (N, 3072) uint8 array")
    labels = np.asarray(labels)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or (labels.size and labels.max() > 9):
        raise ValueError(f"{path}: labels must be {len(data)} integers in 0..9")
    return data, labels.astype(np.int64)


def _greyscale(data: np.ndarray) -> np.ndarray:
    pixels = data.reshape(len(data), 3, 1024).astype(np.float64)
    return np.tensordot(pixels, np.asarray(LUMA), axes=([1], [0]))


def _with_torchvision(dataset: str, root: Path):
    try:
        import torchvision  # optional: the extra [torch]; our readers serve without it
    except ImportError:
        return None
    parts = [getattr(torchvision.datasets, dataset)(str(root), train=train, download=False)
             for train in (True, False)]  # fmt: skip
    images = np.concatenate([np.asarray(p.data) for p in parts])
    labels = np.concatenate([np.asarray(p.targets) for p in parts]).astype(np.int64)
    if dataset == CIFAR:  # torchvision holds (N, 32, 32, 3); ours is channels first
        images = images.transpose(0, 3, 1, 2)
    return images.reshape(len(images), -1), labels


def load_dataset(dataset: str, root: str | Path, grey: bool = True, use_torchvision: bool = True) -> LabelledArrays:
    """All images of ``dataset`` under ``root`` (train then test), flattened, in [0, 1].

    Parameters
    ----------
    dataset : {"MNIST", "KMNIST", "FashionMNIST", "CIFAR10"}
    root : str or Path
        The folder torchvision was given (``root/MNIST/raw/...``, ``root/cifar-10-batches-py``).
    grey : bool
        CIFAR-10 only: greyscale (default, ``n = 1024``) or the three channels (``n = 3072``).
    use_torchvision : bool
        Read through torchvision when it is installed (same arrays as our readers).

    Returns
    -------
    LabelledArrays
        ``X (N, n)`` float64 in [0, 1], ``y (N,)`` int64, ``labels`` ``None``.

    Raises
    ------
    ValueError
        When a file is missing (before anything is read), unreadable or malformed.
    """
    root = Path(root)
    files = locate(dataset, root)
    loaded = _with_torchvision(dataset, root) if use_torchvision else None
    if loaded is not None:
        images, labels = loaded
    elif dataset == CIFAR:
        batches = [read_cifar_batch(p) for p in files]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
    else:
        images, labels = [], []
        for image_file, label_file in ((files[0], files[1]), (files[2], files[3])):
            split_images, split_labels = read_idx(image_file), read_idx(label_file, ())
            require(split_images.ndim == 3 and split_images.shape[1:] == (28, 28)
                    and len(split_images) == len(split_labels),
                    f"{image_file.parent}: images of shape {split_images.shape} do not match "
                    f"labels of shape {split_labels.shape}")  # fmt: skip
            images.append(split_images.reshape(len(split_images), -1))
            labels.append(split_labels.astype(np.int64))
        images, labels = np.concatenate(images), np.concatenate(labels)
    X = images.astype(np.float64) / 255.0
    if dataset == CIFAR and grey:
        X = _greyscale(X)
    return LabelledArrays(X, labels.astype(np.int64), None)


_LOADED: dict = {}


@dataclass(frozen=True)
class TorchvisionSpec(RowSourceMixin):
    r"""Classes of a torchvision dataset from a local root (kind ``"torchvision"``).

    Preprocessed as Fashion-MNIST (:func:`~onestep_gm.numerics.arrays.class_pools`): class
    ``classes[0]`` is component 0 with label :math:`+1`.

    Parameters
    ----------
    dataset : {"MNIST", "KMNIST", "FashionMNIST", "CIFAR10"}
    root : str
        The local torchvision root (see :func:`locate`); nothing is downloaded.
    classes : tuple of int
        Two or more different labels in 0..9.
    keep_means : bool
        Keep the class means' differences (Fig 8).
    beta, alpha : float
        Strength and weight (default β = 1, α = 0, as the paper's real-data figures).
    grey : bool
        CIFAR-10: greyscale (default, n = 1024) or colour (n = 3072, channels first).
    """

    dataset: str = "MNIST"
    root: str = "data"
    classes: tuple[int, ...] = (0, 1)
    keep_means: bool = False
    beta: float = 1.0
    alpha: float = 0.0
    grey: bool = True

    kind: ClassVar[str] = "torchvision"
    """The tag of this data source in saved results and sweep specs."""
    title: ClassVar[str] = "dataset images"
    """What the data are, in messages."""

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "root", str(self.root))
        dataset_width(self.dataset)
        require(isinstance(self.grey, bool), f"grey must be true or false, got {self.grey!r}")

    @property
    def n(self) -> int:
        """Input dimension: 784, or 1024 / 3072 for CIFAR-10 grey / colour."""
        return dataset_width(self.dataset, self.grey)

    def data(self) -> LabelledArrays:
        """The dataset's images and labels (read once per process and root)."""
        key = (self.dataset, self.root, self.grey)
        if key not in _LOADED:
            _LOADED.clear()
            _LOADED[key] = load_dataset(self.dataset, self.root, self.grey)
        return _LOADED[key]

    def rows(self) -> list[np.ndarray]:
        """One ``(N_c, n)`` array per class of ``classes``, images in file order."""
        require(all(0 <= c <= 9 for c in self.classes if isinstance(c, int)),
                f"classes must be labels in 0..9, got {self.classes!r}")  # fmt: skip
        return select_classes(self.data(), self.classes, f"{self.dataset} under {self.root}")

    def preload(self) -> None:
        """Check the files first (one line when absent), then read and preprocess them."""
        locate(self.dataset, self.root)
        self.realise()

