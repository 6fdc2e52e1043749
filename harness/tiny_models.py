"""Seeded generator (and checker) of tiny random-weight checkpoints that ComfyUI detects as real model families.

Runs inside the host venv (it imports ComfyUI and torch):
    VENV_PY harness/tiny_models.py --comfy-dir DIR --out-dir DIR --which sd15|sdxl|all|sd3 [--seed 0] [--verify]
Prints a JSON summary. With --verify it generates nothing: it loads the existing files through
comfy.sd.load_checkpoint_guess_config and checks detection, key coverage, text encoding and VAE decoding.

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


def generate_sd3(out_dir, seed):
    """Write out_dir/tiny_sd3.safetensors (diffusion model only, detected as SD3) and return its summary."""
    import comfy.model_detection
    import comfy.ops
    import torch
    from comfy.ldm.modules.diffusionmodules.mmdit import MMDiT
    from safetensors.torch import save_file

    t0 = time.perf_counter()
    with torch.device("meta"):
        spec = MMDiT(**SD3_MMDIT, device="meta", operations=comfy.ops.disable_weight_init).state_dict()
    detected = type(comfy.model_detection.model_config_from_unet(spec, "")).__name__
    if detected != "SD3":
        raise RuntimeError(f"sd3: ComfyUI detects {detected}, expected SD3")
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k in sorted(spec):
        shape = tuple(spec[k].shape)
        v = torch.randn(shape, generator=g) * (1.0 / math.sqrt(math.prod(shape[1:]))) if len(shape) >= 2 \
            else torch.full(shape, 1.0 if k.endswith(".weight") else 0.0)
        sd[k] = v.to(torch.float16).contiguous()
    out = os.path.join(out_dir, TINY_SD3)
    save_file(sd, out + ".partial", metadata={"format": "pt"})
    os.replace(out + ".partial", out)
    return {"file": out, "bytes": os.path.getsize(out), "tensors": len(sd), "model_config": detected,
            "seconds": round(time.perf_counter() - t0, 2)}


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
    ap.add_argument("--which", choices=["sd15", "sdxl", "all", "sd3"], default="all",
                    help="all = the checkpoints (sd15, sdxl); sd3 = the unsupported-family diffusion model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true", help="check existing files instead of generating")
    a = ap.parse_args()
    _import_comfy(a.comfy_dir)
    if a.which == "sd3":
        os.makedirs(a.out_dir, exist_ok=True)
        print(json.dumps({"sd3": generate_sd3(a.out_dir, a.seed)}, indent=1))
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
