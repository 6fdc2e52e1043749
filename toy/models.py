"""The toy world's networks: ComfyUI's own UNet and TAESD classes (trainable), and the oracle classifier.

UNet: comfy's ``UNetModel`` in the smallest configuration ComfyUI detects as SD1.5 (harness/tiny_models.py's
SD15_UNET: model_channels 320, one level, one res block + one transformer block on the input side, two res
blocks on the output side, no middle block; one cross-attention, i.e. one to_k and one to_v [320, 768]).
ComfyUI's ops skip weight initialisation, so every layer is re-initialised with torch's defaults and the
residual output layers (res-block second convs, the transformer's proj_out, the final conv) start at zero, as
in the original LDM code.

TAESD: ``comfy.taesd.taesd.TAESD(latent_channels=4)`` (the class ComfyUI builds when a checkpoint has
``taesd_decoder.*`` keys), re-initialised the same way; trained from scratch on the toy images.

Oracle: a small CNN (not a ComfyUI class) with two heads: shape (10 shapes + "none") and colour (6 colours).
"""

from __future__ import annotations

import torch
from torch import nn

from . import env, world


def _reinit(module: nn.Module) -> int:
    """torch's default init for every Linear / Conv / norm layer (ComfyUI's ops leave them empty)."""
    n = 0
    for m in module.modules():
        for cls in (nn.Linear, nn.Conv2d, nn.Conv1d, nn.Conv3d, nn.GroupNorm, nn.LayerNorm):
            if isinstance(m, cls):
                cls.reset_parameters(m)
                n += 1
                break
    return n


def unet_config() -> dict:
    """ComfyUI's full unet_config for the toy UNet (what model_detection derives from its state dict)."""
    env.import_comfy()
    import comfy.model_detection
    from harness.tiny_models import COMMON_UNET, SD15_UNET
    config = comfy.model_detection.model_config_from_unet_config({**COMMON_UNET, **SD15_UNET})
    if type(config).__name__ != "SD15":
        raise RuntimeError(f"ComfyUI detects the toy UNet config as {type(config).__name__}, not SD15")
    return dict(config.unet_config)


def make_unet() -> nn.Module:
    env.import_comfy()
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    unet = UNetModel(**unet_config(), device="cpu", operations=comfy.ops.disable_weight_init)
    _reinit(unet)
    zeroed = 0
    for name, m in unet.named_modules():
        if name.endswith("out_layers.3") or name.endswith("proj_out") or name == "out.2":
            for p in m.parameters():
                nn.init.zeros_(p)
            zeroed += 1
    if zeroed < 3:
        raise RuntimeError("could not find the UNet's output layers to zero")
    return unet


def make_taesd() -> nn.Module:
    env.import_comfy()
    import comfy.taesd.taesd
    taesd = comfy.taesd.taesd.TAESD(latent_channels=4)
    _reinit(taesd)
    return taesd


class Oracle(nn.Module):
    """64x64 RGB in [0, 1] -> (shape logits [B, 11], colour logits [B, 6], features [B, 128])."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.body = nn.Sequential(
            block(3, 32, 2), block(32, 32, 1),      # 32
            block(32, 64, 2), block(64, 64, 1),     # 16
            block(64, 128, 2), block(128, 128, 1),  # 8
            block(128, 128, 2),                     # 4
        )
        self.shape_head = nn.Linear(128, len(world.SHAPE_CLASSES))
        self.colour_head = nn.Linear(128, len(world.COLOURS))

    def forward(self, x: torch.Tensor):
        f = self.body((x - 0.5) / 0.25).mean((2, 3))
        return self.shape_head(f), self.colour_head(f), f
