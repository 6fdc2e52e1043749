"""The Informax soft mask (spec 2.3.2; ``_compute_mi_softmask_emptyneg``).

For concept j and output row i, the activations of 5 noisy copies of the concept's last token
(label 1) and 5 of the empty prompt's end token (label 0) are binarised at the row's lower
median (``torch.median`` of 10 values returns the 5th smallest), giving a 2x2 table. With
``1e-8`` added to each count and counts divided by 10, the plug-in mutual information is

    MI_i = sum_{z,y} p(z,y) log(p(z,y) / (p(z) p(y))).

MI is standardised across rows, ``(MI - mean) / (std + 1e-8)`` (unbiased std), and the mask
is ``q_{j,i} = sigmoid(MI_std / T) ** p``.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-8


def mutual_information(acts: Tensor) -> Tensor:
    """Plug-in MI between label and "above the row's lower median", per row.

    acts: [..., n, 2K] activations of K positive samples followed by K negative samples.
    Returns [..., n] in float64: MI is a function of integer counts, so rows with the same table
    get bit-identical values whatever the activations' dtype. (When every row separates the
    labels perfectly, the std across rows is exactly 0; in float32 a rounding error of ~1e-8 in
    the mean would meet the 1e-8 in the denominator and flip the masks.)
    """
    k = acts.shape[-1] // 2
    tau = acts.kthvalue(k, dim=-1, keepdim=True).values  # lower median of 2K values
    above = acts > tau
    n11 = above[..., :k].sum(-1).double() + EPS
    n10 = above[..., k:].sum(-1).double() + EPS
    n01 = (~above[..., :k]).sum(-1).double() + EPS
    n00 = (~above[..., k:]).sum(-1).double() + EPS
    total = 2 * k
    p11, p10, p01, p00 = n11 / total, n10 / total, n01 / total, n00 / total
    p1_, p0_ = p11 + p10, p01 + p00
    p_1, p_0 = p11 + p01, p10 + p00
    return (p11 * torch.log(p11 / (p1_ * p_1)) + p10 * torch.log(p10 / (p1_ * p_0))
            + p01 * torch.log(p01 / (p0_ * p_1)) + p00 * torch.log(p00 / (p0_ * p_0)))


def soft_mask(mi: Tensor, p: float, T: float) -> Tensor:
    """``sigmoid(standardised MI / T) ** p``, standardising over the last (row) dimension."""
    spread = mi.std(dim=-1, keepdim=True) if mi.shape[-1] > 1 else torch.zeros_like(mi)
    standard = (mi - mi.mean(dim=-1, keepdim=True)) / (spread + EPS)
    return torch.sigmoid(standard / T).pow(p)
