"""The toy checkpoint in real ComfyUI: CheckpointLoaderSimple -> (ScaPre Unlearn) -> KSampler -> VAEDecode -> SaveImage,
compared with toy.sampler on the same seed. Prints one JSON object.

    .cache/host/venv/bin/python -m toy.comfy_check --out-dir DIR [--prompt "an image of a golden retriever"]
        [--seeds 0 1 2 3]

Runs the API-format workflows through ComfyUI's real executor (harness.inprocess), in this process; needs the
selected world's checkpoint (v3's toy_names.safetensors by default; TOY_WORLD=shapes: v2's toy_shapes) in the
host's checkpoints folder (``toy.assemble.ensure_toy_checkpoint``). The oracle's verdicts are the words of the
visual it sees ("filled yellow circle"; a v3 name's visual is ``world.CONCEPTS[names.VISUAL[name]]``). For each seed
it renders the prompt with the unedited checkpoint and after ScaPre Unlearn erased that prompt (recipe "uce" by
default, as released: blank anchor, no preserve lines), scores both with the oracle, and measures the pixel
difference from toy.sampler's float32 and bfloat16 renders of the same seed and edit (the edit recomputed with
scapre_core.unlearn and the toy encoder).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from .assemble import CHECKPOINT_NAME
from .generate import SAMPLER


def txt2img(prompt: str, seed: int, erase: str | None = None, recipe: str = "uce", batch: int = 1,
            prefix: str = "toy") -> dict:
    """API-format workflow: the README demo's shape (optionally with ScaPre Concept List + ScaPre Unlearn)."""
    wf = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT_NAME}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": batch}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
                                                   "latent_image": ["4", 0], "seed": seed, "steps": SAMPLER["steps"],
                                                   "cfg": SAMPLER["cfg"], "sampler_name": SAMPLER["sampler"],
                                                   "scheduler": SAMPLER["scheduler"], "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }
    if erase is not None:
        wf["8"] = {"class_type": "ScaPreConceptList", "inputs": {"text": erase, "preset": "none"}}
        wf["9"] = {"class_type": "ScaPreUnlearn", "inputs": {"model": ["1", 0], "clip": ["1", 1], "concepts": ["8", 0],
                                                             "recipe": recipe, "strength": 1.0, "seed": 0}}
        wf["5"]["inputs"]["model"] = ["9", 0]
    return wf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--prompt", default="an image of a golden retriever")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--recipe", default="uce")
    a = ap.parse_args(argv)
    out_dir = Path(a.out_dir)
    from harness import inprocess, paths
    with contextlib.redirect_stdout(sys.stderr):
        inprocess.init(output_directory=str(out_dir))
        import torch
        from PIL import Image

        from scapre_core import ScaPreConfig, parse_concepts, unlearn

        from . import runtime, world
        toy = runtime.load(paths.CHECKPOINTS / CHECKPOINT_NAME)
        result = {"prompt": a.prompt, "recipe": a.recipe, "seeds": a.seeds, "family": toy.family, "runs": []}
        text = a.prompt + "\n"
        deltas = unlearn(toy.kv_weights(), toy.encode, parse_concepts(text),
                         ScaPreConfig.preset(a.recipe, seed=0)).deltas
        for erase in (None, text):
            for seed in a.seeds:
                tag = f"{'erased' if erase else 'base'}_{seed}"
                r = inprocess.run_prompt(txt2img(a.prompt, seed, erase, a.recipe, prefix=tag))
                if not r["success"]:
                    result["runs"].append({"tag": tag, "error": r["errors"] or r["node_errors"]})
                    continue
                (img,) = r["outputs"]["7"]["images"]
                comfy = np.array(Image.open(out_dir / img["subfolder"] / img["filename"]).convert("RGB"))
                comfy_t = torch.from_numpy(comfy).permute(2, 0, 1)[None].float() / 255
                with toy.edited(deltas if erase else None):
                    ours32 = toy.images([a.prompt], [seed], bf16=False)
                    ours16 = toy.images([a.prompt], [seed], bf16=True)
                s = toy.score(torch.cat([comfy_t, ours32, ours16]))
                names = [f"{world.STYLES[int(y)]} {world.COLOURS[int(c)]} {world.SHAPE_CLASSES[int(sh)]}"
                         for sh, c, y in zip(s.shape, s.colour, s.style)]
                result["runs"].append({
                    "tag": tag, "comfy_oracle": names[0], "toy_fp32_oracle": names[1], "toy_bf16_oracle": names[2],
                    "max_abs_diff_fp32_255": float((ours32 - comfy_t).abs().max() * 255),
                    "mean_abs_diff_bf16_255": float((ours16 - comfy_t).abs().mean() * 255)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
