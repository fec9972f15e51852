"""Files written all or nothing: one atomically, or several published together.

The package's one writer: results, figures and the coefficient cache all use it.

A write goes to a uniquely named temporary file in the target's folder, which then replaces the
target (``os.replace``), so concurrent writers never collide and a reader sees either the old
or the new file, never a partial one.  New files get the mode ``open(path, "w")`` would give
(the kernel applies the umask; the process's umask is never read or changed).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

_FILE_MODE = 0o666
"""Mode asked for when a file is created; the kernel applies the process's umask to it, so
written files get what ``open(path, "w")`` would give (``mkstemp`` gives 0600)."""

pending_files: set[Path] = set()
"""Temporary files being written now; :func:`discard_pending` removes them on an interrupt."""


def discard_pending() -> None:
    """Remove every temporary file of a write in progress (the CLI's Ctrl-C handler calls it
    just before leaving, so an interrupt leaves no ``.tmp`` behind; targets are untouched)."""
    for tmp in list(pending_files):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    pending_files.clear()


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically (unique temporary name, then ``os.replace``).

    Raises
    ------
    OSError
        When the folder cannot be created or written; no temporary file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temporary(path)
    pending_files.add(Path(tmp))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode() if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        pending_files.discard(Path(tmp))
    return path


def create_temporary(target: Path) -> tuple[int, str]:
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
            fd, tmp = create_temporary(target)
            tmp_paths[key] = Path(tmp)
            os.close(fd)
            pending_files.add(Path(tmp))
        yield tmp_paths
        for key, target in targets.items():
            backups[key] = _backup(target)
        for key, target in targets.items():
            tmp = tmp_paths[key]
            os.replace(tmp, target)
            replaced.append(key)
            del tmp_paths[key]
            pending_files.discard(tmp)
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
        pending_files.discard(tmp)
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
    pending_files.add(backup)
    return backup
