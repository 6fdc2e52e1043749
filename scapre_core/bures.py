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

Every u stays in span{a_i, w0_i}, so the step is ``r u = p_i a_i + q_i w0_i`` with two scalars per row, found from
the row's three inner products ``|a_i|^2``, ``|w0_i|^2`` and ``<a_i, w0_i>`` alone (``bures_coefficients``, in
float64): writing ``u = x a_i + y w0_i``, ``<u, w0_i> = x <a_i, w0_i> + y |w0_i|^2`` and
``|lam_p a_i + c w0_i|^2 = lam_p^2 |a_i|^2 + 2 lam_p c <a_i, w0_i> + c^2 |w0_i|^2``. (The released code's
``lam_p r_a u_a`` and ``mu r_0 kappa u_0`` are ``lam_p a_i`` and ``mu kappa w0_i``, the norms cancelling.) So the
step costs three row reductions and one combination of the rows, whatever ``iters``.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-8


def bures_coefficients(w0: Tensor, a: Tensor, mu: float, lam_p: float, iters: int) -> tuple[Tensor, Tensor]:
    """(p, q) [n] float64 with ``bures_prox(w0, a, ...) = p[:, None] * a + q[:, None] * w0`` (rows of ``a [n, d]``
    against those of ``w0 [n, d]``)."""
    a_sq = torch.linalg.vector_norm(a, dim=1).double() ** 2
    w0_sq = torch.linalg.vector_norm(w0, dim=1).double() ** 2
    return coefficients_of_products(a_sq, w0_sq, torch.linalg.vecdot(a, w0, dim=1).double(), mu, lam_p, iters)


def coefficients_of_products(a_sq: Tensor, w0_sq: Tensor, cross: Tensor, mu: float, lam_p: float,
                             iters: int) -> tuple[Tensor, Tensor]:
    """``bures_coefficients`` from the rows' three inner products [n] (float64): ``|a_i|^2``, ``|w0_i|^2`` and
    ``<a_i, w0_i>``, however they were formed (e.g. from an edit's factors, without forming a)."""
    a_norm, w0_norm = a_sq.clamp_min(0).sqrt(), w0_sq.clamp_min(0).sqrt()
    r_a, r_0 = a_norm.clamp_min(EPS), w0_norm.clamp_min(EPS)
    x, y = 1 / r_a, torch.zeros_like(r_a)  # u = a / r_a
    for _ in range(max(1, iters)):
        kappa = ((x * cross + y * w0_sq) / r_0).clamp_min(0.0)
        r = (lam_p * r_a + mu * r_0 * kappa) / (lam_p + mu)
        c = mu * kappa  # direction = lam_p a + c w0
        length = (lam_p**2 * a_sq + 2 * lam_p * c * cross + c**2 * w0_sq).clamp_min(0).sqrt().clamp_min(EPS)
        x, y = lam_p / length, c / length
    return r * x, r * y


def bures_prox(w0: Tensor, a: Tensor, mu: float, lam_p: float, iters: int) -> Tensor:
    """Apply the step to every row of ``a [n, d]`` against ``w0 [n, d]``."""
    p, q = bures_coefficients(w0, a, mu, lam_p, iters)
    return p[:, None].to(a) * a + q[:, None].to(a) * w0
