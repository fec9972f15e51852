r"""Data sources behind one protocol: a spec, realised into a pytree, sampled by a pure function.

Every data source follows the path of :mod:`onestep_gm.numerics.mixture`: a frozen spec
(validated on the host) :meth:`~DataSpec.realise`\ s into a pytree of arrays
(:class:`RealisedData`), whose :meth:`~RealisedData.sample` is pure and jitted, and whose
:attr:`~RealisedData.surrogate` is the Gaussian mixture with the same first two moments per
component (what the theory, the exact test errors and the conditional model use).

The sources: :class:`~onestep_gm.numerics.mixture.MixtureSpec` (the paper's Gaussian mixtures),
:class:`~onestep_gm.numerics.arrays.ArraySpec` (your own labelled arrays, from an ``.npz`` file
or Python), :class:`~onestep_gm.numerics.datasets.TorchvisionSpec` (MNIST, KMNIST,
Fashion-MNIST, CIFAR-10 from a local torchvision root) and
:class:`~onestep_gm.numerics.fashion.FashionSpec` (two Fashion-MNIST classes; the real-data
sources share one preprocessing, :func:`~onestep_gm.numerics.arrays.class_pools`).  No module
outside them asks which kind it holds: it asks the spec.  Adding a source: write a spec and a
realised pytree with the members below, and add the spec to :data:`DATA_SOURCES` (its key is
the spec's :attr:`~DataSpec.kind`, the tag in saved results and sweep specs).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
from onestep_gm.numerics.arrays import ArraySpec
from onestep_gm.numerics.datasets import TorchvisionSpec
from onestep_gm.numerics.fashion import FashionSpec
from onestep_gm.numerics.mixture import Mixture, MixtureSpec

Array = jax.Array


@runtime_checkable
class RealisedData(Protocol):
    """A realised data source: a JAX pytree (it crosses ``jit`` boundaries as an argument)."""

    @property
    def surrogate(self) -> Mixture:
        """The Gaussian mixture with the data's per-component means and covariances."""

    def sample(self, key: Array, m: int, dtype=None, components: Array | None = None) -> tuple[Array, Array, Array]:
        """``m`` samples ``(X (m, n), y (m,), c (m,) int32)``; ``components`` fixes the
        samples' components instead of drawing them.  Pure; jitted with ``m`` static."""

    def check_draws(self, draws: int) -> None:
        """Raise ``ValueError`` when one trial's ``draws`` samples cannot be drawn (on the host)."""


@runtime_checkable
class DataSpec(Protocol):
    """What a data spec provides (a frozen dataclass; its fields are the source's parameters).

    Attributes
    ----------
    kind : str
        The tag in saved results and sweep specs (``"mixture"``, ``"fashion"``, ``"arrays"``,
        ``"torchvision"``).
    title : str
        What the data are, in messages (``"Fashion-MNIST images"``).
    has_population_law : bool
        Whether the surrogate *is* the data's law: exact test errors and theory curves apply.
    n : int
        Input dimension.
    beta : float
        Strength :math:`\\beta \\in [0, 1]`.
    alpha : float
        Weight :math:`\\alpha \\in [0, 1]`.
    noise : float
        Label noise :math:`\\delta` (its square enters the errors).
    components : int
        Number of components (classes).
    max_spikes : int
        The largest number of spikes of a component (sizes the memory estimate).
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    has_population_law: ClassVar[bool]
    beta: float
    alpha: float

    @property
    def n(self) -> int: ...

    @property
    def noise(self) -> float: ...

    @property
    def components(self) -> int: ...

    @property
    def max_spikes(self) -> int: ...

    def spike_size(self) -> float:
        r"""The spike size :math:`\theta` (default :math:`n^{\beta(1-\alpha)}`)."""

    def fixed_scales(self) -> tuple[float, float] | None:
        r"""``(tau, b)`` when the source fixes them, ``None`` when they follow from each
        realised surrogate's trace (:math:`\tau = \operatorname{tr}\bar\Sigma`, :math:`b^2 = n/\tau`)."""

    def realise(self, key: Array | int) -> RealisedData:
        """The realised pytree for one trial (``key``: its random draws, e.g. spikes and teacher)."""

    def preload(self) -> None:
        """Read and check whatever the source reads from disk, before any work starts (so a
        missing or corrupt file is one line, not a failure after a progress bar); no-op for
        sources that read nothing."""

    def validate(self) -> None:
        """Check every field (types, ranges) without reading or drawing anything; raise a
        ``ValueError``/``TypeError`` subclass naming the field
        (:mod:`onestep_gm.numerics.validation`).  The configuration calls it first."""


DATA_SOURCES: dict[str, type] = {spec.kind: spec for spec in (MixtureSpec, FashionSpec, ArraySpec, TorchvisionSpec)}
"""Every data spec by its :attr:`DataSpec.kind`."""


def has_field(spec: DataSpec, name: str) -> bool:
    """Whether the data spec has the parameter ``name`` (e.g. ``"n"``, ``"weights"``,
    ``"data_dir"``): what a figure variable or override may set on it."""
    return any(f.name == name for f in dataclasses.fields(spec))


def spec_from_fields(kind: str, fields: dict[str, Any]) -> DataSpec:
    """The data spec of ``kind`` with ``fields`` (saved results, sweep specs).

    Fields of older files are mapped by the spec's ``upgrade_fields`` where it has one
    (:meth:`~onestep_gm.numerics.mixture.MixtureSpec.upgrade_fields`: the old ``teacher``
    direction).

    Raises
    ------
    ValueError
        For an unknown kind, or fields the spec does not have.
    """
    if kind not in DATA_SOURCES:
        raise ValueError(f"unknown data kind {kind!r} (expected one of {', '.join(map(repr, DATA_SOURCES))})")
    spec_cls = DATA_SOURCES[kind]
    upgrade = getattr(spec_cls, "upgrade_fields", None)  # renamed fields of older files
    try:
        return spec_cls(**(upgrade(fields) if upgrade is not None else fields))
    except TypeError as exc:
        raise ValueError(f"not a {kind} data spec: {exc}") from None
