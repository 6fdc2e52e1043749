"""The batched exact solve of every row's normal equations (spec 2.4 and 6).

Every additive method reduces, for each output row i of one weight ``W0 [n, d]``, to

    (G(mu) + alpha_i Pi) w_i = c(mu) w0_i + h_i,    G(mu) = c(mu) I + J0 + mu R1         (*)

where ``c(mu) = lam + mu`` ("scapre") or ``lam`` (mu = 0, the other methods), ``J0`` is a
weighted sum of second-moment (Gram) matrices, ``R1 = F_R F_R^T`` (the spectral regulariser per
unit mu), ``Pi = F_P F_P^T`` (the concept projector). With ``w_i = w0_i + delta_i`` it becomes

    (G(mu) + alpha_i Pi) delta_i = h_i - (J0 + mu R1) w0_i - alpha_i Pi w0_i =: rho_i - alpha_i Pi w0_i,

whose right-hand side is exactly zero wherever the objective is already minimised at W0. Every
delta_i is sought in one subspace, spanned by the orthonormal ``O [d, r]`` of ``update_basis``:
the span S of the tokens (outside S the right-hand side is 0 and G = c I, so delta has no
component there: directions orthogonal to every token are never changed), and with null-space
precision only its part orthogonal to the protected directions. Restricted to O, (*) is solved
exactly for all rows of all keys with one factorisation per call (one set of weights reading the same states),
the cheapest exact one for the recipe. ``J0 O`` is formed from the terms' rows (``Quadratic.times``: 4 N d r
flops, no d x d Gram matrix unless O is all of R^d):

* **No per-key shift and r <= d / 2** (mu = 0, no alpha term and a token basis: UCE, ScaPre-base): with
  ``C = lam I + O^T J0 O`` [r, r], a Cholesky factorisation ``C = L L^T`` (r^3 / 3 flops), C^-1 applied by two triangular solves, never formed;
  per key ``w_hat_i = C^-1 O^T rho_i`` (Psi = O), with ``O^T rho_i`` and the product in float64 (2 n d r + 2 n r^2
  flops): C^-1 mixes the coordinates, so a right-hand side rounded to float32 first would carry its rounding
  times cond(C) into the edit. Where r > d / 2 (the preserve prior's full-rank term, most null spaces) those
  float64 products over every key would cost more than the one eigendecomposition below saves, which keeps them
  in the solver's dtype: there the eigendecomposition is used with mu = 0.
* **A per-key shift** (ScaPre's mu, its spectral regulariser R and the alpha projector):
  1. ``D = I + O^T R1 O`` (``D = I`` without R): the generalised eigendecomposition ``Phi^T C Phi = Lambda``,
     ``Phi^T D Phi = I`` gives ``(O^T G(mu) O)^-1 = Phi (Lambda + mu)^-1 Phi^T`` for every key's mu; let
     ``Psi = O Phi``.
  2. Per key: ``z_i = Psi^T rho_i / (Lambda + mu)``. The rank-k term is added by Woodbury with
     one k x k eigendecomposition per key: ``K = Psi^T F_P``,
     ``K^T (Lambda + mu)^-1 K = Gamma diag(eta) Gamma^T``, ``B = K Gamma``,
     ``t_i = (B^T z_i + Gamma^T F_P^T w0_i) * alpha_i / (1 + alpha_i eta)``,
     ``w_hat_i = z_i - (Lambda + mu)^-1 B t_i`` and ``delta_i = Psi w_hat_i``.

So ``delta = W_hat Psi^T`` [n, d] has the rank r of the basis: it is returned as those factors (``Factors``,
up = W_hat [n, r], down = Psi^T [r, d]; dense where O is all of R^d and Psi = I), exact, r (n + d) numbers
instead of n d. The basis is rank-revealing (``token_basis``): r is the aligned rows' numerical rank
(RANK_TOLERANCE), not their count.

The factorisation runs in float64; the per-key products run in the solver's dtype in the eigendecomposition's
coordinates (they scale, never mix, the coordinates), in float64 after a Cholesky factorisation (``rhs_dtype``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .lowrank import Factors

CHUNK = 1024
"""Rows per block when accumulating over many tokens: bounds the float64 temporaries (a block of d = 4096 rows is
32 MB; 8192 rows made several of 256 MB each on FLUX) while each block is still one large matrix product."""


class Rows:
    """Row blocks [N_k, d] (any float dtype) read as their concatenation [N, d], a block of rows at a time in
    float64, without forming the whole (neither the concatenation nor its float64 copy)."""

    def __init__(self, parts: Tensor | Sequence[Tensor]):
        self.parts = [parts] if isinstance(parts, Tensor) else list(parts)
        self.count = sum(part.shape[0] for part in self.parts)
        self.width = self.parts[0].shape[1]
        self.device = self.parts[0].device

    def block(self, start: int, stop: int) -> Tensor:
        """Rows ``start .. stop - 1`` of the concatenation, float64."""
        pieces, offset = [], 0
        for part in self.parts:
            low, high = max(start - offset, 0), min(stop - offset, part.shape[0])
            if low < high:
                pieces.append(part[low:high].double())
            offset += part.shape[0]
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def blocks(self, size: int):
        for start in range(0, self.count, size):
            yield self.block(start, start + size)

    def norm(self) -> float:
        """The Frobenius norm, accumulated in float64 over blocks of CHUNK rows."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for block in self.blocks(CHUNK):
            total += block.pow(2).sum()
        return float(total.sqrt())


def gram(tokens: Tensor | Sequence[Tensor]) -> Tensor:
    """``tokens^T tokens`` [d, d] in float64 (accumulated in chunks of rows; several tensors: of their
    concatenation, ``Rows``)."""
    rows = Rows(tokens)
    out = torch.zeros(rows.width, rows.width, dtype=torch.float64, device=rows.device)
    for block in rows.blocks(CHUNK):
        out += block.T @ block
    return out


class Grams:
    """``gram`` of row tensors for one call, each tensor's formed once and kept: the basis search's Gram route and
    J0's terms read the same token rows (on text states that fill R^d, each Gram is 2 N d^2 float64 flops, 4.4 s for
    SDXL's 1,000 concepts). Called with several tensors, the sum of theirs (a new tensor); the kept ones are never
    written."""

    def __init__(self):
        self._formed: dict[int, tuple[Tensor, Tensor]] = {}  # id -> (the rows, kept alive so the id stays theirs; Gram)

    def __call__(self, parts: Tensor | Sequence[Tensor]) -> Tensor:
        total = None
        for part in [parts] if isinstance(parts, Tensor) else parts:
            known = self._formed.get(id(part))
            if known is None or known[0] is not part:
                known = self._formed[id(part)] = (part, gram(part))
            total = known[1] if total is None else total + known[1]
        return total


RANK_TOLERANCE = {torch.float32: 1e-7, torch.float64: 1e-12}
"""By the solver's dtype: the relative singular value below which a direction of the aligned token rows is dropped
from the update basis; every token row then lies within ``tolerance * |tokens|_F`` of span(O). The edit moves
by the same order (relative) as when the tokens move by that much: in float32, about their own rounding (2^-24 =
6e-8); in float64 far below the float32 states' rounding, which the basis then keeps (so float64 edits are those
of the tokens' full span)."""
GRAM_RESOLUTION = 16 * torch.finfo(torch.float64).eps
"""The smallest relative eigenvalue ``lambda / |tokens|_F^2`` a float64 Gram matrix's eigendecomposition resolves."""
BLOCK = 256
"""Token rows added to the basis at a time (``token_basis``)."""


def token_basis(tokens: Tensor | Sequence[Tensor], tolerance: float, grams: Callable = gram) -> Tensor | None:
    """O [d, r] (float64, orthonormal): a rank-revealing basis of the rows of ``tokens`` [N, d] (one tensor, or
    several read as their concatenation, ``Rows``); None when r = d.

    Gram-Schmidt with row pivoting (a pivoted QR of ``tokens^T``), BLOCK rows at a time: a block's part outside
    the basis so far, ``Y = B (I - O O^T)``, gives up its row of largest norm while that norm is above
    ``tolerance * |tokens|_F``: the row, made orthogonal to O and to the block's earlier pivots once more (so O
    stays orthonormal in floating point) and normalised, joins O and is projected out of Y. So every row lies
    within ``tolerance * |tokens|_F`` of span(O) (the stopping test is on every row's remainder, whose rounding,
    ~eps |row|, is far below any tolerance here), every direction of O is a combination of rows, and a row adds
    nothing its block's earlier pivots already hold. Cost ~4 N d r for the projections (matrix products) and
    ~4 BLOCK d per direction; no d x d work and no eigen- or singular value decomposition (whose many small
    parallel steps stall when the cores are shared). Memory: the basis and one block in float64 besides the rows.
    When r passes d / 4 and there are more rows than d, the rest is cheaper from the Gram matrix: the eigenvectors
    of ``tokens^T tokens`` whose eigenvalue is above ``(tolerance * |tokens|_F)^2`` (2 N d^2 + 9 d^3); where that
    is below what a float64 Gram matrix resolves (GRAM_RESOLUTION), all of R^d (None) instead. ``grams``: how the
    Gram matrix of ``tokens`` is formed (a call's ``Grams``, to share it).
    """
    rows = Rows(tokens)
    N, d = rows.count, rows.width
    threshold = tolerance * rows.norm()
    basis = torch.zeros(d, 0, dtype=torch.float64, device=rows.device)
    pivots = torch.empty(BLOCK, d, dtype=torch.float64, device=rows.device)  # a block's new directions, as rows
    for start in range(0, N, BLOCK):
        block = _outside(rows.block(start, start + BLOCK), basis)
        k = 0
        while basis.shape[1] + k < d:
            norms = block.norm(dim=1)
            pivot = int(norms.argmax())
            if not float(norms[pivot]) > threshold:
                break
            direction = block[pivot]
            direction = direction - pivots[:k].T @ (pivots[:k] @ direction)
            direction = direction - basis @ (basis.T @ direction)
            direction = direction / direction.norm()
            block = block - (block @ direction)[:, None] * direction
            pivots[k] = direction
            k += 1
        if k:
            basis = torch.cat([basis, pivots[:k].T], dim=1)
        if 4 * basis.shape[1] > d and N > d:
            if tolerance**2 < GRAM_RESOLUTION:
                return None
            eig, vectors = torch.linalg.eigh(grams(rows.parts))
            basis = vectors[:, eig > threshold**2]
            break
    return None if basis.shape[1] == d else basis


def _outside(rows: Tensor, basis: Tensor) -> Tensor:
    """``rows (I - O O^T)``: the rows' parts orthogonal to span(O) (O [d, r] orthonormal)."""
    return rows - (rows @ basis) @ basis.T


def update_basis(span_tokens: Sequence[Tensor] | None, allowed: Tensor | None, tolerance: float,
                 grams: Callable = gram) -> Tensor | None:
    """O [d, r]: an orthonormal basis of the subspace the row updates are sought in; None = all of R^d.

    Args:
        span_tokens: token rows [N_k, d], read as one [N, d] (``Rows``), whose span contains every quadratic term and
            right-hand side, or None when some term has full rank (e.g. the preserve prior).
        allowed: [d, a] orthonormal basis of the directions an update may take (null-space
            precision), or None for no constraint.
        tolerance: the basis' relative tolerance (RANK_TOLERANCE).
        grams: how the tokens' Gram matrix is formed, where the search needs it (``token_basis``).

    Without a constraint: the tokens' rank-revealing basis (``token_basis``), of the rows' numerical rank r
    however many rows there are. With one: the same basis of the tokens' projections onto ``allowed``, mapped
    back, ``allowed @ token_basis(tokens @ allowed)`` (``allowed`` itself when that is all of it; the projections
    [N, a] are formed in float64 block by block). Either way O contains the projection of every token, which is
    all the constrained minimiser can use, and lies inside ``allowed``.
    """
    if allowed is None:
        return None if span_tokens is None else token_basis(span_tokens, tolerance, grams)
    if span_tokens is None:
        return allowed
    inside = token_basis(torch.cat([block @ allowed for block in Rows(span_tokens).blocks(CHUNK)]), tolerance)
    return allowed if inside is None else allowed @ inside


class Quadratic:
    """One term ``weight * Q`` of J0: Q = ``rows^T rows`` for rows [N, d] (any float dtype), or a given ``matrix``
    [d, d] (the preserve prior's mean).

    ``span``: O [d, r] (float64, orthonormal, a ``token_basis`` of the rows or of rows containing them), known to
    hold every row to its tolerance; then Q = O (rows O)^T (rows O) O^T to that tolerance, formed in 2 N d r +
    2 d^2 r flops instead of the Gram's 2 N d^2 (FLUX.1's 100 concepts: 0.1 s instead of 2 s). ``grams``: how the
    Gram is formed otherwise (a call's ``Grams``, to share it).
    """

    def __init__(self, weight: float, rows: Tensor | None = None, matrix: Tensor | None = None,
                 span: Tensor | None = None, grams: Callable = gram):
        self.weight, self.rows, self.matrix, self.span, self.grams = weight, rows, matrix, span, grams

    def times(self, psi: Tensor | None) -> Tensor:
        """``weight * Q psi`` [d, r] in float64 (``weight * Q`` for psi None = the identity); from rows as
        ``rows^T (rows psi)``, CHUNK rows at a time, so Q [d, d] is formed only for psi None."""
        if self.matrix is not None:
            return self.weight * (self.matrix.double() if psi is None else self.matrix.double() @ psi)
        if psi is None and self.span is not None:
            O = self.span
            inner = torch.cat([block @ O for block in Rows(self.rows).blocks(CHUNK)])
            return self.weight * ((O @ (inner.T @ inner)) @ O.T)
        if psi is None:
            return self.weight * self.grams(self.rows)
        out = torch.zeros(psi.shape, dtype=torch.float64, device=psi.device)
        for start in range(0, self.rows.shape[0], CHUNK):
            block = self.rows[start:start + CHUNK].double()
            out += block.T @ (block @ psi)
        return self.weight * out


class RowSolver:
    """Solves (*) restricted to one subspace for all rows of a weight; built once per call, used for every key.

    Args:
        basis: O [d, r] from ``update_basis`` (float64), or None for all of R^d.
        applied: ``J0 O`` [d, r] float64 (``J0`` for basis None), the terms' ``Quadratic.times(basis)`` summed.
        lam: the ridge lambda.
        regulariser: F_R [d, k_R] or None (then D = I).
        projector: F_P [d, k_P] or None (no alpha term).
        spectral: factorise by the eigendecomposition (needed where keys have mu != 0, and taken whenever R or a
            projector is given); else by Cholesky.
        dtype: dtype of the per-key products.

    ``psi64`` is Psi (float64; None for the identity: Cholesky in all of R^d), ``rank`` its columns; ``phi`` is Phi
    (None where Psi = O); ``rhs_dtype`` the dtype of the right-hand sides ``solve`` takes (``coords``' dtype).
    """

    def __init__(self, basis: Tensor | None, applied: Tensor, lam: float, regulariser: Tensor | None,
                 projector: Tensor | None, spectral: bool, dtype: torch.dtype):
        device = applied.device
        self.dtype = dtype
        self.basis = basis
        self.rank = applied.shape[1]
        restricted = applied if basis is None else basis.T @ applied
        C = lam * torch.eye(self.rank, dtype=torch.float64, device=device) + (restricted + restricted.T) / 2
        self.spectral = spectral or projector is not None or regulariser is not None
        self.projector = self.pi_coords = self.cholesky = None
        self.rhs_dtype = dtype if self.spectral else torch.float64
        if not self.spectral:
            self.cholesky = torch.linalg.cholesky(C)
            self.phi, self.psi64 = None, basis
        else:
            if regulariser is None:
                eig, phi = torch.linalg.eigh(C)
            else:
                reg = self._restrict(regulariser.double().T).T
                chol = torch.linalg.cholesky(torch.eye(self.rank, dtype=torch.float64, device=device) + reg @ reg.T)
                half = torch.linalg.solve_triangular(chol, C, upper=False)
                reduced = torch.linalg.solve_triangular(chol, half.T, upper=False)
                eig, gamma = torch.linalg.eigh((reduced + reduced.T) / 2)
                phi = torch.linalg.solve_triangular(chol.T, gamma, upper=True)
            self.eig, self.phi = eig, phi
            self.psi64 = phi if basis is None else basis @ phi
            if projector is not None:
                self.projector = projector.double()
                self.pi_coords = self.psi64.T @ self.projector
        self.psi = None if self.psi64 is None else self.psi64.to(dtype)

    def inverse_times(self, columns: Tensor) -> Tensor:
        """``C^-1 columns`` [d, k] float64, for a solver of all of R^d without a per-key shift (C = lam I + J0)."""
        if self.basis is not None:
            raise ValueError("inverse_times needs a solver of all of R^d")
        if not self.spectral:
            return torch.cholesky_solve(columns, self.cholesky)
        return self.phi @ ((self.phi.T @ columns) / self.eig[:, None])

    def _restrict(self, tokens: Tensor) -> Tensor:
        """Rows [N, d] -> their coordinates in O, [N, r] (unchanged without a basis)."""
        return tokens if self.basis is None else tokens @ self.basis

    def from_basis(self, applied: Tensor) -> Tensor:
        """``J O`` [d, r] (float64, O's coordinates) -> ``J Psi`` (``J O Phi``; unchanged where Psi = O)."""
        return applied if self.phi is None else applied @ self.phi

    def project(self, rows: Tensor) -> Tensor:
        """Float64 rows [N, d] -> ``rows @ Psi`` [N, r] (unchanged where Psi is the identity)."""
        return rows if self.psi64 is None else rows @ self.psi64

    def coords(self, tokens: Tensor) -> Tensor:
        """Tokens [N, d] in the solver's coordinates, ``tokens @ Psi`` -> [N, r] (``rhs_dtype``)."""
        tokens = tokens.to(self.rhs_dtype)
        return tokens if self.psi64 is None else tokens @ self.psi64.to(self.rhs_dtype)

    def solve(self, weight: Tensor, rhs: Tensor, mu: float, alpha: Tensor | None) -> Factors | Tensor:
        """Solve (*) for every row and return ``delta = W - W0`` [n, d] as its factors ``W_hat @ Psi^T`` (dense
        ``W_hat`` where Psi is the identity).

        Args:
            weight: W0 [n, d] in the solver's dtype (only read for the alpha term).
            rhs: [n, r], row i = ``Psi^T rho_i`` (``rhs_dtype``).
            mu: this key's mu (0 for methods without it).
            alpha: [n] per-row weight of Pi, or None.
        """
        if not self.spectral:
            if mu != 0:
                raise ValueError("a solver prepared without a per-key shift was given mu != 0")
            up = torch.cholesky_solve(rhs.T, self.cholesky).T.to(self.dtype)  # rhs C^-1 (C symmetric)
            return up if self.psi is None else Factors(up, self.psi.T)
        scale = (self.eig + mu).to(self.dtype)
        z = rhs / scale
        if alpha is not None and self.pi_coords is not None:
            K = self.pi_coords
            eta, gamma = torch.linalg.eigh(K.T @ (K / (self.eig + mu)[:, None]))
            B = (K @ gamma).to(self.dtype)
            alpha = alpha.to(self.dtype)[:, None]
            t = (z @ B + weight @ (self.projector @ gamma).to(self.dtype)) * (alpha / (1 + alpha * eta.to(self.dtype)))
            z = z - (t @ B.T) / scale
        return Factors(z, self.psi.T)
