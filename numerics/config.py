r"""One simulated point's configuration: :class:`SimulationConfig`, its validation and resolution.

:func:`validate` refuses an unusable configuration with one sentence (before any allocation);
:func:`resolve` derives what the trials need (θ, η, the Hermite order, the activations' names,
how the test error is measured); :func:`trial_shape` gives the static shape one compiled trial
serves.  The data spec answers every question about the data (:mod:`onestep_gm.numerics.data`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from onestep_gm.numerics.data import DataSpec
from onestep_gm.numerics.memory import check_simulation_memory
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.models import EXACT_MODELS, FEATURE_MODELS, check_models, model_row
from onestep_gm.numerics.trial import TESTS, TrialShape, hermite_slots
from onestep_gm.theory.activations import get_activation, require_finite_moments
from onestep_gm.theory.order import hermite_order, scalings, simulation_order

PROTOCOLS = ("fresh", "paper")
_SQUARE_MAX = 1e150
"""Largest eta or label noise whose squares (in the Gram matrix and the errors) stay finite."""


@dataclass(frozen=True)
class SimulationConfig:
    """One simulated point: data model, network sizes, readout, models and trials.

    Parameters
    ----------
    data : DataSpec
        The data source (:class:`MixtureSpec`, :class:`~onestep_gm.FashionSpec`, or any
        :class:`~onestep_gm.numerics.data.DataSpec`); ``n``, ``beta`` and ``alpha`` live here.
    k : int
        Hidden neurons.
    m : int
        Samples of the gradient batch and of the readout batch (each).
    lam : float
        Ridge penalty :math:`\\lambda \\ge 0`.
    activations : tuple of str
        Registry names or expressions in ``x``.
    models : tuple of str
        Any of ``"nn"``, ``"hermite"``, ``"conditional"``, ``"theory"``.
    order : int or None
        Hermite order; ``None`` is the theorem's order for ``beta`` (the higher neighbour at a
        boundary).
    trials : int
        Independent trials.
    seed : int
        The seed of the first trial: trial ``t`` uses ``fold_in(PRNGKey(seed), t)``.
    test_factor : int
        Fresh test samples per trial, in units of ``m``.
    dtype : str
        ``"float64"`` or ``"float32"`` for the large products (everything else is float64).
    eta : float or None
        Learning rate; ``None`` is :math:`\\eta = n^{\\beta\\alpha}`.
    conditional_rank : int
        Top singular directions of the gradient added to the conditional model's subspace.
    theory_trials : int
        The ``"theory"`` model is evaluated on the trained layers of the first
        ``theory_trials`` trials only.  Where the data's random quantities change from trial
        to trial (e.g. spike sizes drawn per trial), the line needs as many trials as the
        network's markers to be as precise (the paper's Fig 2c sets it to its 100 trials).
    test : {"exact", "sampled"} or None
        How the generalisation error is measured.  ``"exact"``:
        :math:`\\tfrac12(s_y - 2\\hat w^\\top u + \\hat w^\\top\\Omega\\hat w)` from the exact
        population moments given :math:`\\hat F` (:mod:`onestep_gm.numerics.exact`; network and
        Hermite model, the conditional model stays sampled); ``"sampled"``: the mean over
        ``test_factor · m`` fresh samples.  ``None`` (default): exact for data with a
        population law (Gaussian mixtures: less spread over trials at lower cost, see
        ``docs/theorem.md``), sampled otherwise (real images, e.g. Fashion-MNIST).
    protocol : str
        ``"fresh"``: every trial draws its own mixture and datasets; ``"paper"``: one mixture
        and one set of datasets per seed (trial 0's), trials redraw only the network, and each
        batch holds exactly :math:`\\rho_c` times its size of component :math:`c` (the
        authors' code, Fig 1a).
    """

    data: DataSpec = field(default_factory=MixtureSpec)
    k: int = 1000
    m: int = 1000
    lam: float = 1e-4
    activations: tuple[str, ...] = ("relu", "tanh", "sigmoid")
    models: tuple[str, ...] = ("nn", "hermite")
    order: int | None = None
    trials: int = 20
    seed: int = 0
    test_factor: int = 5
    dtype: str = "float64"
    eta: float | None = None
    conditional_rank: int = 2
    theory_trials: int = 3
    test: str | None = None
    protocol: str = "fresh"


@dataclass(frozen=True)
class Resolved:
    """Derived quantities of a point (:func:`resolve`).

    ``tau`` and ``b`` are set when the data source fixes them (Fashion-MNIST); otherwise they
    depend on the realised spike sizes and are ``None`` here (set per trial).
    """

    n: int
    beta: float
    alpha: float
    theta: float
    eta: float
    tau: float | None
    b: float | None
    order: int | None
    activations: tuple[str, ...]
    notes: tuple[str, ...]
    test: str = "sampled"


def validate(config: SimulationConfig) -> None:
    """Raise ``ValueError`` with one clear sentence for any unusable parameter, including sizes
    whose trial cannot fit in the available memory (:func:`~onestep_gm.numerics.memory.check_simulation_memory`)."""
    checks = [
        (config.k > 0 and config.m > 0, f"k and m must be positive integers (got k={config.k}, m={config.m})"),
        (config.lam >= 0 and math.isfinite(config.lam), f"lambda must be a finite number >= 0 (got {config.lam})"),
        (config.trials > 0, f"trials must be positive (got {config.trials})"),
        (config.test_factor > 0, f"test_factor must be positive (got {config.test_factor})"),
        (config.dtype in ("float32", "float64"), f"dtype must be float32 or float64 (got {config.dtype!r})"),
        (bool(config.activations), "at least one activation is needed"),
        (config.order is None or 1 <= config.order <= 40, f"order must be between 1 and 40 (got {config.order})"),
        (config.eta is None or math.isfinite(config.eta), f"eta must be finite (got {config.eta})"),
        (config.eta is None or abs(config.eta) <= _SQUARE_MAX,
         f"eta = {config.eta:g} would overflow float64: the features of F + eta*G are squared in the ridge solve (use eta <= 1e150)"
         if config.eta is not None else ""),
        (float(config.data.noise) <= _SQUARE_MAX,
         f"noise = {config.data.noise:g} would overflow float64: the labels are squared (use noise <= 1e150)"),
        (config.conditional_rank >= 0, "conditional_rank must be >= 0"),
        (config.theory_trials >= 1, "theory_trials must be >= 1"),
        (isinstance(config.seed, int) and 0 <= config.seed <= 2**32 - 1,
         f"seed must be an integer in 0 .. 2**32 - 1 (got {config.seed!r})"),
        (config.test in (None, *TESTS), f"test must be exact or sampled (got {config.test!r})"),
        (config.test != "exact" or config.data.has_population_law,
         f"test='exact' needs a Gaussian mixture: {config.data.title} have no population law"),
        (config.protocol in PROTOCOLS, f"protocol must be one of {', '.join(PROTOCOLS)} (got {config.protocol!r})"),
    ]  # fmt: skip
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    check_models(config.models)
    check_simulation_memory(config)  # before any allocation: refuse what cannot fit


def resolve(config: SimulationConfig) -> Resolved:
    """Validate ``config`` and derive θ, η, the Hermite order and the activation names.

    Raises
    ------
    ValueError
        For any unusable parameter (:func:`validate`), β or α outside [0, 1], or an unknown
        activation.
    """
    validate(config)
    spec = config.data
    notes: list[str] = []
    n = spec.n
    sc = scalings(n, spec.beta, spec.alpha)  # refuses beta or alpha outside [0, 1]
    theta = spec.spike_size()
    tau, b = spec.fixed_scales() or (None, None)
    order = config.order
    if order is None and any(model_row(mdl).needs_order for mdl in config.models):
        info = hermite_order(spec.beta)
        order = simulation_order(spec.beta)
        if info.boundary:
            msg = (
                f"beta = {spec.beta} is a boundary of the Hermite theorem (neighbours "
                f"{list(info.neighbours)}); using the higher order {order}"
            )
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
    eta = config.eta if config.eta is not None else sc.eta
    activations = tuple(get_activation(a).name for a in config.activations)
    if any(model_row(mdl).needs_moments for mdl in config.models):
        for a in activations:  # the equivalent models need E sigma(a + s g)^2 < inf at s = b <= 1
            require_finite_moments(a, 1.0, 2)
    test = config.test or ("exact" if spec.has_population_law else "sampled")
    sampled = [mdl for mdl in config.models if mdl in FEATURE_MODELS and not FEATURE_MODELS[mdl].exact_test]
    if test == "exact" and sampled:
        notes.append(f"test='exact': the {' and '.join(sampled)} model's generalisation error is sampled "
                     f"({config.test_factor}m fresh samples); {' and '.join(EXACT_MODELS)} are exact")
    return Resolved(n, spec.beta, spec.alpha, theta, eta, tau, b, order, activations, tuple(notes), test)


def trial_shape(config: SimulationConfig, resolved: Resolved, *, with_layers: bool = False) -> TrialShape:
    """The static shape of ``config``'s trials (what one compilation serves)."""
    simulated = tuple(mdl for mdl in config.models if mdl in FEATURE_MODELS)
    return TrialShape(
        n=resolved.n, k=config.k, m=config.m, test_factor=config.test_factor,
        activations=resolved.activations, models=simulated,
        order=hermite_slots(resolved.order) if any(FEATURE_MODELS[mdl].needs_order for mdl in simulated)
        else None, dtype=config.dtype,
        rank=config.conditional_rank, return_F_hat=with_layers, test=resolved.test,
        balanced=config.protocol == "paper",
    )  # fmt: skip


