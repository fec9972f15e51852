"""Your own data (numerics/arrays.py): .npz reading and refusals, the class statistics against an
independent NumPy computation, Fashion-MNIST as one case of the source, and a sweep with theory
lines from an .npz file (examples/sweeps/my-arrays.toml)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
import struct
from pathlib import Path

import jax
import numpy as np
import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.numerics.arrays import ArraySpec, read_npz, sample_pools
from onestep_gm.numerics.data import DATA_SOURCES, DataSpec, spec_from_fields
from onestep_gm.numerics.fashion import FashionSpec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sweeps"


def three_classes(seed=0, n=12, sizes=(50, 40, 45)):
    """Three classes with different means, spreads and shapes (not Gaussian)."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([
        rng.normal(0.0, 1.0, (sizes[0], n)) * np.linspace(0.2, 2.0, n),
        rng.normal(0.5, 1.0, (sizes[1], n)) ** 2,
        rng.uniform(size=(sizes[2], n)) + np.arange(n) / n,
    ])  # fmt: skip
    y = np.repeat([0, 1, 2], sizes)
    return X, y


def reference_preprocessing(X, y, classes, keep_means, beta, alpha):
    """The paper's Fashion-MNIST recipe written out with np.cov: pools and dense Sigma_c - I."""
    rows = [X[y == c] for c in classes]
    P, n = min(len(r) for r in rows), X.shape[1]
    rows = [r[:P] for r in rows]
    means = [r.mean(axis=0) for r in rows]
    covs = [np.cov(r.T, bias=True) for r in rows]
    traces = [np.trace(S) for S in covs]
    theta = n ** (beta * (1 - alpha))
    scale = np.sqrt(theta / traces[0])
    centre = np.mean(means, axis=0)
    kept = [mu - centre if keep_means else 0 * mu for mu in means]
    ratios = [np.sqrt(traces[0] / t) for t in traces]
    pools = np.stack([scale * (r_ * (x - mu) + k) for x, mu, k, r_ in zip(rows, means, kept, ratios, strict=True)])
    spread = [scale**2 * r_**2 * S for S, r_ in zip(covs, ratios, strict=True)]
    return pools, np.stack(kept) * scale, spread


def dense(mixture, c):
    U, s = np.asarray(mixture.spikes[c]), np.asarray(mixture.sizes[c])
    return (U.T * s) @ U


@pytest.mark.parametrize("keep_means", [False, True])
@pytest.mark.parametrize("classes", [(0, 1), (2, 0, 1)])
def test_class_statistics_match_an_independent_computation(classes, keep_means):
    X, y = three_classes()
    data = ArraySpec(X=X, y=y, classes=classes, keep_means=keep_means, beta=0.8, alpha=0.25).realise()
    pools, means, spread = reference_preprocessing(X, y, classes, keep_means, 0.8, 0.25)
    np.testing.assert_allclose(np.asarray(data.pools), pools, atol=1e-12)
    mixture = data.surrogate
    np.testing.assert_allclose(np.asarray(mixture.means), means, atol=1e-12)
    np.testing.assert_allclose(np.asarray(mixture.weights), np.full(len(classes), 1 / len(classes)))
    for c in range(len(classes)):
        np.testing.assert_allclose(dense(mixture, c), spread[c], atol=1e-10)
    n = X.shape[1]
    assert np.trace(spread[0]) == pytest.approx(n**0.6)  # theta = n^{beta(1-alpha)}
    assert bool(mixture.classification)


def test_npz_and_python_arrays_give_one_source(tmp_path):
    X, y = three_classes(1)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y, labels=np.array(["a", "b", "c"]))
    from_file = ArraySpec(path=str(path), classes=(1, 2))
    from_python = ArraySpec(X=X, y=y, labels=("a", "b", "c"), classes=(1, 2))
    assert isinstance(from_file, DataSpec) and DATA_SOURCES["arrays"] is ArraySpec
    assert (from_file.n, from_file.components, from_file.noise, from_file.has_population_law) == (12, 2, 0.0, False)
    assert from_file.fixed_scales() == (12 + 12, 1.0)  # tau = n + theta, b = 1 at beta = 1, alpha = 0
    assert from_python.class_names() == from_file.class_names() == ("b", "c")
    a, b = from_file.realise(), from_python.realise()
    np.testing.assert_array_equal(np.asarray(a.pools), np.asarray(b.pools))
    # arrays are held by content: equal arrays, equal specs and hashes; a short repr
    again = ArraySpec(X=X.copy(), y=list(y), labels=("a", "b", "c"), classes=(1, 2))
    assert again == from_python and hash(again) == hash(from_python) and len(repr(again)) < 400
    X[0, 0] += 1
    assert ArraySpec(X=X, y=y, labels=("a", "b", "c"), classes=(1, 2)) != from_python
    assert spec_from_fields("arrays", {"path": str(path)}) == ArraySpec(path=str(path))
    fields = dataclasses.asdict(from_python)  # saved results: a digest, not the data
    assert "sha256" in repr(fields["X"])
    with pytest.raises(ValueError, match="not stored in saved results"):
        spec_from_fields("arrays", {**fields, "X": repr(fields["X"]), "y": repr(fields["y"])})


def test_three_classes_are_sampled_uniformly_with_unit_noise():
    X, y = three_classes(2, sizes=(400, 400, 400))
    data = ArraySpec(X=X, y=y, classes=(0, 1, 2)).realise()
    m = 1200
    Xs, ys, c = (np.asarray(a) for a in sample_pools(data, jax.random.PRNGKey(0), m))
    assert all(abs(np.mean(c == k) - 1 / 3) < 4 * np.sqrt(2 / 9 / m) for k in range(3))
    np.testing.assert_array_equal(ys, np.where(c == 0, 1.0, -1.0))
    pools = np.asarray(data.pools)
    # every sample is a row of its own class plus N(0, I): the nearest row is at distance ~ sqrt(n)
    noise = np.array([np.min(np.linalg.norm(pools[k] - x, axis=1)) for x, k in zip(Xs[:50], c[:50], strict=True)])
    assert np.all(noise**2 < 12 + 8 * np.sqrt(24))
    data.check_draws(1200)
    with pytest.raises(ValueError, match="each class has 400"):
        data.check_draws(1300)


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "none.npz"), "no such file"),
        (lambda p: (p / "t.npz").write_text("hello") and str(p / "t.npz"), "not an .npz file"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones((4, 2))), "missing key y"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones((4, 2)), y=np.zeros(4, int), w=np.ones(1)), "unknown key 'w'"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones(4), y=np.zeros(4, int)), "X must be a 2-D array"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones((4, 2)), y=np.zeros(3, int)), r"y must have shape \(4,\)"),
        (lambda p: _write_npz(p / "a.npz", X=np.full((4, 2), np.nan), y=np.zeros(4, int)), "NaN or infinite"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones((4, 2)), y=np.linspace(0, 1, 4)), "integer class labels"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones((4, 2)), y=-np.ones(4, int)), "labels >= 0"),
        (lambda p: _write_npz(p / "a.npz", X=np.ones((4, 2)), y=np.arange(4), labels=np.array(["a"])),
         "labels names 1 classes"),
        (lambda p: _write_npz(p / "a.npz", X=np.array([["a", "b"]] * 4), y=np.zeros(4, int)), "X must hold numbers"),
    ],
)  # fmt: skip
def test_npz_refusals_name_the_file_and_the_problem(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        read_npz(path)
    assert "\n" not in str(info.value) and str(Path(path).name) in str(info.value)


def test_spec_refusals():
    X, y = three_classes(3)
    with pytest.raises(ValueError, match="either path"):
        ArraySpec()
    with pytest.raises(ValueError, match="either path"):
        ArraySpec(path="a.npz", X=X, y=y)
    with pytest.raises(ValueError, match="X and y go together"):
        ArraySpec(X=X)
    with pytest.raises(ValueError, match="no rows of class 7"):
        ArraySpec(X=X, y=y, classes=(0, 7)).realise()
    with pytest.raises(ValueError, match="classes must be two or more"):
        ArraySpec(X=X, y=y, classes=(0,)).realise()
    with pytest.raises(ValueError, match="identical images"):
        ArraySpec(X=np.ones((20, 3)), y=np.repeat([0, 1], 10)).realise()
    with pytest.raises(ValueError, match="beta"):
        ArraySpec(X=X, y=y, beta=1.5).realise()
    with pytest.raises(ValueError, match="regression targets"):
        ArraySpec(X=X, y=np.linspace(0, 1, len(X)))


def _idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">I", 0x800 + array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    (gzip.open if compress else open)(path, "wb").write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_is_one_case_of_the_general_source(tmp_path):
    """Same images and labels: FashionSpec and ArraySpec give identical pools, surrogate and samples."""
    rng = np.random.default_rng(4)
    images = {s: rng.integers(0, 256, (N, 28, 28)) for s, N in (("train", 60), ("t10k", 30))}
    labels = {s: rng.integers(0, 3, len(images[s])) for s in images}
    for split in images:
        _idx(tmp_path / f"{split}-images-idx3-ubyte", images[split], split == "train")
        _idx(tmp_path / f"{split}-labels-idx1-ubyte", labels[split], False)
    X = np.concatenate([images["train"], images["t10k"]]).reshape(-1, 784) / 255.0
    y = np.concatenate([labels["train"], labels["t10k"]])
    fashion = FashionSpec(classes=(2, 0), keep_means=True, data_dir=str(tmp_path)).realise()
    general = ArraySpec(X=X, y=y, classes=(2, 0), keep_means=True).realise()
    for a, b in zip(jax.tree.leaves(fashion), jax.tree.leaves(general), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    pools, means, spread = reference_preprocessing(X, y, (2, 0), True, 1.0, 0.0)
    np.testing.assert_allclose(np.asarray(fashion.pools), pools, atol=1e-12)
    np.testing.assert_allclose(np.asarray(fashion.surrogate.means), means, atol=1e-12)
    np.testing.assert_allclose(dense(fashion.surrogate, 1), spread[1], atol=1e-9)
    key = jax.random.PRNGKey(5)
    np.testing.assert_array_equal(np.asarray(fashion.sample(key, 40)[0]), np.asarray(general.sample(key, 40)[0]))


def test_simulate_on_npz_from_the_cli_and_a_missing_file(tmp_path, capsys):
    X, y = three_classes(6, n=10, sizes=(120, 120, 10))
    path = _write_npz(tmp_path / "d.npz", X=X, y=y)
    assert main(["simulate", "--data", f"npz:{tmp_path / 'none.npz'}", "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.npz: no such file" in err
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--data", "npz", "--trials", "1"])
    assert exit_.value.code == 2 and "not a data source" in capsys.readouterr().err
    code = main(["simulate", "--data", f"npz:{path}", "--classes", "0,1", "--k", "20", "--m", "30",
                 "--trials", "1", "--order", "4", "--activation", "relu", "--model", "nn,hermite,conditional,theory",
                 "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parameters"]["n"] == 10 and out["parameters"]["beta"] == 1.0
    for model in ("nn", "hermite", "conditional", "theory"):
        assert np.isfinite(out["activations"]["relu"][model]["gen_error"]["mean"])


def test_example_sweep_on_an_npz_draws_theory_lines(tmp_path, monkeypatch, capsys):
    """examples/sweeps/my-arrays.toml on a generated my-data.npz: the figure, with its theory line."""
    X, y = three_classes(7, n=16, sizes=(150, 150, 20))
    monkeypatch.chdir(tmp_path)
    _write_npz(tmp_path / "my-data.npz", X=X, y=y, labels=np.array(["wide", "square", "uniform"]))
    spec = tmp_path / "my-arrays.toml"
    shutil.copy(EXAMPLES / "my-arrays.toml", spec)
    assert main(["sweep", str(spec), "--quick", "--out", "out", "--no-progress"]) == 0
    for suffix in ("png", "pdf", "json", "csv", "md"):
        assert (tmp_path / "out" / f"my-arrays.{suffix}").stat().st_size > 0
    data = json.loads((tmp_path / "out" / "my-arrays.json").read_text())
    assert [p["coords"]["lam"] for p in data["points"]] == [1e-3, 1e-1]
    for point in data["points"]:
        assert point["config"]["data"]["kind"] == "arrays"
        for model in ("nn", "hermite", "theory"):
            values = point["gen"][f"relu|{model}"]
            assert len(values) == 2 and all(v is not None and v > 0 for v in values)
