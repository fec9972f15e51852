"""Argument types shared by the subcommands: each raises ``argparse.ArgumentTypeError``."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def unit_interval(text: str) -> float:
    """A number in [0, 1] (beta, alpha, rho)."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.theory.order import check_strength

    try:
        return check_strength(_number(text), "value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is outside [0, 1]") from None


def positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def nonnegative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def _integer(text: str, minimum: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(f"{text} must be a positive integer" if minimum == 1 else f"{text} must be >= {minimum}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1)


def nonnegative_int(text: str) -> int:
    return _integer(text, 0)


SEED_MAX = 2**32 - 1


def seed(text: str) -> int:
    """A random seed in 0 .. 2**32 - 1 (what ``jax.random.PRNGKey`` takes without folding)."""
    value = _integer(text, None)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text} is outside 0 .. 2**32 - 1 = {SEED_MAX}")
    return value


def size_list(text: str) -> tuple[int, ...]:
    """``"250,500,1000"`` → ``(250, 500, 1000)``: distinct sizes n = k = m, each at least 8."""
    sizes = []
    for item in text.split(","):
        value = positive_int(item.strip())
        if value < 8:
            raise argparse.ArgumentTypeError(f"size {value} is below 8")
        sizes.append(value)
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a size")
    return tuple(sorted(sizes))


def comma_list(text: str) -> list[str]:
    """``"relu,tanh"`` → ``["relu", "tanh"]``; commas inside parentheses are kept."""
    items, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    if any(not item for item in items):
        raise argparse.ArgumentTypeError(f"empty entry in list {text!r}")
    return items


DATA_FORMS = "mixture, npz:PATH, torchvision:DATASET:ROOT or fashion[:DIR]"


def data_source(text: str) -> tuple[str, dict[str, Any]]:
    """``--data``: ``"mixture"`` | ``"npz:PATH"`` | ``"torchvision:DATASET:ROOT"`` |
    ``"fashion[:DIR]"`` → ``(kind, fields)`` of a data spec (``kind`` a key of ``DATA_SOURCES``)."""
    head, _, rest = text.partition(":")
    if head == "mixture" and not rest:
        return "mixture", {}
    if head == "npz" and rest:
        return "arrays", {"path": rest}
    if head == "fashion":
        return "fashion", {"data_dir": rest} if rest else {}
    if head == "torchvision":
        dataset, _, root = rest.partition(":")
        if dataset and root:
            return "torchvision", {"dataset": dataset, "root": root}
    raise argparse.ArgumentTypeError(f"{text!r} is not a data source; expected {DATA_FORMS}")


def class_list(text: str) -> tuple[int, ...]:
    """``"0,1"`` → ``(0, 1)``: two or more different class labels >= 0."""
    values = tuple(nonnegative_int(item.strip()) for item in text.split(","))
    if len(values) < 2 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r}: give two or more different class labels")
    return values


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout and nothing else."""
    # JAX/SymPy load when the command runs: `onestep --help` and `order` stay fast
    from onestep_gm.experiments.results import dumps

    sys.stdout.write(dumps(obj, indent=2) + "\n")


def add_run_arguments(parser: argparse.ArgumentParser, quick_help: str) -> None:
    """The options of a figure run (``figure``, ``sweep``): --quick, --trials, --seed, --out,
    --no-progress, --workers / --scheduler."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--trials", type=positive_int, default=None, help="trials per point")
    parser.add_argument("--seed", type=seed, default=None, help="random seed in 0 .. 2**32-1 (default 0)")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_distributed_arguments(parser)


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` / ``--scheduler ADDRESS``: the points as Dask tasks (``figure``, ``sweep``)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers", type=positive_int, default=None,
        help="run the points on a local Dask cluster of N worker processes (extra [distributed])",
    )  # fmt: skip
    group.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="run the points on the Dask cluster at ADDRESS, e.g. tcp://host:8786",
    )  # fmt: skip


def print_saved(run: Any, paths: dict) -> None:
    """The line ``figure`` and ``sweep`` print for each figure written."""
    print(f"{run.name}: {paths['json'].with_suffix('')}.{{png,pdf,json,csv,md}} ({run.seconds:.1f} s)")
    sys.stdout.flush()
