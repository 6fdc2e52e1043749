"""The batched exact solve of every row's normal equations (spec 2.4 and 6).

Every method reduces, for each output row i of one weight ``W0 [n, d]``, to

    (G(mu) + alpha_i Pi) w_i = c(mu) w0_i + h_i,    G(mu) = c(mu) I + J0 + mu R1         (*)

where ``c(mu) = lam + mu`` ("scapre") or ``lam`` (mu = 0, the other methods), ``J0`` is a
weighted sum of token Gram matrices, ``R1 = F_R F_R^T`` (the spectral regulariser per unit
mu), ``Pi = F_P F_P^T`` (the concept projector) and ``h_i`` lies in the span S of the tokens.
With ``w_i = w0_i + delta_i`` it becomes

    (G(mu) + alpha_i Pi) delta_i = h_i - (J0 + mu R1) w0_i - alpha_i Pi w0_i =: rho_i - alpha_i Pi w0_i,

whose right-hand side is exactly zero wherever the objective is already minimised at W0. The
authors factorise ``G + alpha_i Pi`` once per row; ``RowSolver`` solves all rows of all keys
with one decomposition per call:

1. If the tokens span fewer than d dimensions, ``O [d, r]`` is an orthonormal basis of S (QR),
   else ``O = I``. Outside S the right-hand side is 0 and G = c I, so delta has no component
   there: directions orthogonal to every token are never changed.
2. In S, ``G(mu) = C + mu D`` with ``C = lam I + J0`` and ``D = I + R1`` (``D = I`` without R).
   The generalised eigendecomposition ``Phi^T C Phi = Lambda``, ``Phi^T D Phi = I`` gives
   ``G(mu)^-1 = Phi (Lambda + mu)^-1 Phi^T`` for every key's mu; let ``Psi = O Phi``.
3. Per key: ``z_i = Psi^T rho_i / (Lambda + mu)``. The rank-k term is added by Woodbury with
   one k x k eigendecomposition per key: ``K = Psi^T F_P``,
   ``K^T (Lambda + mu)^-1 K = Gamma diag(eta) Gamma^T``, ``B = K Gamma``,
   ``t_i = (B^T z_i + Gamma^T F_P^T w0_i) * alpha_i / (1 + alpha_i eta)``,
   ``w_hat_i = z_i - (Lambda + mu)^-1 B t_i`` and ``delta_i = Psi w_hat_i``.

The decomposition runs in float64; the per-key products run in the solver's dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

_CHUNK = 8192


class RowSolver:
    """Solves (*) for all rows of a weight; built once per call, used for every key.

    Args:
        span_tokens: [N, d] token vectors whose span contains J0, R1, Pi and every h_i.
        quadratic: name -> (weight, tokens [N_g, d]); ``J0 = sum weight * tokens^T tokens``.
        lam: the ridge lambda.
        regulariser: F_R [d, k_R] or None (then D = I).
        projector: F_P [d, k_P] or None (no alpha term).
        dtype: dtype of the per-key products.
    """

    def __init__(self, span_tokens: Tensor, quadratic: dict[str, tuple[float, Tensor]], lam: float,
                 regulariser: Tensor | None, projector: Tensor | None, dtype: torch.dtype):
        d = span_tokens.shape[1]
        device = span_tokens.device
        self.dtype = dtype
        self.basis = None
        if span_tokens.shape[0] < d:
            self.basis, _ = torch.linalg.qr(span_tokens.T.double())
        self.rank = d if self.basis is None else self.basis.shape[1]

        self._grams = {name: self._gram(tokens) for name, (_, tokens) in quadratic.items()}
        C = lam * torch.eye(self.rank, dtype=torch.float64, device=device)
        for name, (weight, _) in quadratic.items():
            C += weight * self._grams[name]
        if regulariser is None:
            eig, phi = torch.linalg.eigh(C)
        else:
            reg = self._restrict(regulariser.double().T).T
            chol = torch.linalg.cholesky(torch.eye(self.rank, dtype=torch.float64, device=device) + reg @ reg.T)
            half = torch.linalg.solve_triangular(chol, C, upper=False)
            reduced = torch.linalg.solve_triangular(chol, half.T, upper=False)
            eig, gamma = torch.linalg.eigh((reduced + reduced.T) / 2)
            phi = torch.linalg.solve_triangular(chol.T, gamma, upper=True)
        self.eig = eig
        self._phi = phi
        self.psi64 = phi if self.basis is None else self.basis @ phi
        self.psi = self.psi64.to(dtype)
        self.projector = None if projector is None else projector.double()
        self.pi_coords = None if projector is None else self.psi64.T @ self.projector

    def _restrict(self, tokens: Tensor) -> Tensor:
        return tokens if self.basis is None else tokens @ self.basis

    def _gram(self, tokens: Tensor) -> Tensor:
        out = torch.zeros(self.rank, self.rank, dtype=torch.float64, device=tokens.device)
        for start in range(0, tokens.shape[0], _CHUNK):
            block = self._restrict(tokens[start:start + _CHUNK].double())
            out += block.T @ block
        return out

    def coords(self, tokens: Tensor) -> Tensor:
        """Tokens [N, d] in the solver's coordinates, ``tokens @ Psi`` -> [N, r] (solver dtype)."""
        return tokens.to(self.dtype) @ self.psi

    def gram_fold(self, name: str) -> Tensor:
        """``T^T T Psi`` [d, r] (float64) for the quadratic group ``name``, from its Gram matrix.

        T's rows lie in the span O, so ``T^T T Psi = O (O^T T^T T O) Phi``: no pass over the tokens.
        """
        folded = self._grams[name] @ self._phi
        return folded if self.basis is None else self.basis @ folded

    def token_fold(self, tokens: Tensor) -> Tensor:
        """``tokens^T tokens Psi`` [d, r] (float64) for a few tokens outside the quadratic groups."""
        tokens = tokens.double()
        return tokens.T @ (tokens @ self.psi64)

    def solve(self, weight: Tensor, rhs: Tensor, mu: float, alpha: Tensor | None) -> Tensor:
        """Solve (*) for every row and return ``delta = W - W0`` [n, d].

        Args:
            weight: W0 [n, d] in the solver's dtype (only read for the alpha term).
            rhs: [n, r], row i = ``Psi^T rho_i``.
            mu: this key's mu (0 for methods without it).
            alpha: [n] per-row weight of Pi, or None.
        """
        scale = (self.eig + mu).to(self.dtype)
        z = rhs / scale
        if alpha is not None and self.pi_coords is not None:
            K = self.pi_coords
            eta, gamma = torch.linalg.eigh(K.T @ (K / (self.eig + mu)[:, None]))
            B = (K @ gamma).to(self.dtype)
            alpha = alpha.to(self.dtype)[:, None]
            t = (z @ B + weight @ (self.projector @ gamma).to(self.dtype)) * (alpha / (1 + alpha * eta.to(self.dtype)))
            z = z - (t @ B.T) / scale
        return z @ self.psi.T
