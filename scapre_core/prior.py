"""The preserve prior: the text encoder's second moment over a general prompt list (issue 9; OCE's C_g).

Every precise closed-form eraser knows what must not change (OCE's global preservation term, the
null spaces of SPEED and Double Projections); users cannot list "everything else". The pack ships a
licence-clean list of 1,000 general prompts (``data/general_prompts.txt``, sources and licences in
``data/SOURCES.md``: people-free COCO captions, ImageNet classes in a template, generic styles) and
summarises what a text encoder makes of it in one matrix, computed once per encoder:

    C_g = sum_n sum_t x_nt x_nt^T      [d, d] float64 (units: squared encoder outputs),

over the N prompts n and all S positions t (CLIP's 77: start, words, end and padding; every position of
a DiT's text sequence: what the edited layers read; OCE's ``compute_Cg.py`` skips the padding). Every recipe can use its per-prompt mean C_g / N:

* the additive methods add ``prior_scale (w - w0)^T (C_g / N) (w - w0)``
  = ``prior_scale (1 / N) sum_n sum_t (w . x_nt - w0 . x_nt)^2`` to each row's objective, so
  prior_scale = 1 weighs the prior like one preserve prompt of average content;
* OCE uses it as its global preservation statistic (``oce.py``);
* null-space precision protects its principal directions (``nullspace.py``).

The prior "+ lines only" is the same statistic of the concept list's ``+`` lines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from .solve import gram
from .tokens import Encode, as_layout

GENERAL_PROMPTS = Path(__file__).with_name("data") / "general_prompts.txt"


@dataclass
class PreservePrior:
    """C_g of a prompt list: ``gram`` [d, d] float64 (the sum), over ``prompts`` prompts; ``source`` names them."""

    gram: Tensor
    prompts: int
    source: str

    def __post_init__(self):
        if not (self.gram.ndim == 2 and self.gram.shape[0] == self.gram.shape[1] and self.prompts > 0):
            raise ValueError(f"a preserve prior needs a square second moment and at least one prompt, got "
                             f"{tuple(self.gram.shape)} over {self.prompts} prompts")

    @property
    def d(self) -> int:
        return self.gram.shape[0]

    def mean(self) -> Tensor:
        """C_g / N [d, d] float64: the second moment of one prompt of average content."""
        return self.gram.double() / self.prompts

    @classmethod
    def of_states(cls, states: Tensor, prompts: int, source: str) -> PreservePrior:
        """The prior of ``prompts`` prompts whose encoder outputs, all positions, are the rows of ``states``."""
        return cls(gram(states), prompts, source)


def general_prompts() -> tuple[str, ...]:
    """The shipped general prompt list (1,000 prompts)."""
    lines = GENERAL_PROMPTS.read_text(encoding="utf-8").splitlines()
    return tuple(line for line in lines if line.strip())


def prompts_digest(prompts: tuple[str, ...] | list[str]) -> str:
    """sha256 (hex) of the prompts joined by newlines: what a cached prior was computed from."""
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()


def second_moment(encode: Encode, prompts: tuple[str, ...] | list[str], source: str, batch_size: int = 64,
                  progress: Callable[[int, int], None] | None = None) -> PreservePrior:
    """C_g of ``prompts`` under ``encode``, encoding ``batch_size`` prompts at a time.

    ``progress(done, total)`` is called after each batch (it may raise to abort).
    """
    if not prompts:
        raise ValueError("the preserve prior needs at least one prompt")
    total = None
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start:start + batch_size])
        hidden, layout = encode(batch)
        as_layout(batch, hidden, layout)  # refuses malformed outputs, as the edit would
        part = gram(hidden.reshape(-1, hidden.shape[2]))
        total = part if total is None else total + part
        if progress is not None:
            progress(min(start + batch_size, len(prompts)), len(prompts))
    return PreservePrior(total, len(prompts), source)


def general_prior(encode: Encode, batch_size: int = 64,
                  progress: Callable[[int, int], None] | None = None) -> PreservePrior:
    """The prior of the shipped list under ``encode`` (its ``source`` names the list's digest)."""
    prompts = general_prompts()
    return second_moment(encode, prompts, general_source(prompts), batch_size, progress)


def general_source(prompts: tuple[str, ...]) -> str:
    """How a report names the general prior: "general (1,000 prompts, list sha256 1a2b3c4d)"."""
    return f"general ({len(prompts):,} prompts, list sha256 {prompts_digest(prompts)[:8]})"
