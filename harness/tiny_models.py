"""Seeded generator (and checker) of tiny random-weight models that ComfyUI detects as real model families.

Runs inside the host venv (it imports ComfyUI and torch):
    VENV_PY harness/tiny_models.py --comfy-dir DIR --out-dir DIR --which WHICH [--seed 0] [--verify]
with WHICH one of sd15, sdxl, all (the two checkpoints), sd3 or hunyuan_video (bare diffusion models, into
DIR), clip_l (a text encoder) or taesd3 (a VAE's encoder and decoder). Prints a JSON summary. With --verify
it generates nothing: it loads the existing checkpoints through comfy.sd.load_checkpoint_guess_config and checks
detection, key coverage, text encoding and VAE decoding.

Why tiny: tests need real detection, real key names and real sampling on a CPU in seconds.
  sd15 -> SD15 (BaseModel): the 13.6M-param UNet of shared/docs/host_notes.md, CLIP-L fp16, TAESD fp16
          (reproduces the documented sha256 c869ac15... with seed 0).
  sdxl -> KOALA_700M (an SDXL subclass): ComfyUI tells the SDXL family apart only by model_channels (320),
          use_linear_in_transformer, context_dim (2048), adm_in_channels (2816) and the flat per-input-res-block
          transformer_depth list; level widths, res-block layout and the output side come from the state dict.
          KOALA_700M's [0, 2, 5] is the shortest such list (3 input res blocks, 7 transformer blocks), so the
          smallest detected UNet has ONE level (channel_mult [1], num_res_blocks [3]), no middle block and no
          output transformers: 7 attn2 to_k/to_v pairs reading 2048-wide text. It gets SDXL's dual
          CLIP-L + CLIP-G encoder (stored fp8_e4m3fn: their size is fixed), UNet and TAESD in fp16.

Files for the families the pack edits through their text-input layers (issue 10):
  sd3           -> SD3: an MMDiT of depth 1 (hidden 64, 0.8M params), loaded by "Load Diffusion Model" (UNETLoader);
  clip_l        -> a random CLIP-L text encoder (HF key names, all 12 layers: ComfyUI builds CLIP-L from its fixed
                   config, so a shorter one would load half empty), fp8_e4m3fn like tiny_sdxl's: with
                   CLIPLoader(type sd3) it is SD3's text encoder (77 rows zero-padded to 4096, pooled 768 + 1280
                   zeros);
  taesd3        -> taesd3_encoder / taesd3_decoder (a 16-channel TAESD) for VAELoader's "taesd3";
  sd3_checkpoint -> the same three in one SD3 checkpoint (CLIP-L alone as its text encoder), for Load Checkpoint
                   and the SD3.5 example workflow (whose sd3.5_large_fp8_scaled.safetensors holds all three too);
  hunyuan_video -> HunyuanVideo (hidden 128, one head, 1 + 1 blocks), a family the pack refuses (its text goes
                   through a timestep-conditioned token refiner: no closed form).
And, for the in-process tests, builders that return live ComfyUI objects (build_model, build_text_encoder): FLUX.1
(dev, schnell, Fill) and Chroma (and Chroma Radiance) on their model_config classes with small configs (ComfyUI detects FLUX only at
hidden size 3072, so these are built directly, not detected), SD3 and Wan 2.1 / 2.2 from seeded state dicts
through comfy.sd.load_diffusion_model_state_dict (detected, as UNETLoader would), and their text encoders:
ComfyUI's own tokenizers and encoder classes (comfy.sd.CLIP) with small layer configs. T5-XXL and UMT5-XXL
cannot be shrunk through the stock loaders (their configs are fixed JSON files), so only these builders make
them small; Wan's UMT5 tokenizer ships inside real UMT5 files, so a 120-piece SentencePiece model (pad 0, end
1, as UMT5's) is trained here from a fixed word list.

How: ComfyUI's own classes are instantiated on the meta device to get exact key names and shapes, the model
config's *_for_saving hooks turn them into checkpoint keys, and every tensor is filled from one seeded generator
in sorted key order: ndim >= 2 -> randn * (1 / sqrt(fan_in)); 1-D '*.weight' -> 1; other 1-D and 0-D -> 0, except
TAESD's vae_scale -> 1. One safetensors metadata key keeps the bytes reproducible.
"""
import argparse
import hashlib
import json
import logging
import math
import os
import re
import sys
import time

SD15_UNET = dict(in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[1], channel_mult=[1],
                 transformer_depth=[1], transformer_depth_output=[0, 0], transformer_depth_middle=-2,
                 context_dim=768, use_linear_in_transformer=False, adm_in_channels=None)
SDXL_UNET = dict(in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[3], channel_mult=[1],
                 transformer_depth=[0, 2, 5], transformer_depth_output=[0, 0, 0, 0], transformer_depth_middle=-2,
                 context_dim=2048, use_linear_in_transformer=True, adm_in_channels=2816, num_classes="sequential")
# What model_detection.detect_unet_config adds for every SD-style UNet.
COMMON_UNET = dict(use_checkpoint=False, image_size=32, use_spatial_transformer=True, legacy=False,
                   use_temporal_resblock=False, use_temporal_attention=False)
# A family ScaPre does not edit (joint attention, no attn2 to_k/to_v), for tests of the refusal: an SD3 MMDiT of
# depth 1 (hidden 64), 0.8M params, saved as a bare diffusion model for "Load Diffusion Model" (UNETLoader).
SD3_MMDIT = dict(in_channels=16, out_channels=16, patch_size=2, depth=1, adm_in_channels=2048, input_size=None,
                 pos_embed_scaling_factor=None, num_patches=64 * 64, pos_embed_max_size=64,
                 context_embedder_config={"target": "torch.nn.Linear",
                                          "params": {"in_features": 4096, "out_features": 64}})
TINY_SD3 = "tiny_sd3.safetensors"
# A family ScaPre refuses, for the tests of the refusal: HunyuanVideo (detected from hidden size, one head of 128
# since its rope axes are fixed at 16 + 56 + 56), one double and one single block.
HUNYUAN_VIDEO = dict(image_model="hunyuan_video", in_channels=16, out_channels=16, patch_size=[1, 2, 2],
                     axes_dim=[16, 56, 56], vec_in_dim=768, context_in_dim=64, hidden_size=128, mlp_ratio=4.0,
                     num_heads=1, depth=1, depth_single_blocks=1, theta=256, qkv_bias=True, guidance_embed=False,
                     byt5=False, meanflow=False, use_cond_type_embedding=False, vision_in_dim=None)
TINY_HUNYUAN_VIDEO = "tiny_hunyuan_video.safetensors"
TINY_CLIP_L = "tiny_clip_l.safetensors"
TAESD3 = ("taesd3_encoder.safetensors", "taesd3_decoder.safetensors")
TAESD3_SCALE_SHIFT = (1.5305, 0.0609)  # what VAELoader sets for "taesd3" (nodes.py load_taesd)
TINY_SD3_CHECKPOINT = "tiny_sd3_checkpoint.safetensors"
DIFFUSION_MODELS = {  # name -> (file, ComfyUI module path and class, config, expected model_config class)
    "sd3": (TINY_SD3, "comfy.ldm.modules.diffusionmodules.mmdit.MMDiT", SD3_MMDIT, "SD3"),
    "hunyuan_video": (TINY_HUNYUAN_VIDEO, "comfy.ldm.hunyuan_video.model.HunyuanVideo", HUNYUAN_VIDEO,
                      "HunyuanVideo"),
}
MODELS = {  # name -> (file, unet config, expected supported_models class, CLIP storage dtype, encoder width)
    "sd15": ("tiny_sd15.safetensors", SD15_UNET, "SD15", "float16", 768),
    "sdxl": ("tiny_sdxl.safetensors", SDXL_UNET, "KOALA_700M", "float8_e4m3fn", 2048),
}


def _import_comfy(comfy_dir):
    """Put ComfyUI on sys.path and force CPU before comfy.model_management is imported (no CUDA here)."""
    sys.path.insert(0, os.path.abspath(comfy_dir))
    from comfy.cli_args import args
    args.cpu = True


def checkpoint_spec(name):
    """Return ({checkpoint key: meta tensor}, {key: "unet"|"clip"|"vae"}) for one tiny model.

    Raises if ComfyUI would not detect the UNet as the expected supported_models class.
    """
    import comfy.model_detection
    import comfy.ops
    import comfy.taesd.taesd
    import torch
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    _, unet_cfg, expected, _, _ = MODELS[name]
    config = comfy.model_detection.model_config_from_unet_config({**COMMON_UNET, **unet_cfg})
    with torch.device("meta"):
        unet = UNetModel(**config.unet_config, device="meta", operations=comfy.ops.disable_weight_init)
        clip = config.clip_target().clip(device="meta", dtype=torch.float32)
        vae = comfy.taesd.taesd.TAESD(latent_channels=4)
    unet_sd = unet.state_dict()
    detected = comfy.model_detection.model_config_from_unet(unet_sd, "")  # detection reads shapes only
    for cfg in (config, detected):
        if type(cfg).__name__ != expected:
            raise RuntimeError(f"{name}: ComfyUI detects {type(cfg).__name__}, expected {expected}")
    parts = {
        "unet": config.process_unet_state_dict_for_saving(unet_sd),
        "clip": config.process_clip_state_dict_for_saving(clip.state_dict()),
        "vae": config.process_vae_state_dict_for_saving(vae.state_dict()),
    }
    # Drop integer buffers (the CLIP-L position_ids SDXL's saver adds): ComfyUI rebuilds them and reports them
    # as unexpected keys, so without them every stored key is one ComfyUI loads.
    spec = {k: t for sd in parts.values() for k, t in sd.items() if t.is_floating_point()}
    part_of = {k: p for p, sd in parts.items() for k in sd}
    return spec, part_of


def generate(name, out_dir, seed):
    """Write out_dir/<file> atomically and return its summary."""
    import torch
    from safetensors.torch import save_file

    t0 = time.perf_counter()
    file, _, _, clip_dtype, _ = MODELS[name]
    spec, part_of = checkpoint_spec(name)
    dtype = {"unet": torch.float16, "vae": torch.float16, "clip": getattr(torch, clip_dtype)}
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k in sorted(spec):
        shape = tuple(spec[k].shape)
        if len(shape) >= 2:
            v = torch.randn(shape, generator=g) * (1.0 / math.sqrt(math.prod(shape[1:])))  # '/' rounds differently
        elif len(shape) == 1 and k.endswith(".weight"):
            v = torch.ones(shape)
        else:
            v = torch.full(shape, 1.0 if k.endswith("vae_scale") else 0.0)
        sd[k] = v.to(dtype[part_of[k]]).contiguous()
    out = os.path.join(out_dir, file)
    tmp = out + ".partial"
    save_file(sd, tmp, metadata={"format": "pt"})  # several keys would be written in random order
    os.replace(tmp, out)
    params = {p: sum(t.numel() for k, t in sd.items() if part_of[k] == p) for p in ("unet", "clip", "vae")}
    return {"file": out, "bytes": os.path.getsize(out), "sha256": _sha256(out), "tensors": len(sd),
            "params": params, "seconds": round(time.perf_counter() - t0, 2)}


def _meta_state_dict(module_path, config):
    """Names and shapes of a ComfyUI module's state dict (built on the meta device, nothing allocated)."""
    import importlib

    import comfy.ops
    import torch

    module_name, class_name = module_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    with torch.device("meta"):
        return cls(**config, device="meta", operations=comfy.ops.disable_weight_init).state_dict()


def _fill(spec, seed, bias_scale=0.0):
    """Seeded values for {key: meta tensor} in sorted key order: ndim >= 2 -> randn / sqrt(fan_in); 1-D norm
    gains (*.weight, *.scale) -> 1; other 1-D (biases) -> bias_scale * randn; 0-D -> 0 (float32)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(spec):
        shape = tuple(spec[k].shape)
        if len(shape) >= 2:
            out[k] = torch.randn(shape, generator=g) * (1.0 / math.sqrt(math.prod(shape[1:])))
        elif len(shape) == 1 and k.endswith((".weight", ".scale")):
            out[k] = torch.ones(shape)
        elif len(shape) == 1 and bias_scale:
            out[k] = torch.randn(shape, generator=g) * bias_scale
        else:
            out[k] = torch.zeros(shape)
    return out


def _save(tensors, out):
    """Write a safetensors file atomically, with one metadata key (several are written in random order)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, out + ".partial", metadata={"format": "pt"})
    os.replace(out + ".partial", out)


def generate_diffusion_model(name, out_dir, seed):
    """Write out_dir/<file> (a bare diffusion model ComfyUI detects as the expected class); return its summary."""
    import comfy.model_detection
    import torch

    t0 = time.perf_counter()
    file, module_path, config, expected = DIFFUSION_MODELS[name]
    spec = _meta_state_dict(module_path, config)
    detected = type(comfy.model_detection.model_config_from_unet(spec, "")).__name__
    if detected != expected:
        raise RuntimeError(f"{name}: ComfyUI detects {detected}, expected {expected}")
    sd = {k: v.to(torch.float16) for k, v in _fill(spec, seed).items()}
    out = os.path.join(out_dir, file)
    _save(sd, out)
    return {"file": out, "bytes": os.path.getsize(out), "tensors": len(sd), "model_config": detected,
            "seconds": round(time.perf_counter() - t0, 2)}


def generate_clip_l(out_dir, seed):
    """Write out_dir/tiny_clip_l.safetensors: a random full-size CLIP-L text encoder (HF key names), fp8."""
    import comfy.clip_model
    import comfy.ops
    import torch

    t0 = time.perf_counter()
    with open(os.path.join(os.path.dirname(comfy.clip_model.__file__), "sd1_clip_config.json")) as f:
        config = json.load(f)
    with torch.device("meta"):
        spec = comfy.clip_model.CLIPTextModel(config, torch.float32, "meta", comfy.ops.disable_weight_init).state_dict()
    sd = {k: v.to(torch.float8_e4m3fn) for k, v in _fill(spec, seed).items()}
    out = os.path.join(out_dir, TINY_CLIP_L)
    _save(sd, out)
    return {"file": out, "bytes": os.path.getsize(out), "tensors": len(sd),
            "seconds": round(time.perf_counter() - t0, 2)}


def generate_taesd3(out_dir, seed):
    """Write out_dir/taesd3_encoder and taesd3_decoder .safetensors: a random 16-channel TAESD, fp16."""
    import comfy.taesd.taesd
    import torch

    t0 = time.perf_counter()
    with torch.device("meta"):
        taesd = comfy.taesd.taesd.TAESD(latent_channels=16)
    summary = {}
    for file, part in zip(TAESD3, (taesd.taesd_encoder, taesd.taesd_decoder)):
        out = os.path.join(out_dir, file)
        _save({k: v.to(torch.float16) for k, v in _fill(part.state_dict(), seed).items()}, out)
        summary[file] = os.path.getsize(out)
    return {"files": summary, "seconds": round(time.perf_counter() - t0, 2)}


def generate_sd3_checkpoint(out_dir, seed):
    """Write out_dir/tiny_sd3_checkpoint.safetensors: the tiny SD3 MMDiT (fp16), a random CLIP-L (fp8) and a
    random TAESD3 (fp16), keyed by SD3's own *_for_saving hooks as Save Checkpoint would."""
    import comfy.clip_model
    import comfy.ops
    import comfy.supported_models
    import comfy.taesd.taesd
    import torch

    t0 = time.perf_counter()
    config = comfy.supported_models.SD3({"in_channels": 16})
    with open(os.path.join(os.path.dirname(comfy.clip_model.__file__), "sd1_clip_config.json")) as f:
        clip_config = json.load(f)
    with torch.device("meta"):
        clip = comfy.clip_model.CLIPTextModel(clip_config, torch.float32, "meta", comfy.ops.disable_weight_init)
        taesd = comfy.taesd.taesd.TAESD(latent_channels=16)
    parts = {
        "unet": config.process_unet_state_dict_for_saving(_meta_state_dict(DIFFUSION_MODELS["sd3"][1], SD3_MMDIT)),
        "clip": config.process_clip_state_dict_for_saving({f"clip_l.transformer.{k}": v
                                                           for k, v in clip.state_dict().items()}),
        "vae": config.process_vae_state_dict_for_saving(taesd.state_dict()),
    }
    dtype = {"unet": torch.float16, "clip": torch.float8_e4m3fn, "vae": torch.float16}
    sd = {}
    for part, spec in parts.items():
        sd |= {k: v.to(dtype[part]) for k, v in _fill(spec, seed).items()}
    for key, value in zip(("vae_scale", "vae_shift"), TAESD3_SCALE_SHIFT):  # 0-D: _fill made them 0
        sd[config.vae_key_prefix[0] + key] = torch.tensor(value)
    out = os.path.join(out_dir, TINY_SD3_CHECKPOINT)
    _save(sd, out)
    return {"file": out, "bytes": os.path.getsize(out), "tensors": len(sd),
            "seconds": round(time.perf_counter() - t0, 2)}


# --- in-process builders for the tests of the DiT families ------------------------------------------------

# FLUX.1 at hidden 64 (two heads of 32 = 8 + 12 + 12 rope axes); T5 states 384 wide, which is more than FLUX's 256
# padded positions, so the tests' "every position aligned" edit can be exact; a 32-wide CLIP-L pooled vector.
FLUX_TINY = dict(image_model="flux", in_channels=16, out_channels=16, vec_in_dim=32, context_in_dim=384,
                 hidden_size=64, mlp_ratio=2.0, num_heads=2, depth=1, depth_single_blocks=1, axes_dim=[8, 12, 12],
                 theta=10000, patch_size=2, qkv_bias=True, guidance_embed=True)
CHROMA_TINY = dict(image_model="chroma", in_channels=64, out_channels=64, context_in_dim=384, hidden_size=64,
                   mlp_ratio=2.0, num_heads=2, depth=1, depth_single_blocks=1, axes_dim=[8, 12, 12], theta=10000,
                   patch_size=2, qkv_bias=True, in_dim=64, out_dim=64, hidden_dim=64, n_layers=1)
# The families read through an LLM, and the Wan variants: built on their model_config classes (ComfyUI detects
# most of them only at full size). Each reads a 64-wide text state (LLM_WIDTH; FLUX.2: three Mistral layers
# stacked, HiDream: its Llama and T5 widths), more than the rows of a short prompt in its chat template, so the
# tests' "every position aligned" edit can be exact (HiDream: see TOKENIZER_OPTIONS).
LLM_WIDTH = 64
LUMINA_TINY = dict(image_model="lumina2", patch_size=2, in_channels=16, dim=64, cap_feat_dim=LLM_WIDTH, n_layers=1,
                   n_refiner_layers=1, n_heads=2, n_kv_heads=2, axes_dims=[8, 12, 12], axes_lens=[300, 64, 64],
                   rope_theta=10000.0, ffn_dim_multiplier=4.0, qk_norm=True)
ZIMAGE_TINY = {**LUMINA_TINY, "rope_theta": 256.0, "ffn_dim_multiplier": 8.0 / 3.0, "z_image_modulation": True,
               "time_scale": 1000.0}
QWEN_IMAGE_TINY = dict(image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16, num_layers=1,
                       attention_head_dim=32, num_attention_heads=2, joint_attention_dim=LLM_WIDTH,
                       axes_dims_rope=(8, 12, 12))
HUNYUAN_VIDEO_15_TINY = dict(image_model="hunyuan_video", in_channels=65, out_channels=32, patch_size=[1, 1, 1],
                             axes_dim=[16, 56, 56], vec_in_dim=None, context_in_dim=LLM_WIDTH, hidden_size=128,
                             mlp_ratio=4.0, num_heads=1, depth=1, depth_single_blocks=1, theta=256, qkv_bias=True,
                             guidance_embed=False, byt5=False, meanflow=False, use_cond_type_embedding=True,
                             vision_in_dim=1152)  # what ComfyUI detects HunyuanVideo 1.5 by
HIDREAM_TINY = dict(image_model="hidream", patch_size=2, in_channels=16, out_channels=16, num_layers=1,
                    num_single_layers=1, attention_head_dim=32, num_attention_heads=2,
                    caption_channels=[384, LLM_WIDTH], text_emb_dim=64, num_routed_experts=2,
                    num_activated_experts=1, axes_dims_rope=[16, 8, 8], max_resolution=[32, 32], llama_layers=[0, 1])
FLUX2_TINY = dict(image_model="flux2", in_channels=128, out_channels=128, vec_in_dim=None,
                  context_in_dim=3 * LLM_WIDTH, hidden_size=64, mlp_ratio=3.0, num_heads=2, depth=1,
                  depth_single_blocks=1, axes_dim=[8, 8, 8, 8], theta=2000, patch_size=1, qkv_bias=False,
                  guidance_embed=True, global_modulation=True, mlp_silu_act=True, ops_bias=False,
                  default_ref_method="index", ref_index_scale=10.0)
WAN_VARIANTS = {  # model_config class -> what its unet config adds to WAN_TINY (each variant's own inputs)
    "WAN21_FunControl2V": {"model_type": "i2v", "in_dim": 48}, "WAN21_Camera": {"model_type": "camera", "in_dim": 32},
    "WAN22_Camera": {"model_type": "camera_2.2", "in_dim": 36},
    "WAN21_Vace": {"model_type": "vace", "vace_in_dim": 96, "vace_layers": 1},
    "WAN21_HuMo": {"model_type": "humo"}, "WAN22_S2V": {"model_type": "s2v"}, "WAN22_Animate": {"model_type": "animate"},
}
WAN_TINY = dict(model_type="t2v", patch_size=(1, 2, 2), in_dim=16, dim=128, ffn_dim=64, freq_dim=256, text_dim=4096,
                out_dim=16, num_heads=1, num_layers=2)
IN_PROCESS_MODELS = {  # name -> (supported_models class, unet config) for the models built directly
    "Flux": ("Flux", FLUX_TINY),
    "FluxSchnell": ("FluxSchnell", {**FLUX_TINY, "guidance_embed": False}),
    "FluxInpaint": ("FluxInpaint", {**FLUX_TINY, "in_channels": 96}),
    "Chroma": ("Chroma", CHROMA_TINY),
    "ChromaRadiance": ("ChromaRadiance", {**CHROMA_TINY, "image_model": "chroma_radiance", "in_channels": 3,
                                          "out_channels": 3, "patch_size": 16, "nerf_hidden_size": 16,
                                          "nerf_mlp_ratio": 2, "nerf_depth": 1, "nerf_max_freqs": 2,
                                          "nerf_tile_size": 0, "nerf_final_head_type": "linear",
                                          "nerf_embedder_dtype": None}),
    "Flux2": ("Flux2", FLUX2_TINY),
    "Lumina2": ("Lumina2", LUMINA_TINY),
    "ZImage": ("ZImage", ZIMAGE_TINY),
    "QwenImage": ("QwenImage", QWEN_IMAGE_TINY),
    "HunyuanVideo15": ("HunyuanVideo15", HUNYUAN_VIDEO_15_TINY),
    "HunyuanVideo15_SR_Distilled": ("HunyuanVideo15_SR_Distilled", {**HUNYUAN_VIDEO_15_TINY, "in_channels": 98}),
    "HiDream": ("HiDream", HIDREAM_TINY),
    **{name: (name, {"image_model": "wan2.1", **WAN_TINY, **extra}) for name, extra in WAN_VARIANTS.items()},
}
# SD3 with a 96-wide CLIP-L (77 CLIP rows fit in 96 dimensions, so an edit aligned on every row can be exact) and
# a 4096-wide T5: pooled = 96 (CLIP-L) + 1280 (zeros for the absent CLIP-G).
SD3_TINY = {**SD3_MMDIT, "adm_in_channels": 96 + 1280, "pos_embed_max_size": 16, "num_patches": 16 * 16}
DETECTED_MODELS = {  # name -> (ComfyUI module path and class, config): built from a state dict, then detected
    "SD3": ("comfy.ldm.modules.diffusionmodules.mmdit.MMDiT", SD3_TINY),
    "WAN21_T2V": ("comfy.ldm.wan.model.WanModel", WAN_TINY),
    "WAN21_I2V": ("comfy.ldm.wan.model.WanModel", {**WAN_TINY, "model_type": "i2v", "in_dim": 36}),
    "WAN22_T2V": ("comfy.ldm.wan.model.WanModel", {**WAN_TINY, "in_dim": 48, "out_dim": 48}),
}
T5_SMALL = {"d_ff": 32, "d_kv": 16, "num_heads": 2, "num_layers": 1}
CLIP_SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 3,
              "projection_dim": 32}
LLM_SMALL = {"hidden_size": LLM_WIDTH, "intermediate_size": 128, "num_attention_heads": 2, "num_key_value_heads": 1,
             "num_hidden_layers": 4}  # 4: HunyuanVideo 1.5 reads layer -3, Z-Image and Lumina 2 layer -2
TEXT_ENCODERS = {  # name -> (tokenizer, encoder factory, model_options): ComfyUI's classes, small layer configs
    "flux": ("comfy.text_encoders.flux.FluxTokenizer", "comfy.text_encoders.flux.flux_clip",
             {"t5xxl_model_config": {**T5_SMALL, "d_model": 384}, "clip_l_model_config": CLIP_SMALL}),
    "chroma": ("comfy.text_encoders.pixart_t5.PixArtTokenizer", "comfy.text_encoders.pixart_t5.pixart_te",
               {"t5xxl_model_config": {**T5_SMALL, "d_model": 384}}),
    "sd3": ("comfy.text_encoders.sd3_clip.SD3Tokenizer", "comfy.text_encoders.sd3_clip.sd3_clip",
            {"t5xxl_model_config": {**T5_SMALL, "d_model": 4096},
             "clip_l_model_config": {**CLIP_SMALL, "hidden_size": 96, "projection_dim": 96}}),
    "wan": ("comfy.text_encoders.wan.WanT5Tokenizer", "comfy.text_encoders.wan.te",
            {"umt5xxl_model_config": {**T5_SMALL, "d_model": 4096, "vocab_size": 128}}),
    "z_image": ("comfy.text_encoders.z_image.ZImageTokenizer", "comfy.text_encoders.z_image.te",
                {"qwen3_4b_model_config": LLM_SMALL}),
    "lumina2": ("comfy.text_encoders.lumina2.LuminaTokenizer", "comfy.text_encoders.lumina2.te",
                {"gemma2_2b_model_config": {**LLM_SMALL, "vocab_size": 128}}),
    "qwen_image": ("comfy.text_encoders.qwen_image.QwenImageTokenizer", "comfy.text_encoders.qwen_image.te",
                   {"qwen25_7b_model_config": LLM_SMALL}),
    "hunyuan_video_15": ("comfy.text_encoders.hunyuan_video.HunyuanVideo15Tokenizer",
                         "comfy.text_encoders.hunyuan_image.te", {"qwen25_7b_model_config": LLM_SMALL}),
    "hidream": ("comfy.text_encoders.hidream.HiDreamTokenizer", "comfy.text_encoders.hidream.hidream_clip",
                {"t5xxl_model_config": {**T5_SMALL, "d_model": 384}, "clip_l_model_config": CLIP_SMALL,
                 "clip_g_model_config": CLIP_SMALL,
                 "llama_model_config": {**LLM_SMALL, "hidden_size": LLM_WIDTH, "num_hidden_layers": 2}}),
    "flux2": ("comfy.text_encoders.flux.Flux2Tokenizer", "comfy.text_encoders.flux.flux2_te",
              {"mistral3_24b_model_config": {**LLM_SMALL, "num_hidden_layers": 31}}),  # it reads layers 10, 20, 30
}
TOKENIZER_OPTIONS = {"hidream": {"llama_min_length": 16}}
"""ComfyUI's own tokenizer options (CLIP.set_tokenizer_option) set on a tiny encoder. HiDream pads its Llama rows
to 128, more rows than the tiny Llama is wide, so no matrix could map them all onto the anchor's: the tiny one
pads to 16 (the layout is the same, with fewer padding rows)."""
ENCODER_ARGUMENTS = {"sd3": {"clip_l": True, "clip_g": False, "t5": True},
                     "hunyuan_video_15": {"byt5": False}}  # ByT5 reads quoted text only; not edited
SPIECE_WORDS = ("a photo of Van Gogh painting golf ball church building cat dog red green blue circle square "
                "triangle star tennis apple pear river mountain portrait style keep number concept word gentle anchor")


def _attribute(path):
    import importlib

    module_name, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), name)


def _fill_module(module, seed):
    """Fill a live module's parameters in place with _fill's seeded values (biases 0.1 * randn: not zero, so
    the tests see whether an edit leaves them alone), except T5's relative-position biases, which are zero.

    Why zero: T5 puts every pair of positions more than 128 apart into one position bucket, so FLUX's 256
    padded positions come out nearly collinear but not equal, each with its own target: no matrix maps such
    rows exactly onto the anchor's, which would make the tests' every-position equivalence a test of the
    random encoder instead of the edit. Without the bias, a prompt's padding rows are exactly equal (position
    plays no part), the rows of a prompt span as many dimensions as it has distinct tokens, and the edit can
    be exact.
    """
    import torch

    params = {k: p for k, p in module.named_parameters() if ".visual." not in f".{k}"}
    values = _fill({k: p for k, p in params.items()}, seed, bias_scale=0.1)
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(torch.zeros_like(p) if "relative_attention_bias" in k else values[k].to(p.dtype))


def build_model(name, seed=0):
    """A tiny ComfyUI MODEL (ModelPatcher) of the family whose model_config class is ``name``, fp32, on the CPU."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models
    import torch

    if name in DETECTED_MODELS:
        state = _fill(_meta_state_dict(*DETECTED_MODELS[name]), seed, bias_scale=0.1)
        model = comfy.sd.load_diffusion_model_state_dict(state, model_options={"dtype": torch.float32})
        if model is None or type(model.model.model_config).__name__ != name:
            raise RuntimeError(f"{name}: ComfyUI does not detect the tiny model as {name}")
        return model
    class_name, config = IN_PROCESS_MODELS[name]
    model_config = getattr(comfy.supported_models, class_name)(config)
    model_config.set_inference_dtype(torch.float32, None)
    base = model_config.get_model({})
    _fill_module(base.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(base, comfy.model_management.get_torch_device(),
                                            comfy.model_management.unet_offload_device())


def spiece_model(ids=None):
    """A 120-piece SentencePiece model from a fixed text; ``ids``: its special pieces, by default UMT5's (pad 0,
    end 1, unknown 2, no start token); Gemma's are pad 0, end 1, start 2, unknown 3."""
    import io

    import sentencepiece

    words = SPIECE_WORDS.split()
    lines = [" ".join(words[(7 * i + 3 * j) % len(words)] for j in range(8)) for i in range(400)]
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=proto, vocab_size=120,
                                             model_type="bpe", num_threads=1, minloglevel=2,
                                             **(ids or {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}))
    return proto.getvalue()


# The first special tokens of Mistral's tekken files (their ranks are their ids; Mistral3Tokenizer pads with 11).
TEKKEN_SPECIALS = ("<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                   "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]", "[IMG_END]",
                   "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CONTENT]")
TEKKEN_PATTERN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
                  r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")


def tekken_model(text):
    """A tekken vocabulary (Mistral's tokenizer file, JSON bytes): the special tokens, the 256 bytes, and every
    prefix of every word of ``text`` (letters only, with and without a leading space) as merged tokens."""
    import base64

    pieces = [bytes([b]) for b in range(256)]
    for word in sorted(set(re.findall(r"[A-Za-z]+", text))):
        for spaced in (word, " " + word):
            data = spaced.encode()
            pieces += [data[:n] for n in range(2, len(data) + 1) if data[:n] not in pieces]
    vocab = [{"rank": rank, "token_bytes": base64.b64encode(piece).decode()} for rank, piece in enumerate(pieces)]
    specials = [{"rank": rank, "token_str": name, "is_control": True} for rank, name in enumerate(TEKKEN_SPECIALS)]
    size = len(specials) + len(vocab)
    return json.dumps({"config": {"pattern": TEKKEN_PATTERN, "default_vocab_size": size, "num_vocab_tokens": size,
                                  "default_num_special_tokens": len(specials)},
                       "vocab": vocab, "special_tokens": specials}).encode()


def _tekken_converter():
    """ComfyUI 0.3.75's FLUX.2 tokenizer converts a tekken file with ``MistralConverter(vocab=...)``, which the
    pinned transformers 5 no longer has (it takes ``vocab_file``): on this host FLUX.2's text encoder cannot load
    at all. For the tiny FLUX.2 text encoder this replaces that one conversion with transformers 5's, reading
    the same tekken data; every other part is ComfyUI's own Flux2Tokenizer and Mistral3Tokenizer."""
    import tempfile

    import comfy.text_encoders.flux
    from tokenizers.processors import TemplateProcessing
    from transformers.integrations.mistral import MistralConverter

    def load(data):
        with tempfile.NamedTemporaryFile("wb", suffix=".json") as f:
            f.write(bytes(data.numpy()) if hasattr(data, "numpy") else data)
            f.flush()
            converted = MistralConverter(vocab_file=f.name).converted()
        # a prompt starts with <s> (id 1), as Mistral3Tokenizer's start token and Mistral3_24BModel's expect
        converted.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        return {"tokenizer_object": converted, "legacy": False}

    comfy.text_encoders.flux.load_mistral_tokenizer = load


def tokenizer_data(name):
    """What a real text encoder file carries for its tokenizer, for the tiny encoders that need it."""
    import torch

    if name == "wan":
        return {"spiece_model": torch.ByteTensor(list(spiece_model()))}
    if name == "lumina2":
        ids = {"pad_id": 0, "eos_id": 1, "bos_id": 2, "unk_id": 3}
        return {"spiece_model": torch.ByteTensor(list(spiece_model(ids)))}
    if name == "flux2":
        _tekken_converter()
        import comfy.text_encoders.flux
        bytewise = {"tekken_model": torch.ByteTensor(list(tekken_model("")))}
        template = comfy.text_encoders.flux.Flux2Tokenizer(tokenizer_data=bytewise).llama_template
        return {"tekken_model": torch.ByteTensor(list(tekken_model(f"{template} {SPIECE_WORDS}")))}
    return {}


def build_text_encoder(name, seed=0):
    """A tiny ComfyUI CLIP for a family (a key of TEXT_ENCODERS): its real tokenizer, small layers.

    Qwen2.5-VL's vision tower (1280 wide, 32 layers: text-only prompts never run it) is built at its fixed size
    but left unfilled: allocating it costs nothing until written, filling it would take half a minute.
    """
    import comfy.sd
    import comfy.supported_models_base
    import torch

    tokenizer, factory, options = TEXT_ENCODERS[name]
    target = comfy.supported_models_base.ClipTarget(_attribute(tokenizer),
                                                    _attribute(factory)(**ENCODER_ARGUMENTS.get(name, {})))
    data = tokenizer_data(name)
    if name == "flux2":  # the vocabulary is as large as the tiny tekken file
        size = json.loads(bytes(data["tekken_model"].numpy()))["config"]["default_vocab_size"]
        options = {**options, "mistral3_24b_model_config": {**options["mistral3_24b_model_config"], "vocab_size": size}}
    clip = comfy.sd.CLIP(target=target, tokenizer_data=data, model_options={**options, "dtype": torch.float32})
    for option, value in TOKENIZER_OPTIONS.get(name, {}).items():
        clip.set_tokenizer_option(option, value)
    _fill_module(clip.cond_stage_model, seed)
    return clip


# The keys ComfyUI's VAE loader detects a VAE kind by, with the shapes real files have (comfy/sd.py VAE): enough
# to build the VAE object (its latent channels, dimensions and compression), whose other weights stay unfilled:
# for the latents of the preview tests, never for decoding.
VAE_GEOMETRY = {
    "wan22": {"decoder.middle.0.residual.0.gamma": (1024, 1, 1, 1),
              "decoder.upsamples.0.upsamples.0.residual.2.weight": (1024, 1024, 3, 3, 3)},
    "flux2": {"decoder.conv_in.weight": (512, 32, 3, 3), "decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
              "bn.running_mean": (128,), "post_quant_conv.weight": (32, 32, 1, 1)},
    "hunyuan_video_15": {"decoder.conv_in.conv.weight": (1024, 32, 3, 3, 3)},
}
WAN21_VAE_TINY = dict(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                      temperal_downsample=[False, True, True], dropout=0.0)


def build_vae(kind, seed=0):
    """A ComfyUI VAE object: "wan21", a Wan 2.1 VAE 8 wide (what decodes a tiny Wan's one-frame latents, 16
    channels at 1/8), seeded; or a kind of VAE_GEOMETRY, for its latent geometry only."""
    import comfy.ldm.wan.vae
    import comfy.sd
    import torch

    if kind == "wan21":
        with torch.device("meta"):
            spec = comfy.ldm.wan.vae.WanVAE(**WAN21_VAE_TINY).state_dict()
        return comfy.sd.VAE(sd=_fill(spec, seed))
    return comfy.sd.VAE(sd={key: torch.zeros(shape) for key, shape in VAE_GEOMETRY[kind].items()})


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


class _Records(logging.Handler):
    """Collects every log message ComfyUI emits while loading."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append((record.levelno, record.getMessage()))


def verify(name, out_dir):
    """Load a generated checkpoint like CheckpointLoaderSimple does and check it end to end; return a summary."""
    import comfy.sd
    import torch

    file, _, expected, _, width = MODELS[name]
    t0 = time.perf_counter()
    records, root = _Records(), logging.getLogger()
    saved = root.handlers, root.level
    root.handlers, root.level = [records], logging.DEBUG  # debug-level key reports, not echoed to stderr
    try:
        model, clip, vae = comfy.sd.load_checkpoint_guess_config(os.path.join(out_dir, file))[:3]
    finally:
        root.handlers, root.level = saved
    # Unused stored keys are reported at debug level; missing ones as warnings (ComfyUI itself demotes the CLIP
    # keys no checkpoint needs, logit_scale and text_projection, to debug).
    problems = [m for level, m in records.lines
                if m.startswith(("clip unexpected", "Leftover VAE keys", "left over keys", "unet unexpected"))
                or (level >= logging.WARNING and m.startswith(("unet missing", "clip missing", "Missing VAE keys")))]
    unet_sd = model.model.diffusion_model.state_dict()
    to_kv = {k: tuple(v.shape) for k, v in unet_sd.items() if ".attn2.to_k." in k or ".attn2.to_v." in k}
    tokens = clip.tokenize("a photo of a cat")
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    image = vae.decode(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)))
    summary = {
        "model_config": type(model.model.model_config).__name__,
        "model_class": type(model.model).__name__,
        "clip_class": type(clip.cond_stage_model).__name__,
        "vae_class": type(vae.first_stage_model).__name__,
        "token_keys": sorted(tokens),
        "cond_shape": list(cond.shape),
        "pooled_shape": list(pooled.shape) if pooled is not None else None,
        "cond_finite": bool(torch.isfinite(cond).all()),
        "image_shape": list(image.shape),
        "image_finite": bool(torch.isfinite(image).all()),
        "attn2_to_kv": len(to_kv),
        "attn2_in_features": sorted({s[1] for s in to_kv.values()}),
        "load_problems": problems,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    ok = (summary["model_config"] == expected and not problems and summary["cond_finite"] and summary["image_finite"]
          and summary["cond_shape"][-1] == width and summary["attn2_in_features"] == [width]
          and summary["image_shape"] == [1, 64, 64, 3])
    return ok, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfy-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--which", choices=["sd15", "sdxl", "all", *DIFFUSION_MODELS, "clip_l", "taesd3", "sd3_checkpoint"],
                    default="all", help="all = the checkpoints (sd15, sdxl); the others: see the module docstring")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true", help="check existing files instead of generating")
    a = ap.parse_args()
    _import_comfy(a.comfy_dir)
    if a.which not in ("all", *MODELS):
        os.makedirs(a.out_dir, exist_ok=True)
        if a.which in DIFFUSION_MODELS:
            summary = generate_diffusion_model(a.which, a.out_dir, a.seed)
        else:
            summary = {"clip_l": generate_clip_l, "taesd3": generate_taesd3,
                       "sd3_checkpoint": generate_sd3_checkpoint}[a.which](a.out_dir, a.seed)
        print(json.dumps({a.which: summary}, indent=1))
        return
    names = list(MODELS) if a.which == "all" else [a.which]
    report, failed = {}, False
    for name in names:
        if a.verify:
            ok, report[name] = verify(name, a.out_dir)
            failed |= not ok
        else:
            os.makedirs(a.out_dir, exist_ok=True)
            report[name] = generate(name, a.out_dir, a.seed)
    print(json.dumps(report, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
