"""The row-wise Bures proximal step of the released code (spec 2.5; ``bures_prox_row``).

For a solved row a_i, the original row w0_i, ``lam_p = lam + mu`` and radii ``r_a = |a_i|``,
``r_0 = |w0_i|``: starting from ``u = a_i / r_a``, repeat ``iters`` times

    kappa = max(0, <u, w0_i / r_0>)
    r     = (lam_p r_a + mu r_0 kappa) / (lam_p + mu)
    u     = normalize(lam_p a_i + mu kappa w0_i)

and return ``r u``. For rank-one covariances the Bures distance is
``d_B(a a^T, w0 w0^T)^2 = |a|^2 + |w0|^2 - 2 |<a, w0>|``; this step moves the norm and the
direction of a_i towards w0_i with weight ``mu / (lam_p + mu)``, damped by the cosine kappa.
So ``r`` lies between ``lam_p r_a / (lam_p + mu)`` and ``(lam_p r_a + mu r_0) / (lam_p + mu)``,
and with mu = 0 the row is unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-8


def bures_prox(w0: Tensor, a: Tensor, mu: float, lam_p: float, iters: int) -> Tensor:
    """Apply the step to every row of ``a [n, d]`` against ``w0 [n, d]``."""
    r_a = a.norm(dim=1, keepdim=True).clamp_min(EPS)
    r_0 = w0.norm(dim=1, keepdim=True).clamp_min(EPS)
    u_a, u_0 = a / r_a, w0 / r_0
    u = u_a
    for _ in range(max(1, iters)):
        kappa = (u * u_0).sum(dim=1, keepdim=True).clamp_min(0.0)
        r = (lam_p * r_a + mu * r_0 * kappa) / (lam_p + mu)
        direction = lam_p * r_a * u_a + mu * r_0 * kappa * u_0
        u = direction / direction.norm(dim=1, keepdim=True).clamp_min(EPS)
    return r * u
