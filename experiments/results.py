"""Results on disk: the one module that knows their encoding.

A saved simulation is one JSON object (RFC 8259: non-finite numbers are written as ``null``)::

    {"format": "onestep-gm/simulation", "version": 1,
     "config": {... every SimulationConfig field, "data": {"kind": "mixture"|"fashion", ...}},
     "config_repr": "...", "train": {"relu|nn": [per-trial errors], ...}, "gen": {...},
     "seconds": float, "info": {... parameters, notes, convention, versions}}

Writes are atomic: the text goes to a uniquely named temporary file in the target's folder,
which then replaces the target (``os.replace``), so concurrent writers never collide and a
reader sees either the old or the new file, never a partial one.  The per-point cache
(:func:`simulate_cached`) treats an unreadable or ill-formed entry as a miss: it recomputes,
overwrites it atomically and says so on stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

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


_FILE_MODE = 0o666
"""Mode asked for when a file is created; the kernel applies the process's umask to it, so
written files get what ``open(path, "w")`` would give (``mkstemp`` gives 0600)."""

_PENDING: set[Path] = set()
"""Temporary files being written now; :func:`discard_pending` removes them on an interrupt."""


def discard_pending() -> None:
    """Remove every temporary file of a write in progress (the CLI's Ctrl-C handler calls it
    just before leaving, so an interrupt leaves no ``.tmp`` behind; targets are untouched)."""
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _PENDING.clear()


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically (unique temporary name, then ``os.replace``).

    Raises
    ------
    OSError
        When the folder cannot be created or written; no temporary file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    _PENDING.add(Path(tmp))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode() if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _PENDING.discard(Path(tmp))
    return path


def _create_temporary(target: Path) -> tuple[int, str]:
    """Create a new, uniquely named temporary file beside ``target``: ``(fd, path)``.

    ``os.open`` with ``O_EXCL`` and mode :data:`_FILE_MODE`, so the umask applies as for any
    new file, without reading (and so toggling) the process's umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(target.parent, f".{target.name}.{secrets.token_hex(5)}.tmp")
        try:
            return os.open(tmp, flags, _FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def check_targets(targets: Mapping[str, Path]) -> None:
    """Refuse output paths that cannot be written, before anything is computed or written.

    Parameters
    ----------
    targets : mapping
        Name → path of every output of one command.

    Raises
    ------
    OSError
        Naming the first path that is a folder, whose folder is a file, or whose folder
        (or nearest existing ancestor) is not writable.
    """
    for target in targets.values():
        target = Path(target)
        if target.is_dir():
            raise IsADirectoryError(f"{target} is a folder; cannot write a file there")
        ancestor = target.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise NotADirectoryError(f"{ancestor} is not a folder; cannot write {target}")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise PermissionError(f"{ancestor} is not writable; cannot write {target}")


@contextlib.contextmanager
def staged(targets: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """Stage several outputs and publish them all or none.

    The targets are checked first (:func:`check_targets`).  Yields a dict of temporary paths
    (same folders as ``targets``) to write into; on normal exit every staged file replaces its
    target, on an exception all staged files are removed and no target changes.  Should a
    replacement fail midway, the targets already replaced get their previous contents back.

    Raises
    ------
    OSError
        For a target that cannot be written (nothing is written then).
    """
    targets = {key: Path(target) for key, target in targets.items()}
    check_targets(targets)
    tmp_paths: dict[str, Path] = {}
    backups: dict[str, Path | None] = {}
    replaced: list[str] = []
    created: list[Path] = []  # folders made here, removed again on failure
    try:
        for key, target in targets.items():
            missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
            target.parent.mkdir(parents=True, exist_ok=True)
            created += [p for p in missing if p not in created]
            fd, tmp = _create_temporary(target)
            tmp_paths[key] = Path(tmp)
            os.close(fd)
            _PENDING.add(Path(tmp))
        yield tmp_paths
        for key, target in targets.items():
            backups[key] = _backup(target)
        for key, target in targets.items():
            tmp = tmp_paths[key]
            os.replace(tmp, target)
            replaced.append(key)
            del tmp_paths[key]
            _PENDING.discard(tmp)
    except BaseException:
        for key in replaced:  # roll back: the previous contents, or no file as before
            with contextlib.suppress(OSError):
                backup = backups.pop(key)
                if backup is None:
                    targets[key].unlink()
                else:
                    os.replace(backup, targets[key])
        _remove(tmp_paths, backups)
        for folder in created:  # deepest first; only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    _remove(tmp_paths, backups)


def _remove(tmp_paths: Mapping[str, Path], backups: Mapping[str, Path | None]) -> None:
    for tmp in [*tmp_paths.values(), *(b for b in backups.values() if b is not None)]:
        _PENDING.discard(tmp)
        with contextlib.suppress(OSError):
            tmp.unlink()


def _backup(target: Path) -> Path | None:
    """A hard link to ``target``'s current contents (for a roll-back), or ``None``."""
    if not target.exists():
        return None
    backup = Path(tempfile.mktemp(prefix=f".{target.name}.", suffix=".bak", dir=target.parent))
    try:
        os.link(target, backup)
    except OSError:
        return None
    _PENDING.add(backup)
    return backup


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
    from onestep_gm.numerics.fashion import FashionSpec

    out = dataclasses.asdict(config)
    kind = "fashion" if isinstance(config.data, FashionSpec) else "mixture"
    out["data"] = {"kind": kind, **dataclasses.asdict(config.data)}
    return strict_json(out)


def config_from_json(obj: Mapping[str, Any]):
    """Inverse of :func:`config_to_json`.

    Raises
    ------
    ValueError
        When a field is unknown or the data kind is neither ``mixture`` nor ``fashion``.
    """
    # the engine (JAX) loads only when a result is built or read
    from onestep_gm.numerics.fashion import FashionSpec
    from onestep_gm.numerics.mixture import MixtureSpec
    from onestep_gm.numerics.simulation import SimulationConfig

    fields = dict(obj)
    data = dict(fields.pop("data"))
    kind = data.pop("kind", "mixture")
    if kind not in ("mixture", "fashion"):
        raise ValueError(f"unknown data kind {kind!r} (expected 'mixture' or 'fashion')")
    spec_cls = FashionSpec if kind == "fashion" else MixtureSpec
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    try:
        return SimulationConfig(data=spec_cls(**data), **fields)
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
        seconds, info = float(obj["seconds"]), dict(obj["info"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"ill-formed saved simulation ({type(exc).__name__}: {exc})") from None
    if set(train) != set(gen):
        raise ValueError("ill-formed saved simulation (train and gen name different pairs)")
    return SimulationResult(config=config, train=train, gen=gen, seconds=seconds, info=info)


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
    from onestep_gm.numerics.simulation import simulate

    if cache_dir is None:
        return simulate(config, progress=progress)
    path = cache_path(cache_dir, config)
    cached = _read_cached(path, config)
    if cached is not None:
        return cached
    result = simulate(config, progress=progress)
    write_atomic(path, dumps(result_to_json(result)))
    return result
