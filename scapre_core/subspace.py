"""Orthonormal bases of spans and of their complements (float64 helpers shared by the null space and OCE)."""

from __future__ import annotations

import torch
from torch import Tensor


def span_basis(vectors: Tensor) -> Tensor:
    """Orthonormal basis [r, k] of the span of the columns of ``vectors`` [r, m] (singular values above rounding)."""
    if vectors.shape[1] == 0:
        return vectors
    U, sigma, _ = torch.linalg.svd(vectors, full_matrices=False)
    keep = sigma > sigma.max() * max(vectors.shape) * torch.finfo(vectors.dtype).eps
    return U[:, keep]


def complement(basis: Tensor) -> Tensor:
    """Orthonormal basis of the orthogonal complement of span(``basis`` [r, k], orthonormal) in R^r: the last r - k
    columns of the complete QR factor ``Q`` of ``basis = Q R`` (Householder: orthonormal to rounding)."""
    r, k = basis.shape
    if k == 0:
        return torch.eye(r, dtype=basis.dtype, device=basis.device)
    return torch.linalg.qr(basis, mode="complete").Q[:, k:]


def principal(second_moment: Tensor) -> tuple[Tensor, Tensor]:
    """(eigenvalues descending, clamped at 0; eigenvectors as columns) of a symmetric PSD matrix, in float64."""
    sigma, vectors = torch.linalg.eigh(second_moment.double())
    return sigma.flip(0).clamp_min(0), vectors.flip(1)


def principal_of_rows(rows: Tensor) -> tuple[Tensor, Tensor]:
    """``principal(rows^T rows)`` for rows [N, d], in float64; through a thin SVD when N < d (cheaper, and the
    small eigenvalues keep their relative accuracy). Only the first min(N, d) eigenpairs are returned then."""
    rows = rows.double()
    if rows.shape[0] >= rows.shape[1]:
        return principal(rows.T @ rows)
    _, sigma, vh = torch.linalg.svd(rows, full_matrices=False)
    return sigma.pow(2), vh.T
