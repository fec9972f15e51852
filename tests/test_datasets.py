"""Torchvision-layout roots (numerics/datasets.py), read by our own IDX and pickle readers.

No real MNIST, KMNIST or CIFAR-10 exists on the test machine: the roots are built in tmp_path,
from synthetic IDX files and CIFAR pickles, and from the real Fashion-MNIST IDX files linked
under the MNIST and KMNIST names (same format, so the reader is exercised on real files)."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.experiments.figures.sweepspec import load_sweep
from onestep_gm.numerics.arrays import ArraySpec
from onestep_gm.numerics.datasets import TorchvisionSpec, load_dataset, locate, read_cifar_batch
from onestep_gm.numerics.fashion import FASHION_DIR, load_fashion_mnist

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">I", 0x800 + array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    with (gzip.open if compress else open)(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def mnist_root(root: Path, name="MNIST", seed=0):
    rng = np.random.default_rng(seed)
    folder = root / name / "raw"
    folder.mkdir(parents=True)
    train, test = rng.integers(0, 256, (40, 28, 28)), rng.integers(0, 256, (20, 28, 28))
    y_train, y_test = rng.integers(0, 3, 40), rng.integers(0, 3, 20)
    for stem, array, gz in zip(STEMS, (train, y_train, test, y_test), (True, False, False, True), strict=True):
        _idx(folder / (stem + (".gz" if gz else "")), array, gz)
    X = np.concatenate([train, test]).reshape(60, 784) / 255.0
    return X, np.concatenate([y_train, y_test])


def cifar_root(root: Path, seed=1, per_batch=6):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data, labels = [], []
    for name in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"):
        batch = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        y = rng.integers(0, 3, per_batch).tolist()
        with open(folder / name, "wb") as fh:  # keys as bytes, as the real (Python 2) pickles
            pickle.dump({b"batch_label": b"x", b"data": batch, b"labels": y}, fh, protocol=2)
        data.append(batch)
        labels += y
    return np.concatenate(data), np.asarray(labels)


def test_idx_datasets_read_from_a_synthetic_root(tmp_path):
    X, y = mnist_root(tmp_path)
    assert [p.name for p in locate("MNIST", tmp_path)] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"
    ]  # fmt: skip
    data = load_dataset("MNIST", tmp_path, use_torchvision=False)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    spec = TorchvisionSpec(dataset="MNIST", root=str(tmp_path), classes=(2, 1))
    assert (spec.n, spec.components) == (784, 2)
    for ours, theirs in zip(spec.rows(), ArraySpec(X=X, y=y, classes=(2, 1)).rows(), strict=True):
        np.testing.assert_array_equal(ours, theirs)  # then the one preprocessing (tests/test_arrays.py)


@pytest.mark.slow
@pytest.mark.skipif(not Path(FASHION_DIR).is_dir(), reason="Fashion-MNIST IDX files not installed")
def test_real_idx_files_under_torchvision_names(tmp_path):
    folder = tmp_path / "KMNIST" / "raw"
    folder.mkdir(parents=True)
    for stem in STEMS:
        os.symlink(Path(FASHION_DIR) / (stem + ".gz"), folder / (stem + ".gz"))
    data = load_dataset("KMNIST", tmp_path, use_torchvision=False)
    images, labels = load_fashion_mnist()
    assert data.X.shape == (70000, 784)
    np.testing.assert_array_equal(data.X, images)
    np.testing.assert_array_equal(data.y, labels)


def test_cifar_batches_grey_and_colour(tmp_path):
    raw, y = cifar_root(tmp_path)
    colour = load_dataset("CIFAR10", tmp_path, grey=False, use_torchvision=False)
    np.testing.assert_array_equal(colour.X, raw / 255.0)  # channels first: R, G, B planes
    np.testing.assert_array_equal(colour.y, y)
    grey = load_dataset("CIFAR10", tmp_path, use_torchvision=False)
    planes = raw.reshape(-1, 3, 1024) / 255.0
    np.testing.assert_allclose(grey.X, 0.299 * planes[:, 0] + 0.587 * planes[:, 1] + 0.114 * planes[:, 2], atol=1e-15)
    assert TorchvisionSpec(dataset="CIFAR10", root=str(tmp_path)).n == 1024
    assert TorchvisionSpec(dataset="CIFAR10", root=str(tmp_path), grey=False).n == 3072


class _Exploit:
    def __reduce__(self):
        return (os.system, ("true",))


def test_cifar_reader_refuses_anything_but_arrays(tmp_path):
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load"):
        read_cifar_batch(bad)
    bad.write_bytes(pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(ValueError, match=r"\(N, 3072\) uint8"):
        read_cifar_batch(bad)
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a CIFAR-10 batch"):
        read_cifar_batch(bad)


def test_a_root_without_the_files_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(ValueError, match="MNIST not found under .*lacks train-images"):
        TorchvisionSpec(dataset="MNIST", root=str(tmp_path)).preload()
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(ValueError, match="lacks data_batch_1, .*test_batch"):
        locate("CIFAR10", tmp_path)
    with pytest.raises(ValueError, match="dataset must be one of"):
        TorchvisionSpec(dataset="SVHN")
    code = main(["simulate", "--data", f"torchvision:MNIST:{tmp_path / 'nowhere'}", "--trials", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "MNIST not found" in err and "Traceback" not in err


def test_the_mnist_example_spec_needs_its_root_and_says_so(tmp_path, monkeypatch, capsys):
    example = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "mnist-0v1.toml"
    spec = load_sweep(example)
    assert spec.base.data == TorchvisionSpec(dataset="MNIST", root="data", classes=(0, 1))
    assert "theory" in spec.base.models
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(example), "--quick", "--out", "out", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MNIST not found under data" in err
    assert not (tmp_path / "out").exists()
