"""The demo: erase concepts from a small trained model in a real, headless ComfyUI and show what changed.

    python3 -m harness.demo [--out DIR]

Installs the host if needed (harness.install), starts the real ComfyUI server with this pack, and queues one
workflow over HTTP, as a user's browser would. The model is the toy world's checkpoint (toy/, world v2 of issue 8):
an SD1.5 model trained on 12 shapes in look-alike triples x 6 colours x 4 styles ("a striped red circle"), small
enough to sample in a fraction of a second on a CPU, with an oracle classifier that says what each image shows. The workflow: Load Checkpoint -> ScaPre
Concept List -> ScaPre Unlearn; ScaPre Erasure Preview samples every prompt SEEDS times with the original and the
edited model (same seeds) into one labelled grid; for the oracle, KSampler draws the same samples once more per
prompt and side; the report goes to Preview Any and the edit is saved with ScaPre Save Edited Model as an exact
LoRA file. It writes to DIR (default: demo_output/ in the repo):
  grid.png             ScaPre Erasure Preview's grid: one row per prompt, labelled "erased" or "kept", left the
                       original model ("before"), right after ScaPre ("after"), same seeds
  oracle.txt           what the oracle sees in every image of the grid, and the counts per prompt
  oracle.json          the same verdicts: {prompt: {"before": [...], "after": [...]}}
  report.txt           ScaPre's report (what moved, per concept; time per stage)
  edit_summary.json    the saved edit file: path, size, metadata, and per weight |dW| / |W0|
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from . import paths
from .install import ensure_host, exec_in_venv

CHECKPOINT = paths.TOY
ERASED = ["a striped red circle", "a filled green triangle"]
# neighbours of the erased prompts (the ring that looks like a circle, another colour, another style, the
# pentagon that looks like a triangle), then one unrelated prompt: what must stay
PROMPTS = ERASED + ["a striped red ring", "a striped blue circle", "a filled red circle", "a filled green pentagon",
                    "a dotted yellow star"]
RECIPE = "uce"
SEEDS = 3           # samples per prompt and side: one latent batch, its noise drawn from SEED
SEED = 1
SIZE = 64           # the toy world's image size (the preview enlarges such small samples itself)


def concept_text() -> str:
    """The Concept List's text: the erased prompts, then their neighbours as preserve lines (toy.world.neighbours:
    other colours, look-alike shapes, other styles), the shown prompts first, as the benchmark's "+lines" edits
    list them (docs/BENCHMARKS.md, toy world v2)."""
    from toy import world

    erased = [world.PROMPTS.index(p) for p in ERASED]
    keep = list(dict.fromkeys([p for p in PROMPTS if p not in ERASED]
                              + [world.PROMPTS[j] for j in world.neighbours(erased)]))
    return "".join(f"{p}\n" for p in ERASED) + "# keep what looks like them\n" + "".join(f"+ {p}\n" for p in keep)


def demo_graph() -> dict:
    """The demo workflow in API format (sampler settings: the toy world's, toy.generate.SAMPLER)."""
    from toy.generate import SAMPLER

    graph = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "concepts": {"class_type": "ScaPreConceptList", "inputs": {"text": concept_text(), "preset": "none"}},
        "unlearn": {"class_type": "ScaPreUnlearn", "inputs": {"model": ["ckpt", 0], "clip": ["ckpt", 1],
                                                              "concepts": ["concepts", 0], "recipe": RECIPE,
                                                              "strength": 1.0, "seed": 0}},
        "report": {"class_type": "PreviewAny", "inputs": {"source": ["unlearn", 1]}},
        "save": {"class_type": "ScaPreSaveEditedModel", "inputs": {"model": ["unlearn", 0], "filename_prefix":
                                                                   "demo/edit", "format": "edit (LoRA, exact)"}},
        "negative": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": SEEDS}},
        "preview": {"class_type": "ScaPreErasurePreview", "inputs": {
            "original": ["ckpt", 0], "edited": ["unlearn", 0], "clip": ["ckpt", 1], "vae": ["ckpt", 2],
            "concepts": ["concepts", 0], "seed": SEED, "steps": SAMPLER["steps"], "cfg": SAMPLER["cfg"],
            "sampler_name": SAMPLER["sampler"], "scheduler": SAMPLER["scheduler"], "width": SIZE, "height": SIZE,
            "samples": SEEDS, "preserved": len(PROMPTS) - len(ERASED)}},
        "grid": {"class_type": "SaveImage", "inputs": {"images": ["preview", 0], "filename_prefix": "demo/grid"}},
    }
    for i, text in enumerate(PROMPTS):
        graph[f"p{i}"] = {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["ckpt", 1]}}
        for side, model in (("before", ["ckpt", 0]), ("after", ["unlearn", 0])):
            graph[f"{side}{i}"] = {"class_type": "KSampler", "inputs": {
                "model": model, "positive": [f"p{i}", 0], "negative": ["negative", 0], "latent_image": ["latent", 0],
                "seed": SEED, "steps": SAMPLER["steps"], "cfg": SAMPLER["cfg"], "sampler_name": SAMPLER["sampler"],
                "scheduler": SAMPLER["scheduler"], "denoise": 1.0}}
            graph[f"{side}{i}_px"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"{side}{i}", 0],
                                                                           "vae": ["ckpt", 2]}}
            graph[f"{side}{i}_save"] = {"class_type": "SaveImage", "inputs": {"images": [f"{side}{i}_px", 0],
                                                                             "filename_prefix": f"demo/{side}_{i}"}}
    return graph


def oracle_verdicts(out: Path, entry: dict) -> dict:
    """What the toy world's oracle sees in each saved image: {prompt: {"before": [...], "after": [...]}}."""
    import numpy as np
    import torch
    from PIL import Image

    from toy import env, generate, world
    from toy.train import load_oracle

    oracle = load_oracle(env.WEIGHTS / "oracle.safetensors")
    verdicts = {}
    for i, text in enumerate(PROMPTS):
        verdicts[text] = {}
        for side in ("before", "after"):
            files = [out / "comfy_output" / im["subfolder"] / im["filename"]
                     for im in entry["outputs"][f"{side}{i}_save"]["images"]]
            x = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]))
            s = generate.score(oracle, x.permute(0, 3, 1, 2).float() / 255)
            verdicts[text][side] = [f"{world.STYLES[int(y)]} {world.COLOURS[int(c)]} {world.SHAPE_CLASSES[int(sh)]}"
                                    if int(sh) != world.NONE else "no shape"
                                    for sh, c, y in zip(s.shape, s.colour, s.style)]
    return verdicts


def concept_name(text: str) -> str:
    """ "a striped red circle" -> "striped red circle": how the oracle's verdicts name a concept."""
    return text.split(" ", 1)[1]


def oracle_text(verdicts: dict) -> str:
    lines = [f"What the toy world's oracle sees (erased: {', '.join(ERASED)}; {SEEDS} seeds per prompt)", ""]
    for text, v in verdicts.items():
        hits = {side: sum(name == concept_name(text) for name in v[side]) for side in v}
        tag = "ERASED " if text in ERASED else "kept   "
        lines.append(f"{tag} {text:<24} before: {hits['before']}/{SEEDS} {concept_name(text)}  after: {hits['after']}/{SEEDS}"
                     f"   ({', '.join(v['before'])} -> {', '.join(v['after'])})")
    return "\n".join(lines) + "\n"


def summarize_edit(path: Path) -> dict:
    """Size, metadata and per-weight relative change (and rank where the save holds exact factors) of a saved
    exact edit (needs torch: runs in the host venv)."""
    import torch
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        stored = {k: f.get_tensor(k).float() for k in f.keys()}
        metadata = f.metadata()
    edits = {}  # weight path -> (dense edit, rank or None)
    for key, t in stored.items():
        if key.endswith(".diff"):
            edits[key[: -len(".diff")]] = (t, None)
        elif key.endswith(".lora_up.weight"):
            weight = key[: -len(".lora_up.weight")]
            edits[weight] = (t @ stored[weight + ".lora_down.weight"], t.shape[1])
    with safe_open(str(paths.CHECKPOINTS / CHECKPOINT), framework="pt") as f:
        changes = {}
        for weight, (delta, rank) in edits.items():
            base = f.get_tensor("model." + weight + ".weight").float()
            changes[weight] = {"shape": list(delta.shape), "stored": "dense" if rank is None else f"rank {rank}",
                               "relative_change": round(float(delta.norm() / base.norm()), 6)}
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
    verdicts = oracle_verdicts(out, entry)
    (out / "oracle.json").write_text(json.dumps(verdicts, indent=1) + "\n")
    (out / "oracle.txt").write_text(oracle_text(verdicts))
    print(f"[demo] {saved}")
    print(entry["outputs"]["report"]["text"][0])
    print(oracle_text(verdicts))
    print(f"[demo] done in {time.perf_counter() - t0:.1f} s; wrote {out}/grid.png (rows: {', '.join(PROMPTS)}; "
          f"left {SEEDS} samples of the original model, right the same seeds after ScaPre), {out}/oracle.txt, "
          f"{out}/oracle.json, {out}/report.txt and {out}/edit_summary.json")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=paths.REPO / "demo_output")
    out = parser.parse_args(argv).out.resolve()
    if Path(sys.prefix).resolve() != paths.VENV.resolve():
        ensure_host()  # then continue in the host venv, which has torch and safetensors for the summary
        exec_in_venv("harness.demo", "--out", out)
    out.mkdir(parents=True, exist_ok=True)
    run(out)


if __name__ == "__main__":
    main(sys.argv[1:])
