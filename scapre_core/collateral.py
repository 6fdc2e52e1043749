"""Collateral: how far an edit moves the edited layers' outputs for the prompts it was not asked about.

With ``C = C_g / N`` the general prompts' second moment per prompt (``prior.py``; all positions: what the edited
layers read), the relative change of weight k's outputs over those prompts is

    c_k = sqrt( tr(dW_k C dW_k^T) / tr(W0_k C W0_k^T) ),

the root of the mean squared output change over the prompts' positions relative to the mean squared output (the
same measure as the report's changes of the erased concepts and the + lines), and over all edited weights
``c = sqrt( sum_k tr(dW_k C dW_k^T) / sum_k tr(W0_k C W0_k^T) )``. It is computed during the edit from the
prior alone: with ``C = Q diag(lambda) Q^T`` (Q [d, r], r the numerical rank of C), ``tr(dW C dW^T) =
sum_j lambda_j |dW q_j|^2``, two products of [n, d] by [d, r] per weight; the eigenpairs are the prior's own
(``PreservePrior.eigen``), computed once when it is built.

When the prior keeps each prompt's factor F_p (``PreservePrior.prompt_factors``, ``F_p^T F_p`` its states' second
moment up to its top directions), the prompts that moved most are named: every prompt's states lie in span(Q), so
with ``D = sum_k Q^T dW_k^T dW_k Q`` and ``B = sum_k Q^T W0_k^T W0_k Q`` [r, r], prompt p moved by
``sqrt( tr(F_p Q D Q^T F_p^T) / tr(F_p Q B Q^T F_p^T) )``.

Where the edit is one linear map of W0 shared by every weight, ``dW_k = W0_k M`` (``KeyEdit.linear``), the same
figures come from each weight's Gram matrix ``G_k = W0_k^T W0_k`` [d, d]: ``tr(dW_k C dW_k^T) = <G_k, M C M^T>``,
``tr(W0_k C W0_k^T) = <G_k, C>``, ``D = (M Q)^T (sum_k G_k) (M Q)`` and ``B = Q^T (sum_k G_k) Q``: 2 n d^2 flops
per weight instead of about 8 n d r when C fills R^d (r = d, as real CLIP states make it), after a d^3 set-up;
taken where r > d / 2 and more than one weight shares it. G_k being symmetric, only its upper block rows are
formed (``GRAM_BLOCK`` columns each; with k blocks, (k + 1) / 2k of the full product's flops), and the inner
products count each block above the diagonal twice.

``WARN_ABOVE``: the report warns above it (docs/BENCHMARKS.md, "Collateral", says how it was chosen).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .method import KeyEdit
from .prior import PreservePrior

WARN_ABOVE = 0.05
"""Collateral (c, over all edited weights) above which the report warns."""
WORST = 5
"""How many of the most-moved general prompts a report names."""
GRAM_BLOCK = 512
"""Columns per block row of the Gram route's ``G_k`` (0.6-0.7 of the full product's time at SDXL's and Wan's
shapes on this machine's CPU, against 0.5 for an ideal symmetric product)."""


@dataclass
class CollateralReport:
    """``overall`` c, ``per_weight[key]`` c_k, ``worst``: (prompt, its change) for the most-moved prompts (empty
    when the prior keeps no prompt factors), ``source``: the prompts' name."""

    source: str
    overall: float
    per_weight: dict[str, float]
    worst: list[tuple[str, float]] = field(default_factory=list)

    @property
    def warning(self) -> str | None:
        if self.overall <= WARN_ABOVE:
            return None
        return (f"the edit moves the edited layers' outputs for general prompts by {self.overall:.1%} on average, "
                f"above {WARN_ABOVE:.0%}: expect other content to change too (check the worst prompts, or keep "
                "what matters with '+' lines, the preserve prior or a lower erase_scale)")


def _ratio(moved: float, base: float) -> float:
    return math.sqrt(moved / base) if base > 0 else 0.0


def _upper_blocks(matrix: Tensor, rows: list[tuple[int, int]]) -> list[Tensor]:
    """The block rows ``matrix[start:stop, start:]`` of a symmetric matrix, each contiguous, its columns right of the
    diagonal block doubled: ``sum_i <G[start_i:stop_i, start_i:], block_i> = <G, matrix>`` for symmetric G."""
    blocks = []
    for start, stop in rows:
        block = matrix[start:stop, start:].clone()
        block[:, stop - start:] *= 2
        blocks.append(block)
    return blocks


class Collateral:
    """Accumulates, weight by weight, what ``CollateralReport`` states (see the module docstring)."""

    def __init__(self, prior: PreservePrior, device: torch.device, dtype: torch.dtype, weights: int = 1):
        """``weights``: how many weights the edit will add (the Gram route's set-up needs more than one)."""
        lam, Q = prior.with_eigen().eigen
        self.by_gram = 2 * lam.shape[0] > Q.shape[0] and weights > 1
        self.mean = prior.mean().to(device) if self.by_gram else None
        self.map = self.rows = self.moved_blocks = self.base_blocks = self.grams = None
        self.source = prior.source
        self.lam = lam.to(device)
        self.basis = Q.to(device=device, dtype=dtype)
        self.moved: dict[str, float] = {}
        self.base: dict[str, float] = {}
        self.names = prior.prompt_names
        self.prompts = None
        if prior.prompt_factors is not None:
            r = self.basis.shape[1]
            self.prompts = prior.prompt_factors.to(device=device, dtype=dtype) @ self.basis  # [N, k, r]
            self.D = torch.zeros(r, r, dtype=torch.float64, device=device)
            self.B = torch.zeros(r, r, dtype=torch.float64, device=device)

    def add(self, key: str, weight: Tensor, edit: KeyEdit) -> None:
        if self.by_gram and edit.linear is not None and (self.map is None or edit.linear is self.map):
            self._add_by_gram(key, weight, edit.linear)
            return
        Z = weight @ self.basis.to(weight)  # W0 Q [n, r]
        Y = edit.outputs(self.basis.T, weight, Z)  # dW Q
        self.moved[key] = float((Y.double().pow(2).sum(0) * self.lam).sum())
        self.base[key] = float((Z.double().pow(2).sum(0) * self.lam).sum())
        if self.prompts is not None:
            self.D += (Y.T @ Y).double()
            self.B += (Z.T @ Z).double()

    def _add_by_gram(self, key: str, weight: Tensor, linear: Tensor) -> None:
        """``add`` for ``dW = W0 M`` from the upper block rows of ``G = W0^T W0`` (the module docstring)."""
        if self.map is None:
            self.map = linear
            M = linear.double()
            d = M.shape[0]
            self.rows = [(start, min(start + GRAM_BLOCK, d)) for start in range(0, d, GRAM_BLOCK)]
            self.moved_blocks = _upper_blocks(M @ self.mean @ M.T, self.rows)  # M C M^T
            self.base_blocks = _upper_blocks(self.mean, self.rows)  # C
            self.mean = None
            if self.prompts is not None:  # sum_k G_k's upper block rows
                self.grams = [torch.zeros_like(block) for block in self.base_blocks]
        moved = base = 0.0
        for i, (start, stop) in enumerate(self.rows):
            block = (weight[:, start:stop].T @ weight[:, start:]).double()  # G[start:stop, start:]
            moved += float(torch.dot(block.view(-1), self.moved_blocks[i].view(-1)))
            base += float(torch.dot(block.view(-1), self.base_blocks[i].view(-1)))
            if self.grams is not None:
                self.grams[i].add_(block)
        self.moved[key], self.base[key] = moved, base

    def report(self) -> CollateralReport:
        if self.grams is not None:
            d = self.basis.shape[0]
            G = torch.empty(d, d, dtype=torch.float64, device=self.basis.device)
            for (start, stop), block in zip(self.rows, self.grams):
                G[start:stop, start:] = block
                G[stop:, start:stop] = block[:, stop - start:].T
            Q = self.basis.double()
            MQ = self.map.double() @ Q
            self.D += MQ.T @ G @ MQ
            self.B += Q.T @ G @ Q
            self.grams = None
        per_weight = {key: _ratio(self.moved[key], self.base[key]) for key in self.moved}
        overall = _ratio(sum(self.moved.values()), sum(self.base.values()))
        worst = []
        if self.prompts is not None:
            P = self.prompts
            moved = ((P @ self.D.to(P)) * P).sum(dim=(1, 2)).double()
            base = ((P @ self.B.to(P)) * P).sum(dim=(1, 2)).double().clamp_min(1e-300)
            change = (moved.clamp_min(0) / base).sqrt()
            order = change.argsort(descending=True, stable=True)[:WORST]
            worst = [(self.names[i], float(change[i])) for i in order.tolist()]
        return CollateralReport(self.source, overall, per_weight, worst)
