"""Null-space precision (SPEED, ICLR 2026; Double Projections, CVPR 2026): leave what is preserved alone.

The preserved features are the method's preserve prompts (the ``+`` lines, and ``""`` for UCE), at all
their positions, and the preserve prior when the edit uses one. Their second moment, each source as
the mean of one prompt,

    S = (1 / P) sum_p sum_t p_t p_t^T + C_g / N        [d, d] (float64),

has eigenpairs (sigma_k, u_k), sigma_1 >= sigma_2 >= ...; the protected directions
``U = [u_1 ... u_k]`` are the fewest that hold the fraction ``energy`` of its trace,
``sum_{i <= k} sigma_i >= energy * tr S``. Every row's update is confined to their orthogonal
complement, ``delta_i U = 0``: the output ``W x`` of any input moves only through the part of x
outside span(U), and a preserved feature lying in span(U) does not move at all.

The constraint is exact: the additive methods solve each row's normal equations on the complement
(``solve.update_basis``), which is the minimiser of the same objective over ``delta_i U = 0``, and
``confine`` applies it to steps taken after the solve (ScaPre's Bures step); OCE keeps the outputs
``W0 U`` fixed and rotates only their orthogonal complement (``oce.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .prior import PreservePrior


@dataclass
class ProtectedSubspace:
    """``directions`` U [d, k] and ``allowed``, its orthogonal complement [d, d - k] (float64, orthonormal).

    ``energy`` is the fraction of tr S that span(U) holds (at least the requested fraction).
    """

    directions: Tensor
    allowed: Tensor
    energy: float

    @classmethod
    def of(cls, second_moment: Tensor, energy: float) -> ProtectedSubspace:
        """The fewest principal directions of ``second_moment`` [d, d] holding ``energy`` (in (0, 1)) of its trace."""
        sigma, vectors = torch.linalg.eigh(second_moment.double())
        sigma, vectors = sigma.flip(0).clamp_min(0), vectors.flip(1)
        cumulative = sigma.cumsum(0)
        total = cumulative[-1]
        if not total > 0:
            raise ValueError("null-space precision has nothing to protect: the preserved features are all zero")
        k = int((cumulative < energy * total).sum()) + 1
        return cls(vectors[:, :k], vectors[:, k:], float(cumulative[k - 1] / total))

    @classmethod
    def of_preserved(cls, kept: Tensor, prompts: int, prior: PreservePrior | None,
                     energy: float) -> ProtectedSubspace:
        """From the preserve prompts' Gram ``kept`` [d, d] (sum over their ``prompts`` prompts) and the prior.

        Raises ValueError when there is nothing to preserve (no prompts and no prior).
        """
        features = ([kept / prompts] if prompts else []) + ([prior.mean().to(kept)] if prior is not None else [])
        if not features:
            raise ValueError("null-space precision needs something to preserve: add '+' lines to the concept list "
                             "or use a preserve prior")
        return cls.of(sum(features), energy)

    @property
    def k(self) -> int:
        return self.directions.shape[1]

    def confine(self, delta: Tensor) -> Tensor:
        """``delta - (delta U) U^T``: the rows of ``delta`` [n, d] without their protected components."""
        U = self.directions.to(delta)
        return delta - (delta @ U) @ U.T

    def describe(self) -> str:
        d = self.directions.shape[0]
        return f"{self.k} of {d} directions protected ({self.energy:.1%} of the preserved features' energy)"
