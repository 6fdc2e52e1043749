"""The preserve prior: the text encoder's second moment over a general prompt list (issue 9; OCE's C_g).

Every precise closed-form eraser knows what must not change (OCE's global preservation term, the
null spaces of SPEED and Double Projections); users cannot list "everything else". The pack ships a
licence-clean list of 1,000 general prompts (``data/general_prompts.txt``, sources and licences in
``data/SOURCES.md``: people-free COCO captions, ImageNet classes in a template, generic styles) and
summarises what a text encoder makes of it, computed once per encoder, in two conventions:

    C_g = sum_n sum_t x_nt x_nt^T          over the N prompts n and all S positions t        [d, d] float64
    C_tok = sum_n sum_{t real} x_nt x_nt^T  over the prompts' real tokens only (T of them)    [d, d] float64

(units: squared encoder outputs). All positions are what the edited layers read: CLIP's 77 (start, words, end
and padding), every position of a DiT's text sequence. The real tokens are each segment's start token, words
and end token, without padding: the tokens OCE's ``compute_Cg.py`` averages (its attention mask), so
``C_tok / T`` is OCE's per-token C_g. The recipes use:

* the additive methods add ``prior_scale (w - w0)^T (C_g / N) (w - w0)``
  = ``prior_scale (1 / N) sum_n sum_t (w . x_nt - w0 . x_nt)^2`` to each row's objective, so
  prior_scale = 1 weighs the prior like one preserve prompt of average content;
* OCE uses ``C_tok / T`` as its global preservation statistic (``oce.py``), as its release does;
* null-space precision protects the principal directions of ``C_g / N`` (``nullspace.py``);
* every report measures the collateral of the edit over the prompts with ``C_g / N`` (``collateral.py``), along
  its eigenvectors (``PreservePrior.eigen``: one eigendecomposition per prior, made when it is built and cached
  with it, not one per edit), and, when the prior keeps each prompt's own factor (``prompt_factors``), names the
  prompts that moved most.

The prior "+ lines only" is the same statistic of the concept list's ``+`` lines.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from .solve import gram
from .subspace import principal
from .tokens import Encode, Layout, as_layout

GENERAL_PROMPTS = Path(__file__).with_name("data") / "general_prompts.txt"
PROMPT_RANK = 8
"""Directions kept per prompt in ``prompt_factors`` (its states' top singular directions, all positions)."""
EIGEN_TOLERANCE = 1e-12
"""``eigen`` keeps the eigenpairs of C_g / N above this fraction of the largest eigenvalue (its numerical rank)."""


@dataclass
class PreservePrior:
    """The second moments of a prompt list under one encoder; ``source`` names the list.

    Attributes:
        gram: C_g [d, d] float64, the sum over ``prompts`` prompts and all their positions.
        prompts: N.
        source: how a report names the list.
        token_gram: C_tok [d, d] float64, the sum over the prompts' real tokens (None: not computed, e.g. a
            prior cached before it existed).
        tokens: T, the number of those real tokens.
        prompt_factors: [N, k, d] float32, prompt n's factor F_n with ``F_n^T F_n`` its states' second moment
            (all positions) up to its top k singular directions; None when the prompts' states were not kept.
        prompt_names: the N prompts, in the order of ``prompt_factors``.
        eigen: (lambda [r] float64, descending; Q [d, r] float32, orthonormal columns): the eigenpairs of C_g / N
            above ``EIGEN_TOLERANCE`` of the largest, so C_g / N = Q diag(lambda) Q^T to that tolerance; None until
            ``with_eigen`` computes them (the builders do, and the cache stores them). Float32 vectors: the
            collateral multiplies them with float32 weights.
    """

    gram: Tensor
    prompts: int
    source: str
    token_gram: Tensor | None = None
    tokens: int = 0
    prompt_factors: Tensor | None = None
    prompt_names: tuple[str, ...] = ()
    eigen: tuple[Tensor, Tensor] | None = None

    def __post_init__(self):
        if not (self.gram.ndim == 2 and self.gram.shape[0] == self.gram.shape[1] and self.prompts > 0):
            raise ValueError(f"a preserve prior needs a square second moment and at least one prompt, got "
                             f"{tuple(self.gram.shape)} over {self.prompts} prompts")
        if self.token_gram is not None and not (self.token_gram.shape == self.gram.shape and self.tokens > 0):
            raise ValueError("a preserve prior's real-token second moment needs the same shape and at least one token")
        if self.prompt_factors is not None and len(self.prompt_names) != self.prompt_factors.shape[0]:
            raise ValueError("a preserve prior's prompt factors need one prompt name each")
        if self.eigen is not None:
            lam, Q = self.eigen
            trace = float(self.gram.diagonal().sum()) / self.prompts
            if Q.shape != (self.d, lam.shape[0]) or abs(float(lam.sum()) - trace) > 1e-6 * abs(trace):
                raise ValueError("a preserve prior's eigenpairs must be those of its own second moment (one column of "
                                 "length d per eigenvalue, summing to its trace): drop them (eigen=None) when "
                                 "replacing the second moment")

    def with_eigen(self) -> PreservePrior:
        """This prior with ``eigen`` (one float64 eigendecomposition of the [d, d] mean when it has none yet)."""
        if self.eigen is not None:
            return self
        lam, Q = principal(self.mean())
        keep = lam > lam[0] * EIGEN_TOLERANCE
        return dataclasses.replace(self, eigen=(lam[keep], Q[:, keep].float().contiguous()))

    @property
    def d(self) -> int:
        return self.gram.shape[0]

    def mean(self) -> Tensor:
        """C_g / N [d, d] float64: the second moment of one prompt of average content (all positions)."""
        return self.gram.double() / self.prompts

    def token_mean(self) -> Tensor | None:
        """C_tok / T [d, d] float64: the second moment of one real token (OCE's C_g); None when not computed."""
        return None if self.token_gram is None else self.token_gram.double() / self.tokens

    @classmethod
    def of_states(cls, states: Tensor, prompts: int, source: str) -> PreservePrior:
        """The prior of ``prompts`` prompts whose encoder outputs, all positions, are the rows of ``states``."""
        return cls(gram(states), prompts, source)


def real_positions(layout: Layout, index: int) -> list[int]:
    """The real tokens of prompt ``index``: in each segment its start token (if any), words and end token."""
    return [t for segment in layout.prompts[index] for t in range(segment.start, segment.tail + 1)]


def factors(states: Tensor, rank: int = PROMPT_RANK) -> Tensor:
    """[N, rank, d] float32: each prompt's ``diag(sigma) V^T`` over its top singular directions (zero-padded).

    With ``H = U diag(sigma) V^T`` a prompt's states [S, d], ``diag(sigma) V^T = U^T H`` over the top directions,
    and U holds the top eigenvectors of the [S, S] Gram ``H H^T``: no SVD of the [S, d] states."""
    H = states.double()
    _, U = torch.linalg.eigh(H @ H.transpose(1, 2))  # ascending eigenvalues
    k = min(rank, U.shape[2])
    out = torch.zeros(states.shape[0], rank, states.shape[2], dtype=torch.float32, device=states.device)
    out[:, :k] = (U[:, :, -k:].flip(2).transpose(1, 2) @ H).float()
    return out


def general_prompts() -> tuple[str, ...]:
    """The shipped general prompt list (1,000 prompts)."""
    lines = GENERAL_PROMPTS.read_text(encoding="utf-8").splitlines()
    return tuple(line for line in lines if line.strip())


def prompts_digest(prompts: tuple[str, ...] | list[str]) -> str:
    """sha256 (hex) of the prompts joined by newlines: what a cached prior was computed from."""
    return hashlib.sha256("\n".join(prompts).encode("utf-8")).hexdigest()


def second_moment(encode: Encode, prompts: tuple[str, ...] | list[str], source: str, batch_size: int = 64,
                  progress: Callable[[int, int], None] | None = None, keep_prompts: bool = False) -> PreservePrior:
    """C_g and C_tok of ``prompts`` under ``encode``, encoding ``batch_size`` prompts at a time.

    With ``keep_prompts`` the prior also keeps every prompt's factor (``PreservePrior.prompt_factors``), so that
    reports can name the prompts an edit moved most. ``progress(done, total)`` is called after each batch (it may
    raise to abort).
    """
    if not prompts:
        raise ValueError("the preserve prior needs at least one prompt")
    total, tokens, count, kept = None, None, 0, []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start:start + batch_size])
        hidden, raw_layout = encode(batch)
        layout = as_layout(batch, hidden, raw_layout)  # refuses malformed outputs, as the edit would
        part = gram(hidden.reshape(-1, hidden.shape[2]))
        real = torch.cat([hidden[i, real_positions(layout, i)] for i in range(len(batch))])
        real_part = gram(real)
        total = part if total is None else total + part
        tokens = real_part if tokens is None else tokens + real_part
        count += real.shape[0]
        if keep_prompts:
            kept.append(factors(hidden).cpu())
        if progress is not None:
            progress(min(start + batch_size, len(prompts)), len(prompts))
    return PreservePrior(total, len(prompts), source, tokens, count, torch.cat(kept) if keep_prompts else None,
                         tuple(prompts) if keep_prompts else ())


def general_prior(encode: Encode, batch_size: int = 64, progress: Callable[[int, int], None] | None = None,
                  keep_prompts: bool = False) -> PreservePrior:
    """The prior of the shipped list under ``encode`` (its ``source`` names the list's digest), with its eigenpairs
    (every report's collateral is measured along them)."""
    prompts = general_prompts()
    return second_moment(encode, prompts, general_source(prompts), batch_size, progress, keep_prompts).with_eigen()


def general_source(prompts: tuple[str, ...]) -> str:
    """How a report names the general prior: "general (1,000 prompts, list sha256 1a2b3c4d)"."""
    return f"general ({len(prompts):,} prompts, list sha256 {prompts_digest(prompts)[:8]})"
