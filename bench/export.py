"""Export benchmark: file size of each Save Edited Model format, and the rank a 1 % low-rank edit needs.

    .cache/host/venv/bin/python -m bench.export [--m 1 10 50] [--models sd15 sdxl] [--encoders rank64 full]

Edit formats are measured by writing the real files (the same tensors and key names the node writes)
for an edit computed by ``scapre_core.unlearn`` on random weights with the real SD1.5 / SDXL shapes, once
with a random rank-64 encoder and once with a full-rank one (the rank of real CLIP states lies in between).
Full checkpoint and diffusion-model sizes do not depend on the edit: they are the fp16 parameter counts of
the real architectures, counted with ComfyUI's own classes on the meta device (needs the host venv).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from synthetic import MODEL_SHAPES, random_encode, random_weights  # noqa: E402

from scapre_core import ScaPreConfig, low_rank, parse_concepts, unlearn  # noqa: E402

ENCODERS = {"rank64": (64, "rank 64"), "full": (None, "full rank")}


def architecture_params(model: str) -> dict[str, int]:
    """Parameters of the real UNet, text encoder(s) and VAE, from ComfyUI's classes on the meta device."""
    from harness import paths
    sys.path.insert(0, str(paths.COMFY_DIR))
    from comfy.cli_args import args
    args.cpu = True
    import comfy.ldm.models.autoencoder
    import comfy.model_detection
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    unet_config = {
        "sd15": dict(model_channels=320, num_res_blocks=[2] * 4, channel_mult=[1, 2, 4, 4],
                     transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], transformer_depth_output=[1] * 9 + [0] * 3,
                     transformer_depth_middle=1, context_dim=768, use_linear_in_transformer=False,
                     adm_in_channels=None),
        "sdxl": dict(model_channels=320, num_res_blocks=[2] * 3, channel_mult=[1, 2, 4],
                     transformer_depth=[0, 0, 2, 2, 10, 10], transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10],
                     transformer_depth_middle=10, context_dim=2048, use_linear_in_transformer=True,
                     adm_in_channels=2816, num_classes="sequential"),
    }[model]
    common = dict(in_channels=4, out_channels=4, use_checkpoint=False, image_size=32, use_spatial_transformer=True,
                  legacy=False, use_temporal_resblock=False, use_temporal_attention=False)
    config = comfy.model_detection.model_config_from_unet_config({**common, **unet_config})
    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
    with torch.device("meta"):
        unet = UNetModel(**config.unet_config, device="meta", operations=comfy.ops.disable_weight_init)
        clip = config.clip_target().clip(device="meta", dtype=torch.float32)
        vae = comfy.ldm.models.autoencoder.AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
    count = lambda module: sum(p.numel() for p in module.state_dict().values())  # noqa: E731
    return {"family": type(config).__name__, "unet": count(unet), "clip": count(clip), "vae": count(vae)}


def edit_sizes(model: str, m: int, rank: int | None, recipe: str, folder: Path) -> dict:
    widths, d, kinds = MODEL_SHAPES[model]
    weights = random_weights(widths, d, seed=0, kinds=kinds)
    concepts = parse_concepts("\n".join(f"concept {j}" for j in range(m)))
    deltas = unlearn(weights, random_encode(d, rank, seed=0), concepts, ScaPreConfig.preset(recipe)).deltas
    exact = {k[: -len(".weight")] + ".diff": v.half() for k, v in deltas.items()}
    save_file(exact, str(folder / "exact.safetensors"))
    start = time.perf_counter()
    factors = {k: low_rank(v, 0.01, max_rank=min(v.shape)) for k, v in deltas.items()}
    seconds = time.perf_counter() - start
    tensors = {}
    for k, f in factors.items():
        tensors[k[: -len(".weight")] + ".lora_up.weight"] = f.up.contiguous()
        tensors[k[: -len(".weight")] + ".lora_down.weight"] = f.down.contiguous()
    save_file(tensors, str(folder / "low.safetensors"))
    ranks = [f.rank for f in factors.values()]
    return {"exact_mb": (folder / "exact.safetensors").stat().st_size / 2**20,
            "low_mb": (folder / "low.safetensors").stat().st_size / 2**20,
            "rank_min": min(ranks), "rank_mean": sum(ranks) / len(ranks), "rank_max": max(ranks),
            "worst_error": max(f.error for f in factors.values()), "factorise_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["sd15", "sdxl"], choices=list(MODEL_SHAPES))
    parser.add_argument("--m", nargs="+", type=int, default=[1, 10, 50])
    parser.add_argument("--recipes", nargs="+", default=["large_scale", "objects_base"])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS),
                        help="rank of the random text states: 64, or full (d)")
    args = parser.parse_args()
    print("| model | full checkpoint fp16 MB | diffusion model fp16 MB |")
    print("|---|---|---|")
    for model in args.models:
        p = architecture_params(model)
        print(f"| {model} ({p['family']}) | {2 * (p['unet'] + p['clip'] + p['vae']) / 2**20:.0f} | "
              f"{2 * p['unet'] / 2**20:.0f} |", flush=True)
    print()
    print("| model | m | recipe | encoder | LoRA exact fp16 MB | LoRA low rank (1 %) MB | rank min / mean / max | "
          "worst error | factorise s |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for m, recipe, (rank, label) in itertools.product(args.m, args.recipes,
                                                              [ENCODERS[e] for e in args.encoders]):
                r = edit_sizes(model, m, rank, recipe, Path(tmp))
                print(f"| {model} | {m} | {recipe} | {label} | {r['exact_mb']:.1f} | {r['low_mb']:.1f} | "
                      f"{r['rank_min']} / {r['rank_mean']:.0f} / {r['rank_max']} | {r['worst_error']:.4f} | "
                      f"{r['factorise_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
