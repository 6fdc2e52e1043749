"""OCE, Orthogonal Concept Erasure (Sun et al., ICML 2026, arXiv 2605.28902): the edit ``W = R W0``, R orthogonal.

Written from the paper's equations as the release (github.com/HansSunY/OCE, ``oce.py``) states them;
no code of the release is used (it has no licence). For one weight ``W0 [n, d]``, R [n, n] is the
rotation (orthogonal, det +1) that maximises ``tr(R^T M)`` -- the orthogonal Procrustes problem,
solved by ``R = U V^T`` for ``M = U S V^T`` -- with

    M = -s Pi_E (I - Pi_G) + s_c sum_p v_p v_p^T + s_g W0 C W0^T + lam W0 W0^T        [n, n],

* ``Pi_E``: the projector onto the outputs ``W0 e_j`` of the erased concepts' last word tokens
  (their span is ``W0 span{e_j}``: the input span is found once per call), ``Pi_G`` onto those of
  their anchors' (the guides; the blank anchor's is its start token);
* ``v_p = W0 k_p``, the outputs of the ``+`` lines' last word tokens (weight s_c = preserve_scale);
* ``C = C_g / N``, the preserve prior's per-prompt second moment (weight s_g = prior_scale; OCE's
  global preservation term, absent when the prior is off);
* ``lam W0 W0^T`` (lam = lam).

Since ``|R a - a|^2 = 2 |a|^2 - 2 tr(R^T a a^T)``, maximising ``tr(R^T M)`` minimises
``(s_g / 2) sum_{prior} |R W0 x - W0 x|^2 + (s_c / 2) sum_p |R v_p - v_p|^2 + (lam / 2) |R W0 - W0|_F^2
+ s sum_k <e_k, R (I - Pi_G) e_k>`` over rotations (e_k an orthonormal basis of the erased outputs):
the erased outputs' part outside the guides is turned away from itself, everything else is held.
``W^T W = W0^T W0``: the neurons' norms and angles are unchanged. The edit is full rank, so it
is saved exactly (as a diff or a checkpoint); a low-rank LoRA does not represent it.

Computed in float64, in the coordinates of W0's column space: for n > d, with ``W0 = Q T``
(reduced QR, Q [n, d]), every term of M lies in span(Q), so ``M = Q m Q^T`` with ``m = Q^T M Q``
[d, d], ``R = Q R_m Q^T + (I - Q Q^T)`` and ``W = Q R_m T`` (SD1.5's 1280-wide layers: an SVD of
768 x 768 instead of 1280 x 1280), and a reflection of span(Q)'s complement makes any R_m proper at
no cost; for n <= d, Q = I and T = W0, and the determinant is fixed as Kabsch does, by flipping the
singular pair of the smallest singular value.

Choices where the release is ambiguous: the projectors span the distinct output directions (the
release's reduced QR of a guide repeated for every concept adds arbitrary directions to Pi_G); the
determinant is fixed by Kabsch's rule (the release negates R's last column, which is not the best
rotation); the prior covers every position (``prior.py``); with null-space precision the outputs
``W0 U`` of the protected directions are held fixed and only their orthogonal complement is rotated
(the exact maximiser under ``R W0 U = W0 U``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import ScaPreConfig
from .methods import KeyEdit, preserve_weight
from .nullspace import ProtectedSubspace
from .prior import PreservePrior
from .solve import gram
from .tokens import TokenMatrices


def span_basis(vectors: Tensor) -> Tensor:
    """Orthonormal basis [r, k] of the span of the columns of ``vectors`` [r, m] (singular values above rounding)."""
    if vectors.shape[1] == 0:
        return vectors
    U, sigma, _ = torch.linalg.svd(vectors, full_matrices=False)
    keep = sigma > sigma.max() * max(vectors.shape) * torch.finfo(vectors.dtype).eps
    return U[:, keep]


def complement(basis: Tensor) -> Tensor:
    """Orthonormal basis of the orthogonal complement of span(``basis`` [r, k], orthonormal) in R^r."""
    r, k = basis.shape
    if k == 0:
        return torch.eye(r, dtype=basis.dtype, device=basis.device)
    return torch.linalg.svd(basis, full_matrices=True)[0][:, k:]


def rotation(M: Tensor, proper: bool) -> Tensor:
    """The orthogonal R maximising ``tr(R^T M)`` (``U V^T``); with ``proper``, the best with det R = +1 (Kabsch)."""
    U, _, Vh = torch.linalg.svd(M)
    R = U @ Vh
    if proper and torch.linalg.det(R) < 0:
        U = U.clone()
        U[:, -1] = -U[:, -1]
        R = U @ Vh
    return R


class OrthogonalProblem:
    """OCE for one ``unlearn`` call: the layer-independent parts; ``edit(key, W0)`` rotates one weight."""

    def __init__(self, config: ScaPreConfig, tokens: TokenMatrices, prior: PreservePrior | None = None):
        if prior is not None and prior.d != tokens.d:
            raise ValueError(f"the preserve prior is {prior.d}-wide but the text encoder's outputs are "
                             f"{tokens.d}-wide: it belongs to another text encoder")
        self.config, self.tokens = config, tokens
        first = torch.searchsorted(tokens.token_concept, torch.arange(tokens.m, device=tokens.E.device))
        guides = tokens.anchor_pool[tokens.token_slot[first]]  # each anchor's last word token [m, d]
        # span{W0 x_j} = W0 span{x_j}: bases of the erased and guide tokens' spans, once per call
        self.erased_inputs = span_basis(tokens.E.double().T)
        self.guide_inputs = span_basis(guides.double().T)
        self.preserve_scale = preserve_weight(config, tokens.preserve_last.shape[0])
        # A = s_c sum_p k_p k_p^T + s_g C + lam I, so that the preservation terms of M are W0 A W0^T.
        d = tokens.d
        A = config.lam * torch.eye(d, dtype=torch.float64, device=tokens.E.device)
        A += self.preserve_scale * gram(tokens.preserve_last)
        if prior is not None:
            A += config.prior_scale * prior.mean().to(A)
        self.A = A
        self.protected = None
        if config.nullspace:
            prompts = tokens.preserve.shape[0] // tokens.sequence
            self.protected = ProtectedSubspace.of_preserved(gram(tokens.preserve), prompts, prior,
                                                            config.nullspace_energy)

    def edit(self, key: str, weight: Tensor) -> KeyEdit:
        """``R W0 - W0`` [n, d] (in the weight's dtype) for one weight W0 [n, d]."""
        W0 = weight.double()
        n, d = W0.shape
        Q, T = torch.linalg.qr(W0) if n > d else (None, W0)  # W0 = Q T, Q [n, d]
        r = T.shape[0]
        erased = span_basis(T @ self.erased_inputs)  # Pi_E = erased erased^T, in Q's coordinates
        guided = span_basis(T @ self.guide_inputs)
        m = T @ self.A @ T.T
        m -= self.config.erase_scale * (erased @ (erased.T - (erased.T @ guided) @ guided.T))
        proper = r == n
        if self.protected is None:
            R = rotation(m, proper)
        else:  # hold W0 U fixed: rotate only the complement of its span
            fixed = span_basis(T @ self.protected.directions)
            free = complement(fixed)
            R = fixed @ fixed.T + free @ rotation(free.T @ m @ free, proper) @ free.T
        delta = (R - torch.eye(r, dtype=R.dtype, device=R.device)) @ T
        return KeyEdit((delta if Q is None else Q @ delta).to(weight.dtype), 0.0)
