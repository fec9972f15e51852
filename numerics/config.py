r"""One simulated point's configuration: :class:`SimulationConfig`, its validation and resolution.

:func:`validate` refuses an unusable configuration with one sentence (before any allocation);
:func:`resolve` derives what the trials need (θ, η, the Hermite order, the activations' names,
how the test error is measured); :func:`trial_shape` gives the static shape one compiled trial
serves.  The data spec answers every question about the data (:mod:`onestep_gm.numerics.data`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from onestep_gm.numerics.data import DataSpec
from onestep_gm.numerics.memory import check_simulation_memory
from onestep_gm.numerics.mixture import MixtureSpec
from onestep_gm.numerics.models import EXACT_MODELS, FEATURE_MODELS, check_models, model_row
from onestep_gm.numerics.network import check_init
from onestep_gm.numerics.trial import TESTS, TrialShape, hermite_slots
from onestep_gm.numerics.validation import (
    MAX_TRIALS,
    FieldTypeError,
    check_choice,
    check_int,
    check_real,
    require,
)
from onestep_gm.theory.activations import get_activation, require_finite_moments
from onestep_gm.theory.order import hermite_order, scalings, simulation_order

PROTOCOLS = ("fresh", "paper")
_SQUARE_MAX = 1e150
"""Largest eta whose square (in the Gram matrix) stays finite."""
NOISE_MAX = 1e75
"""Largest label noise: the errors grow as its square and their spread over trials (a variance)
as its fourth power, which must stay below float64's 1.8e308."""


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
        Samples of the gradient batch (unless ``m_step`` is given) and of the readout batch.
    lam : float
        Ridge penalty :math:`\\lambda \\ge 0`.
    activations : tuple of str
        Registry names or expressions in ``x``.
    models : tuple of str
        Any of ``"nn"``, ``"hermite"``, ``"conditional"``, ``"theory"``, ``"limit"`` (the
        sampling-free theory: one deterministic value per point, the isotropic-corner limit or the
        finite-size mixture theory, :func:`onestep_gm.numerics.limit.limit_applies`).
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
        Learning rate of :math:`\\hat F = F + \\eta G`; ``None`` is :math:`\\eta = n^{\\beta\\alpha}`.
        (Cui et al. 2024's step :math:`\\tilde\\eta p` is ``eta = eta_tilde * k``.)
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
    readout_init : {"gaussian", "constant"}
        The readout at initialisation: :math:`w_i\\sim\\mathcal N(0, 1/k)` (the paper) or
        :math:`w_i = 1/\\sqrt k` (Cui et al., ICML 2024)
        (:data:`~onestep_gm.numerics.network.READOUT_INITS`).
    first_layer : {"gaussian", "unit-rows"}
        The first layer at initialisation: rows :math:`\\mathcal N(0, I_n/\\tau)` (the paper) or
        uniform on the unit sphere (Cui et al.) (:data:`~onestep_gm.numerics.network.FIRST_LAYERS`).
        The Hermite model's bulk scale follows it: :math:`b^2 = n/\\tau`, or :math:`b = 1`.
    m_step : int or None
        Samples :math:`\\tilde m` of the gradient batch; ``None`` is ``m``.  ``m`` stays the
        readout batch's size.
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
    readout_init: str = "gaussian"
    first_layer: str = "gaussian"
    m_step: int | None = None


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
    """Raise one exception naming the field for any unusable parameter, including sizes
    whose trial cannot fit in the available memory (:func:`~onestep_gm.numerics.memory.check_simulation_memory`).

    Raises
    ------
    FieldTypeError
        (a ``TypeError``) for a value of the wrong type: ``k=True``, ``k=20.5``, ``k='20'``.
    FieldValueError
        (a ``ValueError``) for a value out of range, not finite, or a data field the data
        source refuses (its ``validate()``).
    """
    if not callable(getattr(config.data, "realise", None)):
        raise FieldTypeError("data", f"data must be a data spec such as MixtureSpec (got {config.data!r})")
    check_int("k", config.k, 1)
    check_int("m", config.m, 1)
    check_real("lam", config.lam, 0)
    check_int("trials", config.trials, 1, MAX_TRIALS)
    check_int("test_factor", config.test_factor, 1)
    check_int("conditional_rank", config.conditional_rank, 0)
    check_int("theory_trials", config.theory_trials, 1)
    check_int("seed", config.seed)
    require(0 <= config.seed <= 2**32 - 1, f"seed must be an integer in 0 .. 2**32 - 1 (got {config.seed!r})", "seed")
    if config.order is not None:
        check_int("order", config.order, 1, 40)
    if config.eta is not None:  # eta <= 0 is no gradient step, or one uphill
        check_real("eta", config.eta, 0, lo_open=True)
        require(config.eta <= _SQUARE_MAX, f"eta = {config.eta:g} would overflow float64: the features of "
                "F + eta*G are squared in the ridge solve (use eta <= 1e150)", "eta")  # fmt: skip
    for name in ("activations", "models"):
        value = getattr(config, name)
        if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
            raise FieldTypeError(name, f"{name} must be a tuple of strings (got {value!r})")
    require(bool(config.activations), "activations: at least one activation is needed", "activations")
    check_choice("dtype", config.dtype, ("float32", "float64"))
    require(config.test in (None, *TESTS), f"test must be exact or sampled (got {config.test!r})", "test")
    check_choice("protocol", config.protocol, PROTOCOLS)
    config.data.validate()
    require(float(config.data.noise) <= NOISE_MAX,
            f"noise = {config.data.noise:g} would overflow float64: the errors grow as noise**2 and their "
            f"spread over trials as noise**4 (use noise <= {NOISE_MAX:g})", "noise")  # fmt: skip
    require(config.test != "exact" or config.data.has_population_law,
            f"test='exact' needs a Gaussian mixture: {config.data.title} have no population law", "test")  # fmt: skip
    if config.m_step is not None:
        check_int("m_step", config.m_step, 1)
    check_init(config.first_layer, config.readout_init)
    check_models(config.models)
    for mdl in config.models:  # a predictor that covers only some configurations refuses the rest here
        check = getattr(model_row(mdl), "check", None)
        if check is not None:
            check(config)
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
    if spec.has_population_law and spec.max_spikes == 0:
        notes.append("no spikes (isotropic components): theta is not used; "
                     + ("eta is given" if config.eta is not None else f"beta and alpha set only eta = n^(beta*alpha) = {eta:.6g}"))
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
        balanced=config.protocol == "paper", first_layer=config.first_layer,
        readout_init=config.readout_init, m_step=step_batch(config),
    )  # fmt: skip


def step_batch(config: SimulationConfig) -> int | None:
    """``config.m_step``, or ``None`` when it equals ``m`` (one compiled trial serves both)."""
    return None if config.m_step in (None, config.m) else int(config.m_step)


