"""Atomic file writes: the package's one writer (results, figures, the coefficient cache).

The text goes to a uniquely named temporary file in the target's folder, which then replaces
the target (``os.replace``): concurrent writers never collide, and a reader sees either the old
or the new file, never a partial one.  Files get the permissions ``open(path, "w")`` would give
them (``mkstemp`` alone gives 0600).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path

pending_files: set[Path] = set()
"""Temporary files being written now (by :func:`write_atomic` and multi-file writers that
register theirs); :func:`discard_pending` removes them on an interrupt."""


@functools.cache
def file_mode() -> int:
    """``0o666`` less the process's umask, read from ``/proc/self/status`` where Linux gives it
    (setting the umask to read it would change it, for a moment, for every thread)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: the only portable way to read it, restored at once
    os.umask(mask)
    return 0o666 & ~mask


def discard_pending() -> None:
    """Remove every temporary file of a write in progress (the CLI's Ctrl-C handler calls it
    just before leaving, so an interrupt leaves no temporary file behind; targets are untouched)."""
    for tmp in list(pending_files):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    pending_files.clear()


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically (unique temporary name, then ``os.replace``).

    Parameters
    ----------
    path : str or Path
        The target; its folder is created.
    content : str or bytes
        Text (written as UTF-8) or bytes.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        When the folder cannot be created or written; no temporary file is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    pending_files.add(Path(tmp))
    try:
        os.fchmod(fd, file_mode())
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
