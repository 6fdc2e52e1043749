"""The demo: erase concepts from a small built-in model in a real, headless ComfyUI and show what changed.

    python3 -m harness.demo [--out DIR]

Installs the host if needed (harness.install), starts the real ComfyUI server with this pack, and queues one
workflow over HTTP, as a user's browser would: Load Checkpoint -> ScaPre Concept List -> ScaPre Unlearn ->
for every prompt, the same seed sampled with the original and with the edited model, stitched into a
before | after grid -> Save Image; the report goes to Preview Any and the edit is saved with ScaPre Save
Edited Model as an exact LoRA file. It writes to DIR (default: demo_output/ in the repo):
  grid.png             one row per prompt: left = original model, right = after ScaPre
  report.txt           ScaPre's report (what moved, per concept; time per stage)
  edit_summary.json    the saved edit file: path, size, metadata, and per weight |dW| / |W0|
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from . import paths
from .install import ensure_host

CHECKPOINT = paths.TINY_SD15
CONCEPTS = "golf ball\nchurch -> a building\n+ tennis ball\n"
PROMPTS = ["a photo of a golf ball", "a photo of a church", "a photo of a tennis ball", "a photo of a dog"]
SIZE, STEPS, SEED = 64, 8, 1


def demo_graph() -> dict:
    """The demo workflow in API format."""
    graph = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "concepts": {"class_type": "ScaPreConceptList", "inputs": {"text": CONCEPTS, "preset": "none"}},
        "unlearn": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["ckpt", 0], "clip": ["ckpt", 1],
                                                              "concepts": ["concepts", 0], "recipe": "large_scale",
                                                              "strength": 1.0, "seed": 0}},
        "report": {"class_type": "PreviewAny", "inputs": {"source": ["unlearn", 1]}},
        "save": {"class_type": "ScaPreSaveEditedModel", "inputs": {"model": ["unlearn", 0], "filename_prefix":
                                                                   "demo/edit", "format": "edit (LoRA, exact)"}},
        "negative": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
    }
    rows = []
    for i, text in enumerate(PROMPTS):
        graph[f"p{i}"] = {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["ckpt", 1]}}
        pair = []
        for side, model in (("before", ["ckpt", 0]), ("after", ["unlearn", 0])):
            graph[f"{side}{i}"] = {"class_type": "KSampler", "inputs": {
                "model": model, "positive": [f"p{i}", 0], "negative": ["negative", 0], "latent_image": ["latent", 0],
                "seed": SEED, "steps": STEPS, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal",
                "denoise": 1.0}}
            graph[f"{side}{i}_px"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"{side}{i}", 0],
                                                                           "vae": ["ckpt", 2]}}
            pair.append([f"{side}{i}_px", 0])
        graph[f"row{i}"] = {"class_type": "ImageStitch", "inputs": {"image1": pair[0], "image2": pair[1],
                                                                    "direction": "right", "match_image_size": True,
                                                                    "spacing_width": 8, "spacing_color": "white"}}
        rows.append([f"row{i}", 0])
    grid = rows[0]
    for i, row in enumerate(rows[1:], start=1):
        graph[f"grid{i}"] = {"class_type": "ImageStitch", "inputs": {"image1": grid, "image2": row,
                                                                     "direction": "down", "match_image_size": True,
                                                                     "spacing_width": 8, "spacing_color": "white"}}
        grid = [f"grid{i}", 0]
    graph["grid"] = {"class_type": "SaveImage", "inputs": {"images": grid, "filename_prefix": "demo/grid"}}
    return graph


def summarize_edit(path: Path) -> dict:
    """Size, metadata and per-weight relative change of a saved exact edit (needs torch: runs in the host venv)."""
    import torch
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        diffs = {k: f.get_tensor(k).float() for k in f.keys()}
        metadata = f.metadata()
    with safe_open(str(paths.CHECKPOINTS / CHECKPOINT), framework="pt") as f:
        changes = {}
        for key, diff in diffs.items():
            base = f.get_tensor("model." + key[: -len(".diff")] + ".weight").float()
            changes[key[: -len(".diff")]] = {"shape": list(diff.shape),
                                             "relative_change": round(float(diff.norm() / base.norm()), 6)}
    return {"file": str(path), "bytes": path.stat().st_size, "weights": changes,
            "metadata": {k: v for k, v in metadata.items() if k.startswith(("scapre.", "modelspec."))},
            "torch": torch.__version__}


def run(out: Path) -> None:
    from .server import ComfyServer

    t0 = time.perf_counter()
    shutil.rmtree(out / "comfy_output", ignore_errors=True)
    with ComfyServer(["--output-directory", out / "comfy_output"]) as server:
        print(f"[demo] ComfyUI {server.url} started in {server.start_seconds:.1f} s; queueing the workflow")
        entry = server.run(demo_graph(), timeout=900)
    if entry["status"]["status_str"] != "success":
        sys.exit(f"[demo] the workflow failed: {json.dumps(entry['status'])[:3000]}")
    (image,) = entry["outputs"]["grid"]["images"]
    shutil.copy(out / "comfy_output" / image["subfolder"] / image["filename"], out / "grid.png")
    (out / "report.txt").write_text(entry["outputs"]["report"]["text"][0] + "\n")
    saved = entry["outputs"]["save"]["text"][0]
    lora = paths.BASE_DIR / "models" / saved.split(": ", 1)[1].split(" (", 1)[0]
    (out / "edit_summary.json").write_text(json.dumps(summarize_edit(lora), indent=1) + "\n")
    print(f"[demo] {saved}")
    print(entry["outputs"]["report"]["text"][0])
    print(f"[demo] done in {time.perf_counter() - t0:.1f} s; wrote {out}/grid.png (rows: {', '.join(PROMPTS)}; "
          f"left original, right edited), {out}/report.txt and {out}/edit_summary.json")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=paths.REPO / "demo_output")
    out = parser.parse_args(argv).out.resolve()
    if Path(sys.prefix).resolve() != paths.VENV.resolve():
        ensure_host()  # then continue in the host venv, which has torch and safetensors for the summary
        os.chdir(paths.REPO)
        os.execv(paths.VENV_PY, [str(paths.VENV_PY), "-m", "harness.demo", "--out", str(out)])
    out.mkdir(parents=True, exist_ok=True)
    run(out)


if __name__ == "__main__":
    main(sys.argv[1:])
