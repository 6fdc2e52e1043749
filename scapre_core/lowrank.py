"""Low-rank edits: exact factors (``Factors``), and the factorisation of a dense edit for LoRA export with a stated
error (``low_rank``).

``Factors``: an edit of rank r kept as ``delta = up @ down`` (up [n, r], down [r, d]), exact: what the additive
solvers return when ``r (n + d) < n d`` (``pays``), 4 r (n + d) bytes instead of 4 n d. With a row scale s [n]
(ScaPre's Bures step rescales W0's rows) the edit is ``delta = diag(s) W0 + up @ down``: full rank, yet exact in
4 (r (n + d) + n) bytes given the weight W0 it was computed from, which every use of it has at hand.

For a delta D [n, d] with singular values s_1 >= s_2 >= ..., the best rank-r approximation
(Eckart-Young) ``up = U_r diag(s_r)``, ``down = V_r^T`` has relative Frobenius error
``sqrt(sum_{k>r} s_k^2) / sqrt(sum_k s_k^2)``. ``low_rank`` picks the smallest r meeting a bound
(capped by ``max_rank``) and then measures the error of the factors actually stored, after
rounding them to the storage dtype, raising r while rounding alone breaks the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Factors:
    """An exact edit ``delta = up @ down`` (up [n, r], down [r, d]), or with ``scale`` [n]
    ``delta = diag(scale) W0 + up @ down`` of the weight W0 it edits (the methods below then need ``weight``)."""

    up: Tensor
    down: Tensor
    scale: Tensor | None = None

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.up.shape[0], self.down.shape[1]

    @property
    def numel(self) -> int:
        """Numbers stored: ``r (n + d)``, plus n for a row scale."""
        return self.up.numel() + self.down.numel() + (0 if self.scale is None else self.scale.numel())

    def _weight(self, weight: Tensor | None) -> Tensor:
        if weight is None:
            raise ValueError("this edit rescales the rows of the weight it edits: pass that weight")
        return weight.to(self.up)

    def dense(self, weight: Tensor | None = None) -> Tensor:
        """The edit [n, d]: ``up @ down`` (+ ``diag(scale) weight``)."""
        if self.scale is None:
            return self.up @ self.down
        return torch.addmm(self.scale[:, None] * self._weight(weight), self.up, self.down)

    def outputs(self, inputs: Tensor, weight: Tensor | None = None, base: Tensor | None = None) -> Tensor:
        """``delta @ inputs^T`` [n, N] for inputs [N, d], without forming delta (``base``: ``weight @ inputs^T``,
        where the caller has it already)."""
        x = inputs.to(self.down).T
        moved = self.up @ (self.down @ x)
        if self.scale is None:
            return moved
        return moved.addcmul_(self.scale[:, None], self._weight(weight) @ x if base is None else base.to(moved))

    def norm(self, weight: Tensor | None = None) -> Tensor:
        """``|delta|_F`` without forming delta (float64): ``tr((up^T up)(down down^T))``, plus with a row scale
        ``sum_i s_i^2 |w0_i|^2 + 2 sum_i s_i <w0_i down^T, up_i>``; the products with W0 ([n, d] row norms and
        ``W0 down^T`` [n, r]) in W0's dtype, the rest in float64."""
        up, down = self.up.double(), self.down.double()
        square = ((up.T @ up) * (down @ down.T)).sum()
        if self.scale is not None:
            w, s = self._weight(weight), self.scale.double()
            rows, across = (w * w).sum(1).double(), (w @ self.down.T).double()
            square = square + (s.pow(2) * rows).sum() + 2 * (s[:, None] * across * up).sum()
        return square.clamp_min(0).sqrt()

    def to(self, *args, **kwargs) -> Factors:
        return Factors(self.up.to(*args, **kwargs), self.down.to(*args, **kwargs),
                       None if self.scale is None else self.scale.to(*args, **kwargs))


def as_dense(edit: Tensor | Factors, weight: Tensor | None = None) -> Tensor:
    """An edit as a dense [n, d] tensor: a tensor as it is, factors formed (with the weight they rescale)."""
    return edit.dense(weight) if isinstance(edit, Factors) else edit


def pays(edit: Factors) -> bool:
    """Whether the factors are smaller than the dense [n, d] edit: ``r (n + d) (+ n) < n d``."""
    n, d = edit.shape
    return edit.numel < n * d


@dataclass
class LowRank:
    """``up @ down`` approximates the delta with relative Frobenius error ``error``."""

    up: Tensor
    down: Tensor
    error: float

    @property
    def rank(self) -> int:
        return self.down.shape[0]


def relative_error(delta: Tensor, approx: Tensor) -> float:
    """``|delta - approx|_F / |delta|_F`` (0 for a zero delta), computed in float64."""
    delta = delta.double()
    norm = delta.norm()
    return float((delta - approx.double()).norm() / norm) if norm > 0 else 0.0


def low_rank(delta: Tensor, bound: float = 0.01, max_rank: int = 256, rank: int | None = None,
             dtype: torch.dtype = torch.float16) -> LowRank:
    """Factor ``delta`` [n, d] as ``up [n, r] @ down [r, d]`` stored in ``dtype``.

    With ``rank`` given, that rank is used; otherwise the smallest rank whose error is at most
    ``bound``, capped at ``max_rank`` (the returned error then says how far it is from the bound).
    """
    full = min(delta.shape)
    U, S, Vh = torch.linalg.svd(delta.float(), full_matrices=False)
    if rank is None:
        energy = S.double().pow(2)
        tail = (energy.sum() - energy.cumsum(0)).clamp_min(0).sqrt() / energy.sum().sqrt().clamp_min(1e-300)
        rank = int((tail <= bound).nonzero()[0]) + 1 if bool((tail <= bound).any()) else full
        cap = min(max_rank, full)
        rank = min(rank, cap)
        while True:
            result = _factors(delta, U, S, Vh, rank, dtype)
            if result.error <= bound or rank >= cap:
                return result
            rank += 1
    return _factors(delta, U, S, Vh, min(max(rank, 1), full), dtype)


def _factors(delta: Tensor, U: Tensor, S: Tensor, Vh: Tensor, rank: int, dtype: torch.dtype) -> LowRank:
    up = (U[:, :rank] * S[:rank]).to(dtype)
    down = Vh[:rank].to(dtype)
    return LowRank(up, down, relative_error(delta, up.double() @ down.double()))
