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


KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from onestep_gm.numerics.files import staged
folder = Path(sys.argv[1])
real_replace, done = os.replace, []

def replace_then_die(src, dst):
    real_replace(src, dst)
    done.append(dst)
    if len(done) == 2:  # two of five files published: SIGKILL, no handler runs
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace_then_die
with staged({ext: folder / f"fig.{ext}" for ext in ("json", "csv", "md", "png", "pdf")}) as tmp:
    for ext, path in tmp.items():
        path.write_text(f"new {ext}")
"""


def test_a_figure_killed_between_renames_is_completed_by_the_next_write(tmp_path):
    """Issue 28, kind 4: SIGKILL between two of the five renames leaves a journal; the next
    write of the same figure first completes the renames, so the five files are never a mix
    of old and new, and leftovers of dead writers are removed (files of live ones are kept)."""
    exts = ("json", "csv", "md", "png", "pdf")
    for ext in exts:
        (tmp_path / f"fig.{ext}").write_text(f"old {ext}")
    proc = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(tmp_path)], capture_output=True)
    assert proc.returncode == -9, proc.stderr
    contents = {(tmp_path / f"fig.{e}").read_text() for e in exts}
    assert contents & {f"new {e}" for e in exts} and contents & {f"old {e}" for e in exts}  # the mix
    assert any(p.name.endswith(".publish") for p in tmp_path.iterdir())
    # a stale temporary of a dead writer, an old-style one, and one of this (live) process
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = next(p.name for p in tmp_path.iterdir() if p.name.endswith(".publish")).split(".")[-2][:6]
    stale = tmp_path / f".fig.png.{host}-{dead.stdout.strip()}-0123456789.tmp"
    old_style = tmp_path / ".fig.pdf.abcdef0123.tmp"
    live = tmp_path / f".fig.md.{host}-{os.getpid()}-0123456789.tmp"
    for path in (stale, old_style, live):
        path.write_text("x")
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    with staged({"other": tmp_path / "other.txt"}) as tmp:  # other targets: their leftovers only
        tmp["other"].write_text("o")
    assert stale.exists()
    with staged({"json": tmp_path / "fig.json"}) as tmp:  # a write of one of the figure's files
        tmp["json"].write_text("newest json")
    assert [(tmp_path / f"fig.{e}").read_text() for e in exts] == ["newest json", *(f"new {e}" for e in exts[1:])]
    assert stale.exists()  # fig.png is not a target of that write
    with staged({e: tmp_path / f"fig.{e}" for e in exts}) as tmp:  # the next save of the figure
        for e, path in tmp.items():
            path.write_text(f"newest {e}")
    assert [(tmp_path / f"fig.{e}").read_text() for e in exts] == [f"newest {e}" for e in exts]
    assert not stale.exists() and not old_style.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [live.name]


def test_save_outputs_publishes_through_staged(tmp_path, monkeypatch):
    """The figures' five files go through the staged writer (so through its journal)."""
    from onestep_gm.experiments.figures import outputs

    seen = []
    monkeypatch.setattr(outputs, "staged", lambda targets: (seen.append(sorted(targets)), staged(targets))[1])
    monkeypatch.setattr("onestep_gm.experiments.figures.plots.save_pictures",
                        lambda fig, paths: [p.write_bytes(b"img") for p in paths.values()])  # fmt: skip

    class Run:
        name = "tiny"

        def data(self):
            return {"a": 1}

        def to_frame(self):
            import pandas as pd

            return pd.DataFrame({"a": [1]})

        def report(self):
            return "# tiny\n"

        def draw(self):
            return None

    paths = outputs.save_outputs(Run(), tmp_path)
    assert seen == [sorted(outputs.EXTENSIONS)] and all(p.exists() for p in paths.values())


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
