"""experiments.results: strict JSON, atomic writes under contention, staged outputs, the
self-healing cache (through the CLI)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from onestep_gm.experiments.cli import main
from onestep_gm.experiments.results import cached_json, dumps
from onestep_gm.numerics.files import discard_pending, staged, write_atomic

WRITER = """
import json, sys
from onestep_gm.numerics.files import write_atomic
path, tag = sys.argv[1], sys.argv[2]
for i in range(300):
    write_atomic(path, json.dumps({"writer": tag, "i": i, "pad": "x" * 20000}))
"""


def test_two_processes_writing_one_cache_point(tmp_path):
    target = tmp_path / "point.json"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(target), tag],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]  # fmt: skip
    reads = bad = 0
    while any(w.poll() is None for w in writers):
        if target.exists():
            try:
                obj = json.loads(target.read_text())
                assert obj["writer"] in ("a", "b") and len(obj["pad"]) == 20000
            except (ValueError, AssertionError):
                bad += 1
            reads += 1
    outcomes = [w.communicate() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outcomes
    assert all(err == "" for _, err in outcomes), outcomes
    assert reads > 10 and bad == 0
    assert json.loads(target.read_text())["i"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["point.json"]  # no temporary left


def test_strict_json_has_no_nan_tokens():
    text = dumps({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5]})
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5]}
    assert "NaN" not in text and "Infinity" not in text


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = write_atomic(tmp_path / "f.txt", "x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_staged_is_all_or_nothing_and_validates_targets(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").mkdir()  # a folder where a file should go: refused before writing
    with pytest.raises(IsADirectoryError, match="b.txt"):
        with staged({"a": tmp_path / "a.txt", "b": tmp_path / "b.txt"}) as tmp:
            raise AssertionError("the body must not run")  # pragma: no cover
    with pytest.raises(RuntimeError):
        with staged({"a": tmp_path / "a.txt", "c": tmp_path / "new" / "c.txt"}) as tmp:
            tmp["a"].write_text("new a")
            raise RuntimeError("drawing failed")
    assert (tmp_path / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no tmp, no new/


def test_staged_rolls_back_when_a_move_fails(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"old {name}")
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith("b.txt"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        with staged({"a": tmp_path / "a.txt", "b": tmp_path / "b.txt"}) as tmp:
            tmp["a"].write_text("new a")
            tmp["b"].write_text("new b")
    monkeypatch.undo()
    assert (tmp_path / "a.txt").read_text() == "old a" and (tmp_path / "b.txt").read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_discard_pending_removes_temporaries_of_an_interrupted_write(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with staged({"a": tmp_path / "a.txt"}) as tmp:
            tmp["a"].write_text("half")
            discard_pending()  # what the Ctrl-C handler does before os._exit
            assert list(tmp_path.iterdir()) == []
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# --- the self-healing cache, through `onestep simulate --cache-dir` -------------------------

SMALL = ["simulate", "--n", "30", "--k", "20", "--m", "20", "--trials", "1", "--activation", "relu",
         "--json"]  # fmt: skip
CORRUPTIONS = {
    "garbage": b"this is not json {",
    "truncated": None,  # the first half of the real entry
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "list": b"[]",
    "null": b"null",
    "missing_keys": None,  # the real entry without "train"
}


@pytest.fixture(scope="module")
def cached_point(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    assert main([*SMALL, "--cache-dir", str(folder)]) == 0
    (entry,) = folder.glob("point-*.json")
    return folder, entry, entry.read_bytes()


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_cache_entry_is_recomputed(kind, cached_point, capsys):
    folder, entry, good = cached_point
    capsys.readouterr()
    content = CORRUPTIONS[kind]
    if kind == "truncated":
        content = good[: len(good) // 2]
    elif kind == "missing_keys":
        obj = json.loads(good)
        del obj["train"]
        content = json.dumps(obj).encode()
    entry.write_bytes(content)
    assert main([*SMALL, "--cache-dir", str(folder)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["activations"]["relu"]["nn"]["gen_error"]["mean"] > 0
    assert f"cache entry {entry} is unusable" in captured.err and "recomputing" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    healed = json.loads(entry.read_bytes())  # overwritten with the recomputed, same numbers
    assert healed["train"] == json.loads(good)["train"] and healed["gen"] == json.loads(good)["gen"]
    assert main([*SMALL, "--cache-dir", str(folder)]) == 0  # healed: a clean hit
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in Path(folder).iterdir()) == [entry.name]


def test_cache_hit_is_fast_and_identical(cached_point, capsys):
    folder, entry, good = cached_point
    entry.write_bytes(good)
    capsys.readouterr()
    t0 = time.perf_counter()
    assert main([*SMALL, "--cache-dir", str(folder)]) == 0
    assert time.perf_counter() - t0 < 5
    out = json.loads(capsys.readouterr().out)
    stored = json.loads(good)["gen"]["relu|nn"]
    assert out["activations"]["relu"]["nn"]["gen_error"]["mean"] == sum(stored) / len(stored)


def test_cached_json_hits_misses_and_heals(tmp_path, capsys):
    """A hit does not recompute; another key does; a damaged entry is recomputed with one line."""
    calls = []

    def compute(value):
        calls.append(value)
        return {"value": value}

    assert cached_json(tmp_path, "a", lambda: compute(1)) == {"value": 1}
    assert cached_json(tmp_path, "a", lambda: compute(2)) == {"value": 1}
    assert cached_json(tmp_path, "b", lambda: compute(3)) == {"value": 3}
    assert calls == [1, 3]
    (entry,) = [p for p in tmp_path.iterdir() if '"a"' in p.read_text()]
    entry.write_text('{"key": "a", "value": [')
    assert cached_json(tmp_path, "a", lambda: compute(4)) == {"value": 4}
    assert calls == [1, 3, 4] and "is unusable" in capsys.readouterr().err
    assert cached_json(None, "a", lambda: compute(5)) == {"value": 5}
