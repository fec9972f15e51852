"""Tests for the Fashion-MNIST loader numerics.fashion: IDX reader, loader, preprocessing, sampler.

IDX files are written here by an independent writer (struct + gzip) into tmp_path; the real
files at FASHION_DIR are checked once (the Makefile's `fmnist` target installs them).
"""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from onestep_gm.numerics.fashion import (
    FASHION_DIR,
    FashionPools,
    FashionSpec,
    fashion_from_images,
    load_fashion_mnist,
    make_fashion,
    read_idx,
    sample_fashion,
)
from onestep_gm.numerics.mixture import MixtureSpec, covariance_trace, make_mixture, top_eigenvalue

STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("t10k", "images"): "t10k-images-idx3-ubyte",
    ("t10k", "labels"): "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, np.uint8)
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False, **kwargs) -> Path:
    data = idx_bytes(array, **kwargs)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def synthetic_dataset(rng, n_train=30, n_test=20, side=28):
    images = {s: rng.integers(0, 256, (N, side, side), np.uint8) for s, N in (("train", n_train), ("t10k", n_test))}
    labels = {s: rng.integers(0, 3, len(images[s]), np.uint8) for s in images}
    return images, labels


def write_dataset(folder: Path, images, labels, compress=(False, True, True, False)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for (split, kind), gz in zip(STEMS, compress, strict=True):
        array = images[split] if kind == "images" else labels[split]
        name = STEMS[split, kind] + (".gz" if gz else "")
        write_idx(folder / name, array, compress=gz)


# --- read_idx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 5, 3), np.uint8)
    labels = rng.integers(0, 10, 7, np.uint8)
    suffix = ".gz" if compress else ""
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / f"i{suffix}", images, compress)), images)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / f"l{suffix}", labels, compress)), labels)


@pytest.mark.parametrize("magic", [0x00000903, 0x00000D03, 0x00000804, 0x00010803])
def test_read_idx_bad_magic(tmp_path, magic):
    path = write_idx(tmp_path / "bad", np.zeros((2, 2, 2)), magic=magic)
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(path)


def test_read_idx_truncated_and_trailing(tmp_path):
    data = idx_bytes(np.ones((4, 3, 3)))
    (tmp_path / "short").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "header").write_bytes(data[:9])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "header")
    (tmp_path / "tiny").write_bytes(data[:2])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "tiny")
    packed = gzip.compress(data)
    (tmp_path / "short.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "long").write_bytes(data + b"\x00\x00")
    with pytest.raises(ValueError, match="trailing"):
        read_idx(tmp_path / "long")


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "nowhere-idx3-ubyte"
    with pytest.raises(ValueError, match="dataset-fashion-mnist") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "--data-dir" in str(info.value)


# --- load_fashion_mnist -----------------------------------------------------------------------


def expected_arrays(images, labels):
    X = np.concatenate([images["train"], images["t10k"]]).reshape(-1, 784) / 255.0
    return X, np.concatenate([labels["train"], labels["t10k"]])


@pytest.mark.parametrize("layout", ["flat", "torchvision", "torchvision-inner"])
def test_load_layouts(tmp_path, layout):
    images, labels = synthetic_dataset(np.random.default_rng(1))
    folder = tmp_path if layout == "flat" else tmp_path / "FashionMNIST" / "raw"
    write_dataset(folder, images, labels)
    root = tmp_path / "FashionMNIST" if layout == "torchvision-inner" else tmp_path
    X, y = load_fashion_mnist(root)
    X_expected, y_expected = expected_arrays(images, labels)
    assert X.dtype == np.float64 and X.shape == (50, 784)
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)
    assert X.min() >= 0 and X.max() <= 1


def test_load_missing_and_incomplete(tmp_path):
    with pytest.raises(ValueError, match="make fmnist"):
        load_fashion_mnist(tmp_path / "absent")
    images, labels = synthetic_dataset(np.random.default_rng(2))
    write_dataset(tmp_path, images, labels)
    (tmp_path / (STEMS["t10k", "labels"])).unlink()
    with pytest.raises(ValueError, match="missing t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path)


def test_load_mismatched_counts(tmp_path):
    images, labels = synthetic_dataset(np.random.default_rng(3))
    labels["train"] = labels["train"][:-1]
    write_dataset(tmp_path, images, labels)
    with pytest.raises(ValueError, match="do not match"):
        load_fashion_mnist(tmp_path)


def test_loader_names(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="loader"):
        load_fashion_mnist(tmp_path, loader="pandas")
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ValueError, match="torchvision"):
        load_fashion_mnist(tmp_path, loader="torchvision")


def test_real_fashion_mnist_is_installed_and_complete():
    if not Path(FASHION_DIR).is_dir():
        pytest.fail(f"{FASHION_DIR} is missing: run `make fmnist` (Debian package dataset-fashion-mnist)")
    X, y = load_fashion_mnist()
    assert X.shape == (60_000 + 10_000, 784)
    np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, 7000))
    assert X.min() == 0 and X.max() == 1
    # the first training and the first test image are both ankle boots (label 9)
    assert y[0] == 9 and y[60_000] == 9


@pytest.mark.slow
@pytest.mark.parametrize("keep_means", [False, True])
def test_real_fashion_pools_and_surrogate(keep_means):
    data = make_fashion(FashionSpec(classes=(5, 9), keep_means=keep_means))
    assert data.pools.shape == (2, 7000, 784)
    assert float(covariance_trace(data.mixture)) == pytest.approx(784 + 784, rel=1e-10)
    X, y, c = sample_fashion(data, jax.random.PRNGKey(0), 3500)
    assert X.shape == (3500, 784) and set(np.unique(np.asarray(y))) == {-1.0, 1.0}
    traces = [np.trace(np.cov(np.asarray(data.pools[k]), rowvar=False, bias=True)) for k in (0, 1)]
    np.testing.assert_allclose(traces, 784, rtol=1e-10)


# --- preprocessing ----------------------------------------------------------------------------


def synthetic_classes(rng, n=16, sizes=(300, 250)):
    base_1 = rng.uniform(0, 1, n)
    images_1 = np.clip(base_1 + 0.2 * rng.standard_normal((sizes[0], n)), 0, 1)
    images_2 = np.clip(0.5 + 0.05 * rng.standard_normal((sizes[1], n)) * np.arange(1, n + 1) / n, 0, 1)
    return images_1, images_2


def population_covariance(X: np.ndarray) -> np.ndarray:
    return np.cov(X, rowvar=False, bias=True)


def dense_component_covariance(mixture, c):
    U, s = np.asarray(mixture.spikes[c]), np.asarray(mixture.sizes[c])
    return np.eye(U.shape[1]) + (U.T * s) @ U


def test_preprocessing_centres_equalises_and_scales():
    images_1, images_2 = synthetic_classes(np.random.default_rng(4))
    beta, alpha, n, P = 0.8, 0.25, 16, 250
    theta = n ** (beta * (1 - alpha))
    data = fashion_from_images(images_1, images_2, beta=beta, alpha=alpha)
    pools = np.asarray(data.pools)
    assert pools.shape == (2, P, n)
    np.testing.assert_allclose(pools.mean(axis=1), 0, atol=1e-12)
    covs = [population_covariance(pools[c]) for c in (0, 1)]
    assert np.trace(covs[0]) == pytest.approx(theta, rel=1e-12)
    assert np.trace(covs[1]) == pytest.approx(theta, rel=1e-12)
    kept = images_1[:P]
    scale = np.sqrt(theta / np.trace(population_covariance(kept)))
    np.testing.assert_allclose(pools[0], scale * (kept - kept.mean(0)), atol=1e-12)
    other = images_2[:P]
    scale_2 = np.sqrt(theta / np.trace(population_covariance(other)))
    np.testing.assert_allclose(pools[1], scale_2 * (other - other.mean(0)), atol=1e-12)
    mixture = data.mixture
    for c in (0, 1):
        np.testing.assert_allclose(dense_component_covariance(mixture, c), np.eye(n) + covs[c], atol=1e-10)
        assert np.all(np.asarray(mixture.sizes[c]) >= 0)
    assert np.all(np.asarray(mixture.means) == 0)
    assert float(covariance_trace(mixture)) == pytest.approx(n + theta, rel=1e-10)
    Sigma_bar = (dense_component_covariance(mixture, 0) + dense_component_covariance(mixture, 1)) / 2
    assert float(top_eigenvalue(mixture)) == pytest.approx(np.linalg.eigvalsh(Sigma_bar)[-1], rel=1e-10)
    assert bool(mixture.classification)
    np.testing.assert_array_equal(np.asarray(mixture.weights), [0.5, 0.5])


def test_preprocessing_keep_means():
    images_1, images_2 = synthetic_classes(np.random.default_rng(5), sizes=(200, 200))
    n, theta = 16, 16.0
    data = fashion_from_images(images_1, images_2, keep_means=True)
    pools = np.asarray(data.pools)
    scale = np.sqrt(theta / np.trace(population_covariance(images_1)))
    half_gap = scale * (images_1.mean(0) - images_2.mean(0)) / 2
    np.testing.assert_allclose(pools[0].mean(0), half_gap, atol=1e-12)
    np.testing.assert_allclose(pools[1].mean(0), -half_gap, atol=1e-12)
    np.testing.assert_allclose(np.asarray(data.mixture.means), np.stack([half_gap, -half_gap]), atol=1e-12)
    traces = [np.trace(population_covariance(pools[c])) for c in (0, 1)]
    np.testing.assert_allclose(traces, theta, rtol=1e-12)
    for c in (0, 1):
        np.testing.assert_allclose(
            dense_component_covariance(data.mixture, c) - np.eye(n), population_covariance(pools[c]), atol=1e-10
        )


def test_preprocessing_rejects_bad_input():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="same n"):
        fashion_from_images(rng.uniform(size=(5, 4)), rng.uniform(size=(5, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        fashion_from_images(rng.uniform(size=(1, 4)), rng.uniform(size=(5, 4)))
    with pytest.raises(ValueError, match="identical"):
        fashion_from_images(np.ones((5, 4)), rng.uniform(size=(5, 4)))
    with pytest.raises(ValueError, match="beta"):
        fashion_from_images(rng.uniform(size=(5, 4)), rng.uniform(size=(5, 4)), beta=2.0)
    for classes in [(1, 1), (0, 10), (0,)]:
        with pytest.raises(ValueError, match="classes"):
            make_fashion(FashionSpec(classes=classes))


def test_make_fashion_from_idx_directory(tmp_path):
    images, labels = synthetic_dataset(np.random.default_rng(7), n_train=60, n_test=30)
    write_dataset(tmp_path, images, labels)
    X, y = expected_arrays(images, labels)
    data = make_fashion(FashionSpec(classes=(2, 0), data_dir=str(tmp_path), beta=0.5))
    reference = fashion_from_images(X[y == 2], X[y == 0], beta=0.5)
    np.testing.assert_allclose(np.asarray(data.pools), np.asarray(reference.pools), atol=1e-12)


# --- sampling ---------------------------------------------------------------------------------


M_SAMPLE = 4000  # one shape for all sampler tests: one XLA compile


def labelled_pools(P=40, n=6) -> FashionPools:
    """Pools whose images are recoverable from a noisy sample: coordinate 0 = 1000 * (index+1),
    coordinate 1 = 1000 * class."""
    pools = np.zeros((2, P, n))
    pools[:, :, 0] = 1000.0 * (np.arange(P) + 1)
    pools[1, :, 1] = 1000.0
    mixture = make_mixture(MixtureSpec(n=n, task="classification"), 0)
    return FashionPools(pools=jnp.asarray(pools), mixture=mixture)


def test_sample_fashion_draws_distinct_images_plus_unit_noise():
    P, m = 40, M_SAMPLE
    data = labelled_pools(P)
    X, y, c = (np.asarray(a) for a in sample_fashion(data, jax.random.PRNGKey(0), m))
    np.testing.assert_array_equal(y, np.where(c == 0, 1.0, -1.0))
    index = np.rint(X[:, 0] / 1000).astype(int) - 1
    klass = np.rint(X[:, 1] / 1000).astype(int)
    np.testing.assert_array_equal(klass, c)
    for k in (0, 1):
        drawn = int(np.sum(c == k))
        assert np.bincount(index[c == k]).max() == -(-drawn // P)  # distinct until a pool is used up
    noise = X - np.asarray(data.pools)[c, index]
    assert abs(noise.var() - 1) < 4 * np.sqrt(2 / noise.size)
    assert abs(noise.mean()) < 4 / np.sqrt(noise.size)


def test_sample_fashion_classes_are_fair_coins_and_keyed():
    data = labelled_pools()
    _, _, c = sample_fashion(data, jax.random.PRNGKey(1), M_SAMPLE)
    assert abs(float(np.mean(np.asarray(c) == 0)) - 0.5) < 4 * np.sqrt(0.25 / M_SAMPLE)
    first = sample_fashion(data, jax.random.PRNGKey(2), M_SAMPLE)[0]
    again = sample_fashion(data, jax.random.PRNGKey(2), M_SAMPLE)[0]
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
