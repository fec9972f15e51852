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

_FLOAT = 8
_DEFAULTS = {"n": 1000, "k": 1000, "m": 1000, "test_factor": 5, "components": 2, "spikes": 1,
             "points": 100, "activations": 1, "models": 1}  # fmt: skip
"""Modest sizes a too-large parameter is compared against to find the one to blame."""


class MemoryLimitError(ValueError):
    """A size whose memory estimate exceeds the available memory.

    Attributes
    ----------
    parameter : str
        The size that contributes most to the estimate (``"n"``, ``"k"``, ``"test_factor"``, ...).
    value : int
        Its value.
    needed : int
        The estimate, in bytes.
    available : int
        The available memory, in bytes.
    """

    def __init__(self, what: str, parameter: str, value: int, needed: int, available: int):
        self.what, self.parameter, self.value = what, parameter, value
        self.needed, self.available = needed, available
        super().__init__(self.describe(f"{parameter} = {value}"))

    def describe(self, name: str) -> str:
        """The one-line message with the parameter spelled as ``name`` (e.g. a CLI option)."""
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


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


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
    found = [v for v in (_meminfo_available(), _cgroup_limit()) if v is not None]
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            found.append(1 << 62)
    if os.environ.get("ONESTEP_MEMORY_LIMIT"):
        found.append(_parse_size(os.environ["ONESTEP_MEMORY_LIMIT"]))
    return min(found)


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
) -> int:
    r"""Lower bound on the peak memory of one simulated trial, in bytes.

    Counts the :math:`(2 + t)\,m\times n` samples, :math:`F`, one :math:`\hat F` and one
    gradient (:math:`3kn`), the gradient's pre-activations and the features
    (:math:`(1+\text{models})\,km`), one Gram matrix (:math:`\min(k,m)^2`), the mixture's
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

    Returns
    -------
    int
    """
    del activations  # one activation's layers are alive at a time in the lower bound
    total = (2 + test_factor) * m * n * sample_bytes
    total += _FLOAT * (3 * k * n + (1 + max(models, 1)) * k * m + min(k, m) ** 2)
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
    available = available_memory() if available is None else available
    if needed <= available:
        return needed
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
    raise MemoryLimitError(what, blame, sizes[blame], needed, available)


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
        "n": int(data.n), "k": int(config.k), "m": int(config.m), "test_factor": int(config.test_factor),
        "components": int(data.components), "spikes": int(data.max_spikes),
        "models": sum(mdl != "theory" for mdl in config.models),
        # the theory model and the exact test error (the default for mixtures) need Omega, k x k
        "theory": "theory" in config.models
        or (getattr(config, "test", None) or ("exact" if data.has_population_law else "sampled")) == "exact",
        "sample_bytes": 4 if config.dtype == "float32" else _FLOAT,
    }  # fmt: skip
    return check_memory(trial_bytes, sizes, what="one trial", available=available)
