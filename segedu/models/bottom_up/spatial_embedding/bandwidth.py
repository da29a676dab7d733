r"""The learned bandwidth and the Gaussian score :math:`\phi_k` of Neven et al. (CVPR 2019).

Each instance :math:`k` is a Gaussian "margin" around its centre :math:`C_k` in embedding space:

.. math:: \phi_k(e_i) = \exp\!\Big(-\frac{\lVert e_i - C_k \rVert^2}{2\sigma_k^2}\Big),

the probability that pixel :math:`i` (embedding :math:`e_i`) belongs to instance :math:`k`.
The pixel is taken when :math:`\phi_k > 0.5`, i.e. within a radius
:math:`\sigma_k \sqrt{2 \ln 2}` of the centre: the network *learns* that margin per instance,
large for large objects, small for small ones.

**Parametrisation (the authors' code).** The network's sigma channel does not hold
:math:`\sigma` itself but an unbounded value :math:`q`, and

.. math:: \frac{1}{2\sigma^2} = \exp(10\, q)  \quad (\text{the precision } s),

so ``phi = exp(-s * ||e - C||^2)``. The instance's bandwidth is the mean of :math:`q` over its
pixels, taken *before* the exponential, and the smoothness loss also acts on :math:`q`. With two
sigma channels (``n_sigma = 2``) the Gaussian is axis-aligned elliptic:
:math:`\phi = \exp(-\sum_d s_d (e_d - C_d)^2)`. The factor 10 (:data:`SIGMA_SCALE`) makes
:math:`q \approx 1` (the reference's initial bias) a bandwidth of about 5 pixels at
:data:`~.coordinates.PIXEL_SIZE`.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SIGMA_SCALE", "precision", "bandwidth", "gaussian_score"]

SIGMA_SCALE = 10.0  # s = exp(SIGMA_SCALE * q), the reference's exp(sigma * 10)


def precision(sigma: torch.Tensor) -> torch.Tensor:
    """``s = exp(10 q) = 1 / (2 sigma**2)`` from the raw sigma output ``q`` (any shape)."""
    return torch.exp(SIGMA_SCALE * sigma)


def bandwidth(sigma: torch.Tensor, *, pixel_size: float | None = None) -> torch.Tensor:
    """The bandwidth ``sigma = 1 / sqrt(2 s)`` of the raw output ``q`` (any shape).

    In coordinate units, or in pixels when ``pixel_size`` is given.
    """
    value = torch.exp(-0.5 * SIGMA_SCALE * sigma) / math.sqrt(2.0)  # sqrt(1 / (2 exp(10 q)))
    return value if pixel_size is None else value / pixel_size


def gaussian_score(embeddings: torch.Tensor, center: torch.Tensor,
                   sigma: torch.Tensor) -> torch.Tensor:
    r"""``phi = exp(-sum_d s_d (e_d - C_d)**2)`` for every embedding.

    Args:
        embeddings: ``(D, P)`` embeddings of ``P`` pixels (``D = 2``).
        center: ``(D,)`` the instance's centre :math:`C_k`.
        sigma: ``(n_sigma,)`` the instance's raw bandwidth :math:`q_k` (``n_sigma`` is 1, shared by
            the axes, or ``D``, one per axis).

    Returns:
        ``(P,)`` scores in ``[0, 1]``.
    """
    s = precision(sigma)[:, None]  # (n_sigma, 1): broadcasts over the D axes when n_sigma = 1
    squared = (embeddings - center[:, None]) ** 2  # (D, P)
    return torch.exp(-(s * squared).sum(0))  # (P,)
