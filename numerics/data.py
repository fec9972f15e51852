"""Data: Gaussian mixtures with spiked covariances, their labels, and Fashion-MNIST.

(Skeleton: the specs below are the agreed interface; functions are being written.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MixtureSpec:
    r"""A Gaussian mixture :math:`x \sim \sum_c \rho_c \mathcal N(\mu_c, \Sigma_c)` with labels.

    :math:`\Sigma_c = I_n + \sum_{i\le d_c} \theta_{c,i}\gamma_{c,i}\gamma_{c,i}^\top`.
    """

    n: int = 1000
    beta: float = 0.74
    alpha: float = 0.5
    weights: tuple[float, ...] = (0.5, 0.5)  # rho_c; C = len(weights)
    spikes: int | tuple[int, ...] = 1  # d_c (one int for all components)
    theta: float | None = None  # spike size; None -> n**(beta*(1-alpha))
    spike_sizes: str = "equal"  # "equal" | "uniform" (theta_{c,i} = theta*U(0,1), Fig 2c)
    alignment: float = 0.0  # a: gamma_2 = a*gamma_1 + sqrt(1-a^2)*gamma_2'
    equal_trace: bool = True  # rescale components c >= 2 to the trace of component 1
    mean_norm: float = 0.0  # ||mu_c||; 0 -> zero means
    task: str = "regression"  # "regression" | "classification"
    teacher: str = "random"  # "random" | "spikes" (xi along gamma_{1,1} + gamma_{2,1})
    noise: float = 0.0  # delta
