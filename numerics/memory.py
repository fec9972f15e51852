r"""Memory estimates: refuse a size that cannot fit before any work starts.

The estimates are *lower bounds* on the peak: they count only arrays that must exist at the
same time (the samples of one trial, the first layer and one trained layer with its gradient,
the readout features and their Gram matrix, the theory's :math:`k\times k` moments, a curve's
grid), so a refused size certainly does not fit, while a size that passes may still be slow.
They are compared with the memory the operating system reports as available
(:func:`available_memory`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from onestep_gm.numerics.validation import is_int

_FLOAT = 8
_DEFAULTS = {"n": 1000, "k": 1000, "m": 1000, "m_step": 1000, "test_factor": 5, "components": 2, "spikes": 1,
             "points": 100, "activations": 1, "models": 1}  # fmt: skip
"""Modest sizes a too-large parameter is compared against to find the one to blame."""


class MemoryLimitError(ValueError):
    """A size whose memory estimate exceeds the available memory.

    Attributes
    ----------
    parameter : str or None
        The size that contributes most to the estimate (``"n"``, ``"k"``, ``"test_factor"``, ...);
        ``None`` when even modest sizes do not fit (the limit itself is named then).
    value : int or None
        Its value.
    source : str or None
        Where the limit comes from (``"ONESTEP_MEMORY_LIMIT=1K"``, a cgroup file).
    needed : int
        The estimate, in bytes.
    available : int
        The available memory, in bytes.
    """

    def __init__(self, what: str, parameter: str | None, value: int | None, needed: int, available: int,
                 source: str | None = None):  # fmt: skip
        self.what, self.parameter, self.value = what, parameter, value
        self.needed, self.available, self.source = needed, available, source
        super().__init__(self.describe(f"{parameter} = {value}"))

    def describe(self, name: str) -> str:
        """The one-line message with the parameter spelled as ``name`` (e.g. a CLI option);
        when no parameter is to blame (even modest sizes do not fit), it names the limit."""
        if self.parameter is None:
            return (f"{self.what} needs at least {format_bytes(self.needed)} of memory, more than the "
                    f"{format_bytes(self.available)} allowed by {self.source or 'the memory limit'}; "
                    "raise the limit")  # fmt: skip
        return (
            f"{name} is too large: {self.what} needs at least {format_bytes(self.needed)} of "
            f"memory, more than the {format_bytes(self.available)} available"
        )


def format_bytes(count: float) -> str:
    """``1.5e10`` → ``"15 GB"`` (decimal units, two significant digits at least).

    Parameters
    ----------
    count : float
        A number of bytes.

    Returns
    -------
    str
    """
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(count) < 1000 or unit == "EB":
            return f"{count:.3g} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _meminfo_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) < 1 << 60 else None  # "max" or a huge v1 value: none


def cgroup_limits(proc_cgroup: str | None = None, root: str | Path = "/sys/fs/cgroup") -> list[tuple[int, Path]]:
    """The memory limits of this process's own cgroup and of its ancestors: ``(bytes, file)``.

    Reads ``/proc/self/cgroup`` (or ``proc_cgroup``, its text): the unified hierarchy
    (cgroup v2, line ``0::/path``) gives ``<root>/<path>/memory.max``; the v1 memory controller
    (line ``N:memory:/path``, possibly with other controllers) gives
    ``<root>/memory/<path>/memory.limit_in_bytes``.  Every ancestor up to the mount's root is
    read too (a limit on a parent applies to its children), and the mount's root itself, which
    is the process's own cgroup inside a container whose namespace hides the path.

    Returns
    -------
    list of (int, Path)
        Each limit found (none for ``max`` or an unlimited v1 value).
    """
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            proc_cgroup = ""
    root = Path(root)
    candidates: list[Path] = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        folder = base / rel.strip().lstrip("/")
        for level in (folder, *folder.parents):
            candidates.append(level / name)
            if level == base:
                break
        candidates.append(base / name)
    if not candidates:  # no /proc/self/cgroup: the mount's root files, as before
        candidates = [root / "memory.max", root / "memory" / "memory.limit_in_bytes"]
    found = []
    for path in dict.fromkeys(candidates):
        limit = _read_limit(path)
        if limit is not None:
            found.append((limit, path))
    return found


def _cgroup_limit() -> tuple[int, str] | None:
    found = cgroup_limits()
    if not found:
        return None
    limit, path = min(found)
    return limit, f"the cgroup memory limit ({path})"


def _parse_size(text: str) -> int:
    units = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    text = text.strip().upper().removesuffix("B")
    suffix = text[-1:] if text[-1:] in units and text[-1:] else ""
    try:
        value = float(text[: len(text) - len(suffix)]) * units[suffix]
    except ValueError:
        raise ValueError(f"ONESTEP_MEMORY_LIMIT={text!r} is not a size such as 8G") from None
    if not value > 0:
        raise ValueError(f"ONESTEP_MEMORY_LIMIT={text!r} must be positive")
    return int(value)


def available_memory() -> int:
    """Bytes of memory this process may still use.

    The smallest of: ``MemAvailable`` of ``/proc/meminfo`` (else the free physical pages of
    ``os.sysconf``), the cgroup's memory limit, and ``$ONESTEP_MEMORY_LIMIT`` (e.g. ``8G``)
    when set.

    Returns
    -------
    int
        Bytes; a very large number when nothing can be found out.

    Raises
    ------
    ValueError
        When ``$ONESTEP_MEMORY_LIMIT`` is not a positive size.
    """
    return memory_limit()[0]


def memory_limit() -> tuple[int, str]:
    """:func:`available_memory` and where the bound comes from, for messages:
    ``(bytes, "ONESTEP_MEMORY_LIMIT=1K")``, ``(bytes, "the cgroup memory limit (<file>)")`` or
    ``(bytes, "the available memory (MemAvailable)")``."""
    found: list[tuple[int, str]] = []
    meminfo = _meminfo_available()
    if meminfo is not None:
        found.append((meminfo, "the available memory (MemAvailable)"))
    cgroup = _cgroup_limit()
    if cgroup is not None:
        found.append(cgroup)
    if not found:
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "the free physical memory"))
        except (ValueError, OSError, AttributeError):
            found.append((1 << 62, "no known limit"))
    if os.environ.get("ONESTEP_MEMORY_LIMIT"):
        text = os.environ["ONESTEP_MEMORY_LIMIT"]
        found.append((_parse_size(text), f"ONESTEP_MEMORY_LIMIT={text}"))
    return min(found, key=lambda item: item[0])


def trial_bytes(
    *,
    n: int,
    k: int,
    m: int,
    test_factor: int = 5,
    components: int = 2,
    spikes: int = 1,
    activations: int = 1,
    models: int = 1,
    theory: bool = False,
    sample_bytes: int = _FLOAT,
    m_step: int | None = None,
) -> int:
    r"""Lower bound on the peak memory of one simulated trial, in bytes.

    Counts the :math:`(\tilde m + (1 + t)\,m)\times n` samples, :math:`F`, one :math:`\hat F` and one
    gradient (:math:`3kn`), the gradient's pre-activations (:math:`k\tilde m`) and the features
    (:math:`\text{models}\cdot km`), one Gram matrix (:math:`\min(k,m)^2`), the mixture's
    directions (:math:`C(d+1)n`), and with ``theory`` three :math:`k\times k` matrices.

    Parameters
    ----------
    n : int
        Input dimension.
    k : int
        Hidden neurons.
    m : int
        Samples per batch.
    test_factor : int
        Test samples per ``m``.
    components : int
        Mixture components.
    spikes : int
        Spikes per component.
    activations : int
        How many activations share the trial.
    models : int
        How many simulated models share the trial (one feature matrix per model is alive at a
        time).
    theory : bool
        Whether the theory curve (the population moments :math:`\Omega`) is evaluated.
    sample_bytes : int
        Bytes per sample entry (4 for ``dtype="float32"``).
    m_step : int or None
        Samples :math:`\tilde m` of the gradient batch (``None``: ``m``).

    Returns
    -------
    int
    """
    del activations  # one activation's layers are alive at a time in the lower bound
    m_step = m if m_step is None else m_step
    total = (m_step + (1 + test_factor) * m) * n * sample_bytes
    total += _FLOAT * (3 * k * n + k * m_step + max(models, 1) * k * m + min(k, m) ** 2)
    total += _FLOAT * components * (spikes + 1) * n
    if theory:
        total += _FLOAT * 3 * k * k
    return int(total)


def curve_bytes(*, n: int, k: int, m: int, points: int, test_factor: int = 5) -> int:
    r"""Lower bound on the peak memory of a learning curve with ``points`` values, in bytes.

    One trained layer (:func:`trial_bytes` of the network), its moments
    (:math:`3k^2`) and the curve's values broadcast against the spectrum (:math:`P(k+1)`).

    Parameters
    ----------
    n : int
        Input dimension of the trained layer.
    k : int
        Hidden neurons of the trained layer (the largest width of the curve).
    m : int
        Samples per batch.
    points : int
        Points on the curve.
    test_factor : int
        Test samples per ``m`` drawn with the trained layer's trial.

    Returns
    -------
    int
    """
    layer = trial_bytes(n=n, k=k, m=m, test_factor=test_factor, theory=True)
    return int(layer + _FLOAT * points * (k + 1))


def check_memory(
    estimate: Callable[..., int],
    sizes: Mapping[str, int],
    *,
    what: str = "this run",
    available: int | None = None,
) -> int:
    """Raise :class:`MemoryLimitError` when ``estimate(**sizes)`` exceeds the available memory.

    The parameter blamed is the one whose reduction to a modest default (n, k, m = 1000,
    test_factor = 5, components = 2, points = 100, ...) lowers the estimate the most.

    Parameters
    ----------
    estimate : callable
        :func:`trial_bytes`, :func:`curve_bytes` or any function of keyword sizes.
    sizes : mapping
        Its keyword arguments.
    what : str
        What needs the memory, for the message (``"one trial"``).
    available : int, optional
        Bytes available; default :func:`available_memory`.

    Returns
    -------
    int
        The estimate, in bytes, when it fits.

    Raises
    ------
    MemoryLimitError
        (a ``ValueError``) when it does not fit.
    """
    needed = estimate(**sizes)
    source = None
    if available is None:
        available, source = memory_limit()
    if needed <= available:
        return needed
    modest = {name: min(value, _DEFAULTS[name]) if name in _DEFAULTS and is_int(value) else value
              for name, value in sizes.items()}  # fmt: skip
    if estimate(**modest) > available:  # even modest sizes do not fit: the limit is to blame
        raise MemoryLimitError(what, None, None, needed, available, source)
    blame, lowest = None, needed
    for name, value in sizes.items():
        default = _DEFAULTS.get(name)
        if default is None or not isinstance(value, int) or value <= default:
            continue
        reduced = estimate(**{**sizes, name: default})
        if blame is None or reduced < lowest:
            blame, lowest = name, reduced
    if blame is None:
        blame = max((n for n in sizes if isinstance(sizes[n], int) and not isinstance(sizes[n], bool)),
                    key=lambda n: sizes[n])  # fmt: skip
    raise MemoryLimitError(what, blame, sizes[blame], needed, available, source)


def check_simulation_memory(config, *, available: int | None = None) -> int:
    """Refuse a :class:`~onestep_gm.SimulationConfig` whose trial cannot fit in memory.

    Parameters
    ----------
    config : SimulationConfig
        The point.
    available : int, optional
        Bytes available; default :func:`available_memory`.

    Returns
    -------
    int
        The estimate (:func:`trial_bytes`), in bytes.

    Raises
    ------
    MemoryLimitError
        (a ``ValueError``) naming the size to blame, the estimate and the available memory.
    """
    data = config.data
    sizes = {
        "n": int(data.n), "k": int(config.k), "m": int(config.m),
        "m_step": int(config.m_step or config.m), "test_factor": int(config.test_factor),
        "components": int(data.components), "spikes": int(data.max_spikes),
        "models": sum(mdl not in ("theory", "limit") for mdl in config.models),  # simulated ones
        # the theory model and the exact test error (the default for mixtures) need Omega, k x k
        "theory": "theory" in config.models
        or (getattr(config, "test", None) or ("exact" if data.has_population_law else "sampled")) == "exact",
        "sample_bytes": 4 if config.dtype == "float32" else _FLOAT,
    }  # fmt: skip
    return check_memory(trial_bytes, sizes, what="one trial", available=available)
