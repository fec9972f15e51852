"""Results on disk: the one module that knows their encoding.

A saved simulation is one JSON object (RFC 8259: non-finite numbers are written as ``null``)::

    {"format": "onestep-gm/simulation", "version": 1,
     "config": {... every SimulationConfig field, "data": {"kind": "mixture"|"fashion"|"arrays"|"torchvision", ...}},
     "config_repr": "...", "train": {"relu|nn": [per-trial errors], ...}, "gen": {...},
     "seconds": float, "info": {... parameters, notes, convention, versions}}

Writes are atomic (:mod:`onestep_gm.numerics.files`).  The per-point cache
(:func:`simulate_cached`) treats an unreadable or ill-formed entry as a miss: it recomputes,
overwrites it atomically and says so on stderr.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from onestep_gm.numerics.files import check_targets, write_atomic

FORMAT = "onestep-gm/simulation"
FORMAT_VERSION = 1
_VERSIONED = ("onestep-gm", "jax", "jaxlib", "numpy", "scipy", "sympy", "mpmath", "matplotlib", "scienceplots")


def package_versions() -> dict[str, str | None]:
    """Installed versions of this package and of the libraries that produce its numbers.

    Returns
    -------
    dict
        ``{"onestep-gm": "0.2.0", "jax": ..., ...}``; ``None`` for a package that is missing.
    """
    import importlib.metadata as md  # versions only when recorded

    out: dict[str, str | None] = {}
    for pkg in _VERSIONED:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON has no NaN).

    Tuples become lists, NumPy scalars and arrays become Python numbers and lists.
    """
    if isinstance(obj, Mapping):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str):
        return strict_json(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of ``obj`` (see :func:`strict_json`); unknown objects as ``str``."""
    return json.dumps(strict_json(obj), indent=indent, default=str, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Composite keys: typed inside, strings only on disk
# ---------------------------------------------------------------------------------------------

KEY_SEPARATOR = "|"
"""Joins the parts of a composite key in saved files: ``"relu|nn"``, ``"1000|0.3"``."""


def join_key(parts) -> str:
    """The on-disk text of a composite key: ``("relu", "nn")`` → ``"relu|nn"``."""
    return KEY_SEPARATOR.join(str(p) for p in parts)


def split_key(key: str, parts: int = 2) -> tuple[str, ...]:
    """Inverse of :func:`join_key` for a key of ``parts`` parts (the last keeps any ``|``)."""
    found = key.split(KEY_SEPARATOR, parts - 1)
    if len(found) != parts:
        raise ValueError(f"{key!r} is not a key of {parts} parts joined by {KEY_SEPARATOR!r}")
    return tuple(found)


def encode_pairs(table: Mapping) -> dict[str, Any]:
    """``{Pair(activation, model): values}`` → ``{"activation|model": values}`` (for JSON)."""
    return {join_key(pair): value for pair, value in table.items()}


def decode_pairs(table: Mapping[str, Any]) -> dict:
    """``{"activation|model": values}`` → ``{Pair(activation, model): values}``."""
    from onestep_gm.numerics.simulation import Pair  # the engine (JAX) loads only when read

    return {Pair(*split_key(key)): value for key, value in table.items()}


# ---------------------------------------------------------------------------------------------
# Simulation results
# ---------------------------------------------------------------------------------------------


def config_to_json(config) -> dict:
    """A :class:`~onestep_gm.SimulationConfig` as a JSON object (its data spec tagged by kind)."""
    # the engine (JAX) loads only when a result is built or read
    out = dataclasses.asdict(config)
    out["data"] = {"kind": config.data.kind, **dataclasses.asdict(config.data)}
    return strict_json(out)


def config_from_json(obj: Mapping[str, Any]):
    """Inverse of :func:`config_to_json`.

    Raises
    ------
    ValueError
        When a field is unknown or the data kind is not one of ``DATA_SOURCES`` (or the
        spec held arrays from Python, which saved results record by digest only).
    """
    # the engine (JAX) loads only when a result is built or read
    from onestep_gm.numerics.config import SimulationConfig
    from onestep_gm.numerics.data import spec_from_fields

    fields = dict(obj)
    data = dict(fields.pop("data"))
    kind = data.pop("kind", "mixture")
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    spec = spec_from_fields(kind, data)
    try:
        return SimulationConfig(data=spec, **fields)
    except TypeError as exc:
        raise ValueError(f"not a simulation config: {exc}") from None


def result_to_json(result) -> dict:
    """A :class:`~onestep_gm.SimulationResult` as a strict-JSON object (see the module doc)."""
    return strict_json({
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": config_to_json(result.config),
        "config_repr": repr(result.config),
        "train": encode_pairs(result.train),
        "gen": encode_pairs(result.gen),
        **({"train_mse": encode_pairs(result.train_mse)} if result.train_mse is not None else {}),
        "seconds": result.seconds,
        "info": result.info,
    })  # fmt: skip


def result_from_json(obj: Mapping[str, Any], config=None):
    """Inverse of :func:`result_to_json` (``None`` entries come back as NaN).

    Raises
    ------
    ValueError
        When ``obj`` is not a saved simulation (wrong format tag, missing or ill-typed keys).
    """
    from onestep_gm.numerics.simulation import (  # the engine (JAX) loads only when a result is built or read
        SimulationResult,
    )

    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise ValueError(f"not a saved simulation (expected format {FORMAT!r})")
    try:
        if config is None:
            config = config_from_json(obj["config"])

        def unpack(table: Mapping[str, list]) -> dict:
            return {pair: np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)
                    for pair, values in decode_pairs(table).items()}  # fmt: skip

        train, gen = unpack(obj["train"]), unpack(obj["gen"])
        train_mse = unpack(obj["train_mse"]) if "train_mse" in obj else None
        seconds, info = float(obj["seconds"]), dict(obj["info"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"ill-formed saved simulation ({type(exc).__name__}: {exc})") from None
    if set(train) != set(gen):
        raise ValueError("ill-formed saved simulation (train and gen name different pairs)")
    if train_mse is not None and set(train_mse) != set(gen):
        raise ValueError("ill-formed saved simulation (train_mse and gen name different pairs)")
    return SimulationResult(config=config, train=train, gen=gen, seconds=seconds, info=info, train_mse=train_mse)


def save_result(result, path: str | Path) -> Path:
    """Save a :class:`~onestep_gm.SimulationResult` as strict JSON, atomically.

    Parameters
    ----------
    result : SimulationResult
        What :func:`onestep_gm.simulate` returned.
    path : str or Path
        The target file; its folder is created.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        When the file cannot be written (nothing partial is left).
    """
    return write_atomic(path, dumps(result_to_json(result), indent=1))


def load_result(path: str | Path):
    """Read a result written by :func:`save_result` (or a per-point cache entry).

    Parameters
    ----------
    path : str or Path
        A JSON file in the format of :func:`result_to_json`.

    Returns
    -------
    SimulationResult
        With its :class:`~onestep_gm.SimulationConfig` rebuilt; ``null`` errors are NaN.

    Raises
    ------
    OSError
        When the file cannot be read.
    ValueError
        When it is not valid JSON or not a saved simulation; the message names the file.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
        return result_from_json(obj)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# The per-point cache
# ---------------------------------------------------------------------------------------------


def cache_path(cache_dir: str | Path, config) -> Path:
    """``cache_dir/point-<sha256 of repr(config)>.json``: one file per simulated point."""
    digest = hashlib.sha256(repr(config).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"point-{digest}.json"


def _read_entry(path: Path, parse: Callable[[Mapping[str, Any]], Any]):
    """``parse`` of the JSON object at ``path``, or ``None`` for a miss (absent, unreadable,
    ill-formed, or rejected by ``parse`` with ``ValueError``); a damaged entry is reported on
    stderr."""
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_bytes().decode())
        if not isinstance(obj, Mapping):
            raise ValueError("not a JSON object")
        return parse(obj)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"onestep: cache entry {path} is unusable ({_one_line(exc)}); recomputing it\n")
        return None


def _read_cached(path: Path, config):
    """The cached result of ``config`` at ``path``, or ``None`` for a miss."""

    def parse(obj):
        if obj.get("config_repr") != repr(config):
            raise ValueError("it belongs to another configuration")
        return result_from_json(obj, config)

    return _read_entry(path, parse)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def cached_json(cache_dir: str | Path | None, key: str, compute: Callable[[], dict]) -> dict:
    """``compute()``, stored under ``cache_dir/json-<sha256 of key>.json`` and read back on a hit.

    For results that are plain JSON rather than a :class:`SimulationResult` (the points of the
    order diagram).  ``key`` must name everything the result depends on; an entry whose stored
    key differs, or that cannot be read, is recomputed.  ``cache_dir=None`` computes without a
    cache.
    """
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"json-{hashlib.sha256(key.encode()).hexdigest()[:20]}.json"

    def parse(obj):
        if obj.get("key") != key or not isinstance(obj.get("value"), Mapping):
            raise ValueError("it belongs to another key")
        return dict(obj["value"])

    cached = _read_entry(path, parse)
    if cached is not None:
        return cached
    check_targets({"cache": path})  # an unusable cache folder is refused before the work
    value = compute()
    write_atomic(path, dumps({"key": key, "value": value}))
    return value


def simulate_cached(config, *, cache_dir: str | Path | None = None, progress: bool = False):
    """:func:`onestep_gm.simulate`, with one cache file per point under ``cache_dir``.

    A hit returns the stored result (the same numbers, bit for bit); a miss, or an entry that
    cannot be read back, runs the simulation and stores it atomically.  ``cache_dir=None``
    simulates without a cache.
    """
    # the engine (JAX) loads only when a result is built or read
    from onestep_gm.numerics.compile_cache import release_near_map_limit
    from onestep_gm.numerics.simulation import simulate

    # a long sweep in one process keeps clear of Linux's memory-map limit (this was in simulate,
    # which now leaves the process's compiled programs alone)
    release_near_map_limit()
    if cache_dir is None:
        return simulate(config, progress=progress)
    path = cache_path(cache_dir, config)
    cached = _read_cached(path, config)
    if cached is not None:
        return cached
    check_targets({"cache": path})  # an unusable cache folder is refused before the simulation
    result = simulate(config, progress=progress)
    write_atomic(path, dumps(result_to_json(result)))
    return result
