"""Files written all or nothing: one atomically, or several published together.

The package's one writer: results, figures and the coefficient cache all use it.

A write goes to a uniquely named temporary file in the target's folder, which then replaces the
target (``os.replace``), so concurrent writers never collide and a reader sees either the old
or the new file, never a partial one.  New files get the mode ``open(path, "w")`` would give
(the kernel applies the umask; the process's umask is never read or changed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import time
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


def _owner() -> str:
    """``<host>-<pid>``: who writes a temporary file (its name carries it, so that a later run
    can tell the leftovers of a killed run from the files of one still writing)."""
    host = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
    return f"{host}-{os.getpid()}"


_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-)?[0-9a-f]{10}\.(?:tmp|bak|publish)$")
_OLD_SECONDS = 3600.0
"""Temporary files without an owner in their name (written before owners were recorded) are
left over once they are this old."""


def _owner_gone(match: re.Match, path: Path) -> bool:
    if match["pid"] is None or match["host"] != _owner().split("-")[0]:
        try:
            return time.time() - path.stat().st_mtime > _OLD_SECONDS
        except OSError:
            return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def clean_leftovers(folder: Path, names: set[str]) -> None:
    """Finish or remove what killed runs left beside the files ``names`` of ``folder``.

    A publication journal (``.<name>.<owner>-<token>.publish``, written by :func:`staged` just
    before its renames) whose writer is gone is completed: every staged file it lists that
    still exists replaces its target, so a run killed between two renames leaves all new files
    (never a mix of new and old).  Then temporary files (``.<name>.<owner>-<token>.tmp``) whose
    writer is gone are removed.  Files of a writer still running are left alone.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    leftovers = [(p, m) for p in entries if (m := _LEFTOVER.match(p.name)) and m["name"] in names]
    for path, match in leftovers:
        if path.suffix == ".publish" and _owner_gone(match, path):
            with contextlib.suppress(OSError, ValueError):
                for tmp, target in json.loads(path.read_text()):
                    if os.path.exists(tmp):
                        os.replace(tmp, target)
            with contextlib.suppress(OSError):
                path.unlink()
    for path, match in leftovers:
        if path.suffix in (".tmp", ".bak") and path.exists() and _owner_gone(match, path):
            with contextlib.suppress(OSError):
                path.unlink()


def create_temporary(target: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """Create a new, uniquely named temporary file beside ``target``: ``(fd, path)``, named
    ``.<target name>.<host>-<pid>-<token><suffix>``.

    ``os.open`` with ``O_EXCL`` and mode :data:`_FILE_MODE`, so the umask applies as for any
    new file, without reading (and so toggling) the process's umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(target.parent, f".{target.name}.{_owner()}-{secrets.token_hex(5)}{suffix}")
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

    The targets are checked first (:func:`check_targets`), and what killed runs left beside
    them is finished or removed (:func:`clean_leftovers`).  Yields a dict of temporary paths
    (same folders as ``targets``) to write into; on normal exit every staged file replaces its
    target, on an exception all staged files are removed and no target changes.  Should a
    replacement fail midway, the targets already replaced get their previous contents back.
    Before the renames a journal listing them is written; a process killed (SIGKILL) between
    two renames leaves it, and the next write of the same targets completes the renames, so
    the targets are never left a mix of old and new files.

    Raises
    ------
    OSError
        For a target that cannot be written (nothing is written then).
    """
    targets = {key: Path(target) for key, target in targets.items()}
    check_targets(targets)
    for folder in {t.parent for t in targets.values()}:
        clean_leftovers(folder, {t.name for t in targets.values() if t.parent == folder})
    tmp_paths: dict[str, Path] = {}
    backups: dict[str, Path | None] = {}
    journal: Path | None = None
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
        journal = _journal(targets, tmp_paths)
        for key, target in targets.items():
            tmp = tmp_paths[key]
            os.replace(tmp, target)
            replaced.append(key)
            del tmp_paths[key]
            pending_files.discard(tmp)
        _drop(journal)
    except BaseException:
        _drop(journal)
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


def _journal(targets: Mapping[str, Path], tmp_paths: Mapping[str, Path]) -> Path:
    """Write (and flush to disk) the list of renames about to be done, beside the first target."""
    first = next(iter(targets.values()))
    fd, path = create_temporary(first, suffix=".publish")
    pending_files.add(Path(path))
    pairs = [[os.path.abspath(tmp_paths[k]), os.path.abspath(t)] for k, t in targets.items()]
    with os.fdopen(fd, "w") as fh:
        json.dump(pairs, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def _drop(journal: Path | None) -> None:
    if journal is not None:
        pending_files.discard(journal)
        with contextlib.suppress(OSError):
            journal.unlink()


def _remove(tmp_paths: Mapping[str, Path], backups: Mapping[str, Path | None]) -> None:
    for tmp in [*tmp_paths.values(), *(b for b in backups.values() if b is not None)]:
        pending_files.discard(tmp)
        with contextlib.suppress(OSError):
            tmp.unlink()


def _backup(target: Path) -> Path | None:
    """A hard link to ``target``'s current contents (for a roll-back), or ``None``."""
    if not target.exists():
        return None
    backup = target.parent / f".{target.name}.{_owner()}-{secrets.token_hex(5)}.bak"
    try:
        os.link(target, backup)
    except OSError:
        return None
    pending_files.add(backup)
    return backup
