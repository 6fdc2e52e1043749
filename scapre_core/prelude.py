"""What every method needs from one ``unlearn`` call before any weight is read (built once, shared by all keys).

* the preserve prior, checked to come from this encoder (its width);
* the method's preserve prompts: the ``+`` lines, after ``""`` for a method that keeps the empty prompt (UCE),
  and their weight s_p (``preserve_weight``);
* each concept's first row among the aligned tokens (``first``: its anchor and its last word's pairing);
* with null-space precision, the protected subspace (``nullspace.py``): the ``+`` lines exactly, the prior (and
  UCE's ``""``) by energy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .nullspace import ProtectedSubspace
from .prior import PreservePrior
from .tokens import TokenMatrices

if TYPE_CHECKING:
    from .config import ScaPreConfig


def preserve_weight(config: ScaPreConfig, n_prompts: int) -> float:
    """s_p: the configured preserve_scale, else the scripts' default max(0.1, 1 / #prompts)."""
    if config.preserve_scale is not None:
        return config.preserve_scale
    return max(0.1, 1.0 / n_prompts) if n_prompts else 0.0


@dataclass
class Prelude:
    """One call's layer-independent inputs (see the module docstring).

    Attributes:
        config, tokens, dtype: the call's settings, aligned tokens and product dtype.
        prior: the preserve prior the edit uses, or None.
        preserve: [P' * S, d] all positions of the method's preserve prompts (``""`` first when it keeps it).
        preserve_prompts: P', their number.
        first: [m] long, each concept's first row in ``tokens.X``.
        protected: the null space's protected subspace, or None without null-space precision.
    """

    config: ScaPreConfig
    tokens: TokenMatrices
    dtype: torch.dtype
    prior: PreservePrior | None
    preserve: Tensor
    preserve_prompts: int
    first: Tensor
    protected: ProtectedSubspace | None

    @classmethod
    def of(cls, config: ScaPreConfig, tokens: TokenMatrices, dtype: torch.dtype, prior: PreservePrior | None,
           keeps_empty: bool, keep_lines: bool = True) -> Prelude:
        """The prelude of a method (``keeps_empty``: ``""`` is one of its preserve prompts).

        ``keep_lines=False`` leaves the + lines out of the protected subspace (what the edit would do without
        keeping them exactly; the report's measure of what keeping them cost).
        """
        if prior is not None and prior.d != tokens.d:
            raise ValueError(f"the preserve prior is {prior.d}-wide but the text encoder's outputs are "
                             f"{tokens.d}-wide: it belongs to another text encoder")
        S, d = tokens.sequence, tokens.d
        preserve = torch.cat([tokens.empty, tokens.preserve]) if keeps_empty else tokens.preserve
        first = torch.searchsorted(tokens.token_concept, torch.arange(tokens.m, device=tokens.E.device))
        protected = None
        if config.nullspace:
            lines = tokens.preserve.reshape(-1, S, d)
            others = [prior.mean().to(tokens.E.device)] if prior is not None else []
            if keeps_empty:
                empty = tokens.empty.double()
                others.append(empty.T @ empty)
            protected = ProtectedSubspace.of(lines if keep_lines else lines[:0], sum(others) if others else None,
                                             config.nullspace_energy)
        return cls(config, tokens, dtype, prior, preserve, preserve.shape[0] // S, first, protected)
