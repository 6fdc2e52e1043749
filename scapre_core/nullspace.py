"""Null-space precision (SPEED, ICLR 2026; Double Projections, CVPR 2026): leave what is preserved alone.

Two kinds of preserved features, protected in two ways:

* **Kept exactly: the ``+`` lines**, every position of each. With ``X_p`` [S, d] the states of line p, the kept
  directions ``U_k`` are the fewest top eigenvectors of ``G = sum_p X_p^T X_p / |X_p|_F^2`` (each line weighed
  as one) whose eigenvalue tail is at most ``KEEP_TOLERANCE^2``; every line then has at most ``KEEP_TOLERANCE``
  of its states' norm outside span(U_k), so its outputs move by no more than that (relative) whatever the
  edit: a hard constraint, not a share of some energy.
* **Kept by energy: everything else the method preserves** (the preserve prior's ``C_g / N``, and UCE's own
  preserve prompt ``""``), with second moment ``S`` (each source as the mean of one prompt). Beyond U_k, the
  fewest top principal directions ``U_e`` of S restricted to the complement of U_k are protected such that
  span(U_k, U_e) holds the fraction ``energy`` of tr S.

Every row's update is confined to the complement of ``U = [U_k U_e]``, ``delta_i U = 0``: the output ``W x``
of any input moves only through the part of x outside span(U). The constraint is exact: the additive methods
solve each row's normal equations on the complement (``solve.update_basis``), which is the minimiser of the
same objective over ``delta_i U = 0``, and ``confine`` applies it to steps taken after the solve (ScaPre's
Bures step); OCE keeps the outputs ``W0 U`` fixed and rotates only their orthogonal complement (``oce.py``).

A ``+`` line and an erased concept cannot both hold when the concept's last word state lies in the line's
states: that part of it can no longer move. ``overlaps`` measures, for each pair, the share of the concept's
state (squared norm) inside the line's own kept directions; the report names the pairs where it is large.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .lowrank import Factors
from .subspace import complement, principal, principal_of_rows

KEEP_TOLERANCE = 1e-5
"""The largest fraction of a ``+`` line's state norm left outside the kept directions."""


def _kept_directions(states: Tensor) -> Tensor:
    """U_k [d, k] (float64) of ``states`` [P, S, d]: see the module docstring; zero prompts are skipped."""
    states = states.double()
    norms = states.flatten(1).norm(dim=1)
    states = states[norms > 0] / norms[norms > 0, None, None]
    d = states.shape[2]
    if states.shape[0] == 0:
        return torch.zeros(d, 0, dtype=torch.float64, device=states.device)
    sigma, vectors = principal_of_rows(states.reshape(-1, d))
    tail = sigma.flip(0).cumsum(0).flip(0)  # tail[k] = sum of the eigenvalues from k on
    k = int((tail > KEEP_TOLERANCE**2).sum())
    return vectors[:, :k]


@dataclass
class ProtectedSubspace:
    """``directions`` U [d, k] (the first ``kept`` of them keep the + lines exactly, the rest hold the energy of the
    other preserved features) and ``allowed``, its orthogonal complement [d, d - k] (float64, orthonormal).

    ``energy`` is the fraction of tr S that span(U) holds (None when nothing is kept by energy).
    """

    directions: Tensor
    allowed: Tensor
    kept: int
    lines: int
    energy: float | None

    @classmethod
    def of(cls, lines: Tensor, others: Tensor | None, energy: float) -> ProtectedSubspace:
        """From the + lines' states ``lines`` [P, S, d] and the second moment ``others`` [d, d] (or None).

        Raises ValueError when there is nothing to protect.
        """
        kept = _kept_directions(lines)
        if others is None:
            if kept.shape[1] == 0:
                raise ValueError("null-space precision needs something to preserve: add '+' lines to the concept "
                                 "list or use a preserve prior")
            return cls(kept, complement(kept), kept.shape[1], lines.shape[0], None)
        others = others.to(kept)
        total = float(torch.trace(others))
        if not total > 0:
            raise ValueError("null-space precision has nothing to protect: the preserved features are all zero")
        rest = complement(kept)
        sigma, vectors = principal(rest.T @ others @ rest)
        held = float(torch.trace(kept.T @ others @ kept))
        cumulative = held + sigma.cumsum(0)
        count = int((cumulative < energy * total).sum()) + 1 if held < energy * total else 0
        count = min(count, sigma.shape[0])
        held = float(cumulative[count - 1]) if count else held
        extra = rest @ vectors
        return cls(torch.cat([kept, extra[:, :count]], dim=1), extra[:, count:], kept.shape[1], lines.shape[0],
                   held / total)

    @property
    def k(self) -> int:
        return self.directions.shape[1]

    def confine(self, delta: Tensor | Factors, weight: Tensor | None = None) -> Tensor | Factors:
        """``delta - (delta U) U^T``: the rows of ``delta`` [n, d] without their protected components (for factors
        ``up @ down``, ``down - (down U) U^T``; with a row scale s of the weight W0, the removed part of
        ``diag(s) W0`` joins the factors: ``[up, -diag(s) W0 U] @ [down - (down U) U^T; U^T]``)."""
        if isinstance(delta, Factors):
            down = self.confine(delta.down)
            if delta.scale is None:
                return Factors(delta.up, down)
            U = self.directions.to(delta.down)
            removed = delta.scale[:, None] * (weight.to(U) @ U)
            return Factors(torch.cat([delta.up, -removed], dim=1), torch.cat([down, U.T]), delta.scale)
        U = self.directions.to(delta)
        return delta - (delta @ U) @ U.T

    def describe(self) -> str:
        d = self.directions.shape[0]
        parts = []
        if self.lines:
            parts.append(f"{self.kept} keep the {self.lines} '+' line(s) exactly (to {KEEP_TOLERANCE:g} of their "
                         "states)")
        if self.energy is not None:
            parts.append(f"{self.k - self.kept} more hold {self.energy:.1%} of the other preserved features' energy")
        return f"{self.k} of {d} directions protected: " + "; ".join(parts)


def overlaps(erased: Tensor, lines: Tensor) -> Tensor:
    """[m, P]: the share of each erased concept's state ``erased`` [m, d] (squared norm) that lies in the kept
    directions of each + line's own states ``lines`` [P, S, d] (``_kept_directions`` of that line alone)."""
    erased = erased.double()
    out = torch.zeros(erased.shape[0], lines.shape[0], dtype=torch.float64, device=erased.device)
    norms = erased.pow(2).sum(1).clamp_min(1e-300)
    for p in range(lines.shape[0]):
        U = _kept_directions(lines[p:p + 1])
        out[:, p] = (erased @ U).pow(2).sum(1) / norms
    return out
