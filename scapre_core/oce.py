"""OCE, Orthogonal Concept Erasure (Sun et al., ICML 2026, arXiv 2605.28902): the edit ``W = R W0``, R orthogonal.

Written from the paper's equations and the release (github.com/HansSunY/OCE, ``oce.py``, ``compute_Cg.py``);
no code of the release is used (it has no licence). For one weight ``W0 [n, d]``, R [n, n] is the rotation
(orthogonal, det +1) that maximises ``tr(R^T M)`` -- the orthogonal Procrustes problem, solved by the polar
factor ``R = U V^T`` of ``M = U S V^T`` -- with

    M = -s k (I - Pi_G) Pi_E + W0 A W0^T,     A = s_c sum_p k_p k_p^T + s_g C + lam t I        [n, n],

* ``Pi_E``: the projector onto the outputs ``W0 e_j`` of the erased concepts' last word tokens (their span is
  ``W0 span{e_j}``: the input span is found once per call), ``Pi_G`` onto those of their anchors' (the guides;
  the blank anchor's is its start token);
* ``k_p``: the ``+`` lines' last word tokens (weight s_c = preserve_scale);
* ``C``: the preserve prior's second moment of one real token (``PreservePrior.token_mean``: start, words and
  end tokens, no padding, as the release's ``compute_Cg.py``; weight s_g = prior_scale; absent when the prior
  is off);
* ``t = tr(C) / d`` and ``k = t rho`` with ``rho = |W0|_F^2 / n``: the scales (``oce_scales``, below).

Since ``|R a - a|^2 = 2 |a|^2 - 2 a^T R a`` and ``tr(R^T b a^T) = b^T R a``, maximising ``tr(R^T M)`` minimises
``(s_g / 2) E_C |R W0 x - W0 x|^2 + (s_c / 2) sum_p |R W0 k_p - W0 k_p|^2 + (lam t / 2) |R W0 - W0|_F^2
+ s k sum_j <R u_j, (I - Pi_G) u_j>`` over rotations (u_j an orthonormal basis of the erased outputs): each
erased output, rotated, is turned away from its own part outside the guides, everything else is held.
``W^T W = W0^T W0``: the neurons' norms and angles are unchanged. The edit is full rank, so it is saved exactly
(as a diff or a checkpoint); a low-rank LoRA does not represent it.

What differs from the release, and why (``ScaPreConfig.oce_orientation`` and ``oce_scales`` restore it):

* **Orientation.** The release builds the erase term as ``-s Pi_E (I - Pi_G)``, the transpose of the one above,
  and takes the polar factor of that M: it maximises ``sum_j <R (I - Pi_G) u_j, u_j>`` instead, which turns
  the *inverse* rotation's image of the erased outputs away. That R is exactly the transpose of ours (same
  output norms, different directions); an independent audit found the objective's orientation (ours, the
  paper's Appendix A.2, ``max tr(P^T M)``) leaks 1.55 points less. "released" keeps the release's.
* **Scales.** The release's erase weight (800 on SD1.4) is compared, inside M, with squared outputs
  ``|W0 x|^2``: it is an absolute number, tuned on SD1.4's CLIP and weights, and on an encoder or model of
  another scale the same number erases nothing (or flips everything). "relative" (the default) states the
  weights in the units of the problem at hand: the ridge in units of a real token's energy per dimension
  ``t``, the erase weight in units of a real token's output energy per channel ``k = t rho``, so M scales
  with the tokens and the weights (degree 2 in each) and R does not change when either is rescaled. On a
  CLIP-L-scale problem -- layer-normalised tokens (``|x|^2 = d``, t = 1) and weights with unit rows (rho = 1,
  the scale of SD's initialisation, randn / sqrt(fan_in)) -- k = t = 1 and the release's SD1.4 values are used
  as they are. "released": k = t = 1 everywhere.
* **Prior convention.** The release's C_g averages over real tokens (its attention mask); so does C here, in
  both modes, so its prior_scale (70) means what it means there.

Computed in float64, in the coordinates of W0's column space: for n > d, with ``W0 = Q T`` (reduced QR, Q [n, d]),
every term of M lies in span(Q), so ``M = Q m Q^T`` with ``m = Q^T M Q`` [d, d], ``R = Q R_m Q^T + (I - Q Q^T)``
and ``W = Q R_m T`` (SD1.5's 1280-wide layers: an SVD of 768 x 768 instead of 1280 x 1280), and a reflection
of span(Q)'s complement makes any R_m proper at no cost; for n <= d, Q = I and T = W0, and the determinant is
fixed as Kabsch does, by flipping the singular pair of the smallest singular value.

Choices where the release is ambiguous: the projectors span the distinct output directions (the release's
reduced QR of a guide repeated for every concept adds arbitrary directions to Pi_G); the determinant is fixed by
Kabsch's rule (the release negates R's last column, which is not the best rotation); with null-space precision
the outputs ``W0 U`` of the protected directions are held fixed and only their orthogonal complement is rotated
(the exact maximiser under ``R W0 U = W0 U``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .method import Editor, KeyEdit, Method
from .prelude import Prelude, preserve_weight
from .solve import gram
from .subspace import complement, span_basis

PRIOR_FALLBACK = ("this preserve prior has no real-token statistic (a cache made before it existed): OCE used its "
                  "mean over every position instead; rebuild the prior for OCE's convention")


def rotation(M: Tensor, proper: bool) -> Tensor:
    """The orthogonal R maximising ``tr(R^T M)`` (``U V^T``); with ``proper``, the best with det R = +1 (Kabsch)."""
    U, _, Vh = torch.linalg.svd(M)
    R = U @ Vh
    if proper and torch.linalg.det(R) < 0:
        U = U.clone()
        U[:, -1] = -U[:, -1]
        R = U @ Vh
    return R


@dataclass(frozen=True)
class Orthogonal(Method):
    """OCE (the module docstring)."""

    name: str = "oce"
    full_rank: bool = True

    def prepare(self, prelude: Prelude) -> OrthogonalEditor:
        return OrthogonalEditor(prelude)


OCE = Orthogonal()


class OrthogonalEditor(Editor):
    """OCE for one ``unlearn`` call: the layer-independent parts; ``edit(key, W0)`` rotates one weight."""

    def __init__(self, prelude: Prelude):
        config, tokens, prior = prelude.config, prelude.tokens, prelude.prior
        self.config, self.tokens = config, tokens
        guides = tokens.anchor_pool[tokens.token_slot[prelude.first]]  # each anchor's last word token [m, d]
        # span{W0 x_j} = W0 span{x_j}: bases of the erased and guide tokens' spans, once per call
        self.erased_inputs = span_basis(tokens.E.double().T)
        self.guide_inputs = span_basis(guides.double().T)
        self.preserve_scale = preserve_weight(config, tokens.preserve_last.shape[0])
        self.warnings: tuple[str, ...] = ()
        d, device = tokens.d, tokens.E.device
        C = None
        if prior is not None:
            C = prior.token_mean()
            if C is None:
                C, self.warnings = prior.mean() / tokens.sequence, (PRIOR_FALLBACK,)
            C = C.to(device)
        if C is not None:
            energy = float(torch.trace(C)) / d
        else:  # without a prior: the real tokens at hand, the concepts' and + lines' last words
            keys = torch.cat([tokens.E, tokens.preserve_last]).double()
            energy = float(keys.pow(2).sum(1).mean()) / d
        self.relative = config.oce_scales == "relative"
        self.token_energy = energy
        ridge = config.lam * (energy if self.relative else 1.0)
        # A = s_c sum_p k_p k_p^T + s_g C + lam t I, so that the preservation terms of M are W0 A W0^T.
        A = ridge * torch.eye(d, dtype=torch.float64, device=device)
        A += self.preserve_scale * gram(tokens.preserve_last)
        if C is not None:
            A += config.prior_scale * C
        self.A = A
        self.protected = prelude.protected

    def edit(self, key: str, weight: Tensor) -> KeyEdit:
        """``R W0 - W0`` [n, d] (in the weight's dtype) for one weight W0 [n, d]."""
        W0 = weight.double()
        n, d = W0.shape
        Q, T = torch.linalg.qr(W0) if n > d else (None, W0)  # W0 = Q T, Q [n, d]
        r = T.shape[0]
        unit = self.token_energy * float(W0.pow(2).sum()) / n if self.relative else 1.0
        erased = span_basis(T @ self.erased_inputs)  # Pi_E = erased erased^T, in Q's coordinates
        guided = span_basis(T @ self.guide_inputs)
        away = erased @ erased.T - guided @ ((guided.T @ erased) @ erased.T)  # (I - Pi_G) Pi_E
        m = T @ self.A @ T.T - self.config.erase_scale * unit * away
        if self.config.oce_orientation == "released":
            m = m.T
        proper = r == n
        if self.protected is None:
            R = rotation(m, proper)
        else:  # hold W0 U fixed: rotate only the complement of its span (nothing, when the span is everything)
            fixed = span_basis(T @ self.protected.directions)
            free = complement(fixed)
            turn = rotation(free.T @ m @ free, proper) if free.shape[1] else free.T @ free
            R = fixed @ fixed.T + free @ turn @ free.T
        delta = (R - torch.eye(r, dtype=R.dtype, device=R.device)) @ T
        return KeyEdit((delta if Q is None else Q @ delta).to(weight.dtype))
