"""Seeded noise for the activation statistics (the authors draw it unseeded).

Every noisy embedding the statistics use is ``v + noise_sigma * xi`` with ``xi ~ N(0, I_d)``,
as in the authors' code. Drawing fresh d-dimensional noise for every key would cost
``m * (entropy_samples + 20) * d`` normal draws per key (14 billion for 1,000 concepts on
SDXL), so the draws are shared and made key-specific cheaply:

* ``NoiseBank``: one draw per ``unlearn`` call from ``torch.Generator().manual_seed(seed)``, on
  the CPU (so results do not depend on the device).
* ``KeyTransform``: per key, a random permutation and random signs of the d coordinates from a
  generator seeded with ``(seed, key)``. ``xi_key = signs * xi[..., perm]`` is again exactly
  i.i.d. N(0, I_d), different for every key, and independent of the order keys are processed.
  ``W0 @ xi_key == permuted_weight(W0) @ xi``, so the fast path never materialises xi_key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

MI_SAMPLES = 5
"""Positive (and negative) samples per concept in each informax mask (``num_pos`` in the code)."""


def key_seed(seed: int, key: str) -> int:
    """A 63-bit seed derived from the config seed and a weight key (stable across runs)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@dataclass
class NoiseBank:
    """Standard-normal draws shared by all keys of one call (float32, CPU).

    entropy: [m, entropy_samples, d], the noisy copies of each concept token;
    masks: [mask_sets, m, 2 * MI_SAMPLES, d], for each Informax mask set and concept the noise of
    the MI_SAMPLES positives (concept token) followed by that of the MI_SAMPLES negatives (empty
    prompt's end token). "scapre" uses set 0 for alpha and set 1 for the target masks, drawn
    independently as in the authors' code; "scapre_base" has one set.
    """

    entropy: Tensor
    masks: Tensor

    @classmethod
    def draw(cls, seed: int, m: int, d: int, entropy_samples: int, mask_sets: int) -> NoiseBank:
        g = torch.Generator().manual_seed(seed)
        entropy = torch.randn(m, entropy_samples, d, generator=g)
        masks = torch.randn(mask_sets, m, 2 * MI_SAMPLES, d, generator=g)
        return cls(entropy, masks)


@dataclass
class KeyTransform:
    """The per-key permutation and signs turning the shared draws into this key's noise."""

    perm: Tensor
    signs: Tensor

    @classmethod
    def for_key(cls, seed: int, key: str, d: int) -> KeyTransform:
        g = torch.Generator().manual_seed(key_seed(seed, key))
        perm = torch.randperm(d, generator=g)
        signs = torch.randint(0, 2, (d,), generator=g).float() * 2 - 1
        return cls(perm, signs)

    def noise(self, xi: Tensor) -> Tensor:
        """This key's noise from shared draws ``xi [..., d]``: ``signs * xi[..., perm]``."""
        return self.signs * xi[..., self.perm]

    def permuted_weight(self, weight: Tensor) -> Tensor:
        """``W'`` with ``W' @ xi == weight @ self.noise(xi)`` for every ``xi``."""
        signed = weight * self.signs.to(weight)
        return torch.index_select(signed, 1, torch.argsort(self.perm).to(weight.device))
