"""Spectral terms built from the concept embeddings E (spec 2.3.3, 2.3.4 and 3).

With the thin SVD ``E^T = U diag(sigma) V^T`` (U: [d, k], k = min(d, m)), the gate
``g_k = sigmoid((sigma_k - median(sigma)) / (T_sigma + 1e-8)) ** p_sigma`` (lower median,
as ``torch.median``) is ~1 for directions above the median and ~0 below. It gives:

* the spectral regulariser (``--enable_ased``) ``R = mu * U diag(1 - g) U^T``;
* the SSA-SVD residual projector (``erase.py --svd``) ``P = I - U diag(g) U^T``;
* the concept projector ``Pi_E = E^T (E E^T + 1e-8 I)^-1 E = U diag(sigma^2 / (sigma^2 + 1e-8)) U^T``.

Singular directions with sigma ~ 0 (duplicate concepts) are dropped from U: there the SVD's
basis is arbitrary, so keeping them would make R depend on the LAPACK build. They still count
in the median, as in the authors' code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

EPS = 1e-8


def lower_median(x: Tensor) -> Tensor:
    """``torch.median`` semantics: the lower of the two middle values for an even count."""
    return x.sort().values[(x.numel() - 1) // 2]


@dataclass
class ConceptSpectrum:
    """U [d, r] and sigma [r] of E's nonzero singular directions, with the gate of each."""

    U: Tensor
    sigma: Tensor
    gate: Tensor

    @classmethod
    def of(cls, E: Tensor, T_sigma: float, p_sigma: float) -> ConceptSpectrum:
        """Spectrum of the concept matrix ``E [m, d]`` (computed in float64)."""
        U, sigma, _ = torch.linalg.svd(E.T.double(), full_matrices=False)
        gate = torch.sigmoid((sigma - lower_median(sigma)) / (T_sigma + EPS)).pow(p_sigma)
        keep = sigma > sigma.max() * max(E.shape) * torch.finfo(torch.float64).eps
        return cls(U[:, keep], sigma[keep], gate[keep])

    def regulariser_factor(self) -> Tensor:
        """F with ``R / mu = F F^T`` (columns ``u_k sqrt(1 - g_k)``)."""
        return self.U * (1 - self.gate).sqrt()

    def projector_factor(self) -> Tensor:
        """F with ``Pi_E = F F^T`` (columns ``u_k sigma_k / sqrt(sigma_k^2 + 1e-8)``)."""
        return self.U * (self.sigma / (self.sigma**2 + EPS).sqrt())

    def residual(self, E: Tensor) -> Tensor:
        """Rows ``P e_j`` of the SSA-SVD residual, ``P = I - U diag(g) U^T``: [m, d]."""
        E = E.double()
        return E - ((E @ self.U) * self.gate) @ self.U.T
