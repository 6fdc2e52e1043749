"""Generate toy images with the eval sampler and score them with the oracle (shared by build, bench and tests)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import env, world
from .sampler import prepare_noise, sample

# The sampler settings of every toy measurement (and of the README demo in ComfyUI):
# KSampler sampler_name "euler", scheduler "normal", steps 10, cfg 5.0, negative prompt "" (empty), 64 x 64.
SAMPLER = {"sampler": "euler", "scheduler": "normal", "steps": 10, "cfg": 5.0}
EVAL_BF16 = env.WORLD.eval_bf16
"""Whether the measurements sample under bfloat16 autocast: v2's were (kept so its published figures reproduce);
v3 samples in float32, ComfyUI's own arithmetic, and 3.7x faster on a CPU without native bfloat16 (the 2-core EPYC
of docs/BENCHMARKS.md: 3.2 s against 11.8 s per UNet pass over 128 images)."""


@dataclass
class Scores:
    shape: torch.Tensor        # [N] predicted shape index (world.NONE = none)
    colour: torch.Tensor       # [N] predicted colour index
    style: torch.Tensor        # [N] predicted style index
    shape_conf: torch.Tensor   # [N] max shape probability
    features: torch.Tensor     # [N, 192] oracle features

    def subset(self, rows) -> "Scores":
        return Scores(*(t[rows] for t in (self.shape, self.colour, self.style, self.shape_conf, self.features)))


def seeds_for(concept: int, n: int, base: int = 0) -> list[int]:
    """Noise seeds of the n samples of one prompt: the same for every method (common random numbers)."""
    return [base + 1000 * concept + i for i in range(n)]


@torch.no_grad()
def images(unet, ms, decode, cond: torch.Tensor, uncond: torch.Tensor, seeds: list[int], bf16: bool = EVAL_BF16,
           **settings) -> torch.Tensor:
    """Images [B, 3, 64, 64] in [0, 1] for conditionings ``cond`` [B, 77, 768] and the given noise seeds."""
    opts = {**SAMPLER, **settings}
    x = sample(unet, ms, cond, uncond, prepare_noise(seeds), bf16=bf16, **opts)
    return decode(x)


@torch.no_grad()
def score(oracle, imgs: torch.Tensor) -> Scores:
    from .train import oracle_predict
    ps, pc, py, f = oracle_predict(oracle, imgs)
    return Scores(ps.argmax(-1), pc.argmax(-1), py.argmax(-1), ps.max(-1).values, f)


def taesd_decoder(ae, latent_mean: float, latent_std: float):
    """Model-space latents -> images in [0, 1], as ComfyUI's VAEDecode does with the assembled checkpoint."""

    @torch.no_grad()
    def decode(x):
        z = x * latent_std + latent_mean
        return torch.cat([ae.taesd_decoder(z[i:i + 128]) for i in range(0, len(z), 128)]).clamp(0, 1)

    return decode


def concept_labels(concepts: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(shape, colour, style) indices of concept indices."""
    return tuple(torch.from_numpy(a) for a in world.labels_of(concepts))


def hits(scores: Scores, concepts: list[int]) -> dict[str, torch.Tensor]:
    """Per image, whether the oracle sees the concept's shape, colour, style, and all three ("joint")."""
    s, c, y = concept_labels(concepts)
    out = {"shape": scores.shape == s, "colour": scores.colour == c, "style": scores.style == y}
    out["joint"] = out["shape"] & out["colour"] & out["style"]
    return out


def accuracy(scores: Scores, concepts: list[int]) -> dict:
    """Shape, colour, style and joint (all right) accuracy of samples of the given concepts."""
    acc = {k: float(v.float().mean()) for k, v in hits(scores, concepts).items()}
    acc["none"] = float((scores.shape == world.NONE).float().mean())
    acc["confidence"] = float(scores.shape_conf.mean())
    return acc
