"""The assembled toy checkpoint loaded through ComfyUI, ready to sample, edit and score (host venv only).

    from toy.runtime import load
    toy = load()                         # the host's toy_names.safetensors (assembled if out of date)
    imgs = toy.images(["an image of a tiger"] * 4, seeds=[0, 1, 2, 3])
    with toy.edited(result.deltas):      # scapre_core.unlearn(toy.kv_weights(), toy.encode, ...).deltas
        imgs = toy.images(...)

The UNet, its sampling schedule and the VAE are the objects comfy.sd.load_checkpoint_guess_config returns (the
loader behind CheckpointLoaderSimple); conditioning comes from toy.clip.encode (ComfyUI's CLIP, cached).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from . import env


@dataclass
class Toy:
    patcher: object      # comfy ModelPatcher
    vae: object          # comfy.sd.VAE
    oracle: torch.nn.Module
    path: Path

    @property
    def unet(self):
        return self.patcher.model.diffusion_model

    @property
    def model_sampling(self):
        return self.patcher.model.model_sampling

    @property
    def family(self) -> str:
        return type(self.patcher.model.model_config).__name__

    def kv_keys(self) -> list[str]:
        return [k for k in self.unet.state_dict() if k.endswith((".attn2.to_k.weight", ".attn2.to_v.weight"))]

    def kv_weights(self) -> dict[str, torch.Tensor]:
        sd = self.unet.state_dict()
        return {k: sd[k].detach().float().clone() for k in self.kv_keys()}

    @staticmethod
    def encode(prompts: list[str]):
        from . import clip
        return clip.encode(prompts)

    @contextlib.contextmanager
    def edited(self, deltas: dict[str, torch.Tensor] | None, strength: float = 1.0):
        """Temporarily add ``strength * delta`` to the named UNet weights (what ScaPreUnlearn's patch does)."""
        if not deltas:
            yield self
            return
        params = dict(self.unet.named_parameters())
        saved = {k: params[k].data.clone() for k in deltas}
        try:
            for k, d in deltas.items():
                params[k].data += strength * d.to(params[k].dtype)
            yield self
        finally:
            for k, w in saved.items():
                params[k].data.copy_(w)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space latents -> images [B, 3, 64, 64] in [0, 1] through ComfyUI's VAE (VAEDecode)."""
        from .sampler import to_comfy_latent
        return self.vae.decode(to_comfy_latent(x)).movedim(-1, 1).float().clamp(0, 1)

    def images(self, prompts: list[str], seeds: list[int], negative: str = "", bf16: bool | None = None,
               **settings):
        """``bf16``: None samples as the measurements do (``generate.EVAL_BF16``)."""
        from . import generate
        cond, _ = self.encode(list(prompts) + [negative])
        return generate.images(self.unet, self.model_sampling, self.decode, cond[:-1], cond[-1], seeds,
                               bf16=generate.EVAL_BF16 if bf16 is None else bf16, **settings)

    def score(self, imgs):
        from . import generate
        return generate.score(self.oracle, imgs)


def checkpoint_path() -> Path:
    """The host's copy (harness/install.py puts it among ComfyUI's checkpoints), assembled here if out of date."""
    from harness import paths

    from .assemble import CHECKPOINT_NAME, ensure_toy_checkpoint
    ensure_toy_checkpoint(paths.CHECKPOINTS)
    return paths.CHECKPOINTS / CHECKPOINT_NAME


def load(path: str | Path | None = None) -> Toy:
    """The checkpoint loaded as CheckpointLoaderSimple loads it; the UNet's pass-through res blocks (zero residual
    branches, toy/models.py) compute only their skip connection, which gives the same result faster."""
    env.import_comfy()
    import comfy.sd
    from .models import skip_dead_branches
    from .train import load_oracle
    torch.set_num_threads(env.threads())
    path = Path(path) if path else checkpoint_path()
    patcher, _, vae = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=False)[:3]
    patcher.model.diffusion_model.eval()
    skip_dead_branches(patcher.model.diffusion_model)
    return Toy(patcher, vae, load_oracle(env.ORACLE), path)
