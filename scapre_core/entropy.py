"""Normalised activation entropy per output row (spec 2.3.1; ``_compute_entropy_factor``).

For row i, the samples a_{i,k} (k over concepts x noisy copies) are min-max normalised to
[0, 1] with ``(a - min) / (max - min + 1e-8)``, counted into ``bins`` equal bins on [0, 1]
(the last bin closed, as ``torch.histc``), and
``H_i = -sum_b p_b log(p_b + 1e-8)`` with ``p_b = count_b / (samples + 1e-8)``.
The result is ``H_i / log(bins)`` in [0, 1] (1 = activations spread evenly).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-8


def normalized_entropy(acts: Tensor, bins: int) -> Tensor:
    """Per-row normalised histogram entropy of ``acts [samples, n]`` (row i's samples in column i) -> [n] float64
    (from the counts). Samples first: the layout the noise product makes, so every pass reads whole rows."""
    samples, n = acts.shape
    low, high = acts.amin(dim=0), acts.amax(dim=0)  # (aminmax is ~10x slower here)
    unit = (acts - low).div_(high - low + EPS)
    index = unit.mul_(bins).floor_().clamp_(0, bins - 1).to(torch.int32)
    index += torch.arange(n, dtype=torch.int32, device=acts.device) * bins  # one bin range per row
    counts = torch.bincount(index.flatten(), minlength=n * bins).view(n, bins).double()
    p = counts / (samples + EPS)
    return -(p * torch.log(p + EPS)).sum(dim=1) / math.log(bins)
