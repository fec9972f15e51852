"""`onestep order` and `onestep hermite`: the CLI contract of DESIGN.md."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from onestep_gm.experiments.cli import main

ONESTEP = Path(sys.executable).parent / "onestep"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _fails_cleanly(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_hermite_relu_json(capsys):
    code, out, err = _run(
        capsys, "hermite", "--activation", "relu", "--b", "1", "--order", "9", "--json"
    )
    assert code == 0 and err == ""
    obj = json.loads(out)
    assert set(obj) == {"activation", "b", "order", "h", "h_star", "second_moment", "method"}
    s = 1 / math.sqrt(2 * math.pi)
    want = [s, 0.5, s, 0, -s, 0, 3 * s, 0, -15 * s]
    assert len(obj["h"]) == 9 and all(isinstance(v, str) for v in obj["h"])
    for got, expected in zip(obj["h"], want, strict=True):
        assert abs(float(got) - expected) <= 1e-12
    assert obj["method"] == "exact" and obj["order"] == 9 and obj["activation"] == "relu"
    assert abs(float(obj["second_moment"]) - 0.5) <= 1e-15
    star = 0.5 - sum(w**2 / math.factorial(j) for j, w in enumerate(want))
    assert abs(float(obj["h_star"]) - math.sqrt(star)) <= 1e-12


def test_hermite_digits_and_numeric_method(capsys):
    code, out, _ = _run(
        capsys,
        "hermite",
        "--activation",
        "tanh",
        "--b",
        "0.5",
        "--order",
        "3",
        "--json",
        "--digits",
        "30",
    )
    obj = json.loads(out)
    assert code == 0 and obj["method"] == "numeric"
    assert len(obj["h"][1].replace("-", "").replace(".", "").lstrip("0")) >= 29


def test_hermite_table(capsys):
    code, out, err = _run(capsys, "hermite", "--activation", "relu", "--b", "2", "--order", "4")
    assert code == 0 and err == ""
    assert "sqrt(2)/sqrt(pi)" in out and "method" in out and "exact" in out and "h_star" in out
    lines = [line.split() for line in out.splitlines()]
    row = next(line for line in lines if line[:1] == ["1"])
    assert float(row[1]) == 1.0  # h_1 = b/2


def test_order_json(capsys):
    code, out, err = _run(capsys, "order", "--beta", "0.74", "--json")
    assert code == 0 and err == ""
    assert json.loads(out) == {
        "beta": 0.74,
        "order": 4,
        "interval": [2 / 3, 0.75],
        "boundary": False,
        "neighbours": [],
    }


def test_order_boundary(capsys):
    code, out, _ = _run(capsys, "order", "--beta", "0.5", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["boundary"] is True and obj["order"] is None
    assert obj["neighbours"] == [2, 3]
    code, out, _ = _run(capsys, "order", "--beta", "0.5")
    assert code == 0 and "says nothing" in out


def test_order_with_scalings(capsys):
    code, out, _ = _run(
        capsys, "order", "--beta", "0.5", "--alpha", "0.5", "--n", "10000", "--json"
    )
    obj = json.loads(out)
    assert code == 0
    assert obj["theta"] == pytest.approx(10.0) and obj["eta"] == pytest.approx(10.0)
    assert obj["b"] == pytest.approx(math.sqrt(10000 / 10010))
    code, out, _ = _run(capsys, "order", "--beta", "0.74")
    assert code == 0 and "l = 4" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["order", "--beta", "1.5"],
        ["order", "--beta", "abc"],
        ["order", "--beta", "0.5", "--n", "10"],
        ["hermite", "--activation", "nope", "--b", "1", "--order", "3"],
        ["hermite", "--activation", "__import__('os').system('id')", "--b", "1", "--order", "3"],
        ["hermite", "--activation", "relu", "--b", "1", "--order", "0"],
        ["hermite", "--activation", "relu", "--b", "1", "--order", "41"],
        ["hermite", "--activation", "relu", "--b", "-2", "--order", "3"],
        ["hermite", "--activation", "3", "--b", "1", "--order", "3"],
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_injection_through_the_installed_script(tmp_path):
    assert ONESTEP.exists(), f"console script missing at {ONESTEP}"
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    proc = subprocess.run(
        [str(ONESTEP), "hermite", "--activation", payload, "--b", "1", "--order", "3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "not allowed" in proc.stderr
    assert not marker.exists()
