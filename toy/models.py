"""The toy world's networks: ComfyUI's own UNet and TAESD classes (trainable), and the oracle classifier.

UNet (v2): comfy's ``UNetModel`` in a two-level configuration that ComfyUI detects as SD1.5 (model_channels
320, channel_mult [1, 2], one res block per level, conv proj_in, context_dim 768), with six text
cross-attentions over two widths: five of width 320 (two transformer blocks after the first input res block,
two and one after the two last output res blocks) and one of width 640 (after the second input res block).
ComfyUI's ops skip weight initialisation, so every layer is re-initialised with torch's defaults and the
residual output layers (res-block second convs, the transformers' proj_out, the final conv) start at zero, as
in the original LDM code.

The three res blocks of the 640 level are *pass-through*: their residual branch (in_layers, emb_layers,
out_layers) is zero and never trained, so each computes only its skip connection (a 1x1 convolution). That
keeps the committed fp16 weights under 80 MB (these branches would be 28 M of the 68 M parameters; at 4x4
resolution the level's work is done by its transformer and convolutions) and is exact in ComfyUI, which runs
the zero branch. Their tensors are not committed: ``dead_keys`` names them and ``toy.assemble`` writes zeros.
Training skips the zero branches (``skip_dead_branches``), which gives the same result faster.

TAESD: ``comfy.taesd.taesd.TAESD(latent_channels=4)`` (the class ComfyUI builds when a checkpoint has
``taesd_decoder.*`` keys), re-initialised the same way; trained from scratch on the toy images.

Oracle: a small CNN (not a ComfyUI class) with three heads: shape (12 shapes + "none"), colour (6), style (4).
"""

from __future__ import annotations

import types

import torch
from torch import nn

from . import env, world

UNET = dict(in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[1, 1], channel_mult=[1, 2],
            transformer_depth=[2, 1], transformer_depth_output=[1, 2, 0, 0], transformer_depth_middle=-2,
            context_dim=768, use_linear_in_transformer=False, adm_in_channels=None)
"""ComfyUI UNetModel arguments (transformer_depth_output is consumed from its end: output blocks 2 and 3, at
width 320, get 2 and 1 transformer blocks)."""
DEAD_RES_BLOCKS = ("input_blocks.3.0.", "output_blocks.0.0.", "output_blocks.1.0.")
"""The 640-wide res blocks whose residual branch is fixed at zero."""
DEAD_PARTS = (".in_layers.", ".emb_layers.", ".out_layers.")


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
    from harness.tiny_models import COMMON_UNET
    config = comfy.model_detection.model_config_from_unet_config({**COMMON_UNET, **UNET})
    if type(config).__name__ != "SD15":
        raise RuntimeError(f"ComfyUI detects the toy UNet config as {type(config).__name__}, not SD15")
    return dict(config.unet_config)


def is_dead(key: str) -> bool:
    """Whether a UNet state-dict key belongs to a pass-through res block's (zero) residual branch."""
    return key.startswith(DEAD_RES_BLOCKS) and any(part in key for part in DEAD_PARTS)


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
    for name, p in unet.named_parameters():
        if is_dead(name):
            p.requires_grad_(False)
            nn.init.zeros_(p)
    return unet


def complete_unet_state(trained: dict) -> dict:
    """The UNet's full state dict from its committed (trained) tensors: zeros for the ``is_dead`` keys."""
    env.import_comfy()
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    with torch.device("meta"):
        shapes = UNetModel(**unet_config(), device="meta", operations=comfy.ops.disable_weight_init).state_dict()
    missing = sorted(set(shapes) - set(trained) - {k for k in shapes if is_dead(k)})
    if missing:
        raise KeyError(f"the toy UNet weights lack {len(missing)} trained tensor(s), e.g. {missing[0]}")
    dtype = next(iter(trained.values())).dtype
    return {k: trained[k] if k in trained else torch.zeros(shapes[k].shape, dtype=dtype) for k in shapes}


def skip_dead_branches(unet: nn.Module) -> None:
    """Make the pass-through res blocks compute only their skip connection (equal to the zero branch, faster)."""
    for prefix in DEAD_RES_BLOCKS:
        block = unet.get_submodule(prefix.rstrip("."))
        block.forward = types.MethodType(lambda self, x, emb, *args, **kwargs: self.skip_connection(x), block)


def make_taesd() -> nn.Module:
    env.import_comfy()
    import comfy.taesd.taesd
    taesd = comfy.taesd.taesd.TAESD(latent_channels=4)
    _reinit(taesd)
    return taesd


class Oracle(nn.Module):
    """64x64 RGB in [0, 1] -> (shape logits [B, 13], colour logits [B, 6], style logits [B, 4], features [B, 192])."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.body = nn.Sequential(
            block(3, 48, 1), block(48, 48, 2),       # 32
            block(48, 96, 1), block(96, 96, 2),      # 16
            block(96, 192, 1), block(192, 192, 2),   # 8
            block(192, 192, 2),                      # 4
        )
        self.shape_head = nn.Linear(192, len(world.SHAPE_CLASSES))
        self.colour_head = nn.Linear(192, len(world.COLOURS))
        self.style_head = nn.Linear(192, len(world.STYLES))

    def forward(self, x: torch.Tensor):
        f = self.body((x - 0.5) / 0.25).mean((2, 3))
        return self.shape_head(f), self.colour_head(f), self.style_head(f), f
