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


def sorting_network(size: int) -> list[tuple[int, int]]:
    """Comparators ``(i, j)``, i < j, that sort ``size`` values (each puts the smaller at i): Batcher's odd-even
    merge sort for the next power of two, without the comparators reaching past ``size`` (inputs there being +inf,
    such a comparator never moves anything)."""
    full = 1 << max(size - 1, 0).bit_length()
    pairs = []
    span = 1
    while span < full:
        step = span
        while step >= 1:
            for start in range(step % span, full - step, 2 * step):
                for i in range(start, min(start + step, full - step)):
                    if i // (2 * span) == (i + step) // (2 * span):
                        pairs.append((i, i + step))
            step //= 2
        span *= 2
    return [(i, j) for i, j in pairs if j < size]


def order_statistic(samples: Tensor, k: int) -> Tensor:
    """The k-th smallest (1-based) of ``samples`` [s, ...] along dim 0, ``samples.kthvalue(k, 0).values`` exactly.

    By the comparators of ``sorting_network(s)`` that lead to position k - 1, each an elementwise min and max of
    two whole slices: exact (values are only compared and moved), and ~2 s passes over the slices instead of one
    small selection per column.
    """
    needed, network = {k - 1}, []
    for i, j in reversed(sorting_network(samples.shape[0])):
        if i in needed or j in needed:
            network.append((i, j))
            needed |= {i, j}
    values = list(samples.unbind(0))
    for i, j in reversed(network):
        values[i], values[j] = torch.minimum(values[i], values[j]), torch.maximum(values[i], values[j])
    return values[k - 1]


def mutual_information_table(k: int) -> Tensor:
    """The plug-in MI of every 2x2 table of 2k samples: [k + 1, k + 1] float64, entry ``[a, b]`` for ``a`` positives
    and ``b`` negatives above the threshold (so ``k - a`` and ``k - b`` not above)."""
    above = torch.arange(k + 1, dtype=torch.float64)
    n11, n10 = above[:, None] + EPS, above[None, :] + EPS
    n01, n00 = (k - above)[:, None] + EPS, (k - above)[None, :] + EPS
    total = 2 * k
    p11, p10, p01, p00 = n11 / total, n10 / total, n01 / total, n00 / total
    p1_, p0_ = p11 + p10, p01 + p00
    p_1, p_0 = p11 + p01, p10 + p00
    return (p11 * torch.log(p11 / (p1_ * p_1)) + p10 * torch.log(p10 / (p1_ * p_0))
            + p01 * torch.log(p01 / (p0_ * p_1)) + p00 * torch.log(p00 / (p0_ * p_0)))


def mutual_information(samples: Tensor) -> Tensor:
    """Plug-in MI between label and "above the lower median", per column.

    samples: [2K, ...] activations, K positive samples followed by K negative samples along dim 0.
    Returns [...] in float64, looked up in ``mutual_information_table(K)`` by the two counts: MI is a function of
    integer counts, so columns with the same table get bit-identical values whatever the activations' dtype.
    (When every row separates the labels perfectly, the std across rows is exactly 0; in float32 a rounding error
    of ~1e-8 in the mean would meet the 1e-8 in the denominator and flip the masks.)
    """
    k = samples.shape[0] // 2
    tau = order_statistic(samples, k)  # lower median of 2K values
    positives = (samples[:k] > tau).sum(0)
    negatives = (samples[k:] > tau).sum(0)
    return mutual_information_table(k).to(samples.device)[positives, negatives]


def soft_mask(mi: Tensor, p: float, T: float) -> Tensor:
    """``sigmoid(standardised MI / T) ** p``, standardising over the last (row) dimension."""
    spread = mi.std(dim=-1, keepdim=True) if mi.shape[-1] > 1 else torch.zeros_like(mi)
    standard = (mi - mi.mean(dim=-1, keepdim=True)) / (spread + EPS)
    return torch.sigmoid(standard / T).pow(p)
