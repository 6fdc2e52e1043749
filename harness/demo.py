"""The demo: erase concepts from a small trained model in a real, headless ComfyUI and show what changed.

    python3 -m harness.demo [--out DIR]

Installs the host if needed (harness.install), starts the real ComfyUI server with this pack, and queues one
workflow over HTTP, as a user's browser would. The model is the toy world's checkpoint (toy/, world v3 of issue
14): an SD1.5 model trained on 275 names a user would type ("golden retriever", "tiger", "lemon"; look-alike
groups such as the retrievers drawn alike) and four artists, each a style ("an elephant by Claude Monet" is the
elephant dotted), small enough to sample in a fraction of a second on a CPU, with an oracle classifier that says
what each image shows (shape, colour, style). The workflow: Load Checkpoint -> ScaPre Concept List (erase
"golden retriever" and "Claude Monet", keep their look-alikes as + lines) -> ScaPre Unlearn; ScaPre Erasure
Preview samples every prompt of ROWS SEEDS times with the original and the edited model (same seeds) into one
labelled grid; for the oracle, KSampler draws the same samples once more per prompt and side; the report goes to
Preview Any and the edit is saved with ScaPre Save Edited Model as an exact LoRA file.
It writes to DIR (default: demo_output/ in the repo):
  grid.png             ScaPre Erasure Preview's grid: one row per prompt, labelled "erased" or "kept", left the
                       original model ("before"), right after ScaPre ("after"), same seeds
  oracle.txt           what the oracle sees in every image of the grid ("elephant", "elephant (dotted)": its
                       shape and colour in the dotted style, "lemon", ...), and the counts per prompt
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
ERASED = ["golden retriever", "Claude Monet"]
"""The Concept List's erased lines, as a user types them: a name (an object) and an artist (a style)."""
ROWS = {  # the grid's prompts, one row each, and what each asks the toy world v3 for: (name, artist or None)
    "an image of a golden retriever": ("golden retriever", None),
    "an elephant by Claude Monet": ("elephant", "Claude Monet"),
    "an image of a labrador retriever": ("labrador retriever", None),
    "an image of a curly-coated retriever": ("curly-coated retriever", None),
    "an elephant by Vincent van Gogh": ("elephant", "Vincent van Gogh"),
    "an image of an elephant": ("elephant", None),
    "an image of a lemon": ("lemon", None),
}
PROMPTS = list(ROWS)
ERASED_PROMPTS = PROMPTS[:2]
"""The rows of the erased name and of the erased artist; the others (look-alikes, the elephant in another artist's
style and in its own, an unrelated lemon) must stay."""
RECIPE = "uce_prior"
"""ScaPre Unlearn's default recipe (nodes/options.DEFAULT_RECIPE; tests/integration/test_demo.py checks they agree)."""
SEEDS = 3           # samples per prompt and side: one latent batch, its noise drawn from SEED
SEED = 1
SIZE = 64           # the toy world's image size (the preview enlarges such small samples itself)


def concept_text() -> str:
    """The Concept List's text: the erased name and artist, then their look-alikes as preserve lines (the other
    retrievers of toy.names.GROUPS, the other artists), as the benchmark's "+lines" edits list them."""
    from toy import names

    keep = [n for n in names.GROUPS[names.GROUP_OF[ERASED[0]]] if n not in ERASED]
    keep += [a for a in names.ARTISTS if a not in ERASED]
    return ("".join(f"{c}\n" for c in ERASED) + "# keep what looks like them: the other retrievers and artists\n"
            + "".join(f"+ {k}\n" for k in keep))


def shown_text() -> str:
    """The preview's rows as a Concept List of their own (ScaPre Erasure Preview samples a list's erased lines, then
    its first + lines): the erased rows as lines, the kept ones as + lines. Only the preview reads it."""
    return "".join(f"{p}\n" for p in ERASED_PROMPTS) + "".join(f"+ {p}\n" for p in PROMPTS if p not in ERASED_PROMPTS)


def demo_graph() -> dict:
    """The demo workflow in API format (sampler settings: the toy world's, toy.generate.SAMPLER)."""
    from toy.generate import SAMPLER

    graph = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "concepts": {"class_type": "ScaPreConceptList", "inputs": {"text": concept_text(), "preset": "none"}},
        "shown": {"class_type": "ScaPreConceptList", "inputs": {"text": shown_text(), "preset": "none"}},
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
            "concepts": ["shown", 0], "seed": SEED, "steps": SAMPLER["steps"], "cfg": SAMPLER["cfg"],
            "sampler_name": SAMPLER["sampler"], "scheduler": SAMPLER["scheduler"], "width": SIZE, "height": SIZE,
            "samples": SEEDS, "preserved": len(PROMPTS) - len(ERASED_PROMPTS)}},
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
    """What the toy world's oracle sees in each saved image: {prompt: {"before": [...], "after": [...]}}, in words
    (``verdict``)."""
    import numpy as np
    import torch
    from PIL import Image

    from toy import env, generate
    from toy.train import load_oracle

    oracle = load_oracle(env.ORACLE)
    verdicts = {}
    for i, text in enumerate(PROMPTS):
        verdicts[text] = {}
        for side in ("before", "after"):
            files = [out / "comfy_output" / im["subfolder"] / im["filename"]
                     for im in entry["outputs"][f"{side}{i}_save"]["images"]]
            x = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]))
            s = generate.score(oracle, x.permute(0, 3, 1, 2).float() / 255)
            verdicts[text][side] = [verdict(ROWS[text][0], int(sh), int(c), int(y))
                                    for sh, c, y in zip(s.shape, s.colour, s.style)]
    return verdicts


def verdict(name: str, shape: int, colour: int, style: int) -> str:
    """The oracle's verdict (shape, colour and style indices) on an image of ``name``, in words: "elephant" (the
    name's own visual), "elephant (dotted)" (its shape and colour in another style: how an artist draws it), the
    name another visual belongs to ("lemon"), that visual's words where no name has it, or "no shape"."""
    from toy import names, world

    if shape == world.NONE:
        return "no shape"
    seen = (world.COLOURS[colour], world.SHAPES[shape], world.STYLES[style])
    own = world.CONCEPTS[names.VISUAL[name]]
    if seen == own:
        return name
    if seen[:2] == own[:2]:
        return f"{name} ({seen[2]})"
    other = [n for n, v in names.VISUAL.items() if world.CONCEPTS[v] == seen]
    return other[0] if other else f"{seen[2]} {seen[0]} {seen[1]}"


def expected(text: str) -> str:
    """The verdict of an image that shows what the row's prompt asks for."""
    from toy import names

    name, artist = ROWS[text]
    style = names.ARTISTS.get(artist)
    return f"{name} ({style})" if style else name


def oracle_text(verdicts: dict) -> str:
    lines = [f"What the toy world's oracle sees (erased: {', '.join(ERASED)}; recipe {RECIPE}; {SEEDS} seeds per "
             "prompt)", ""]
    for text, v in verdicts.items():
        want = expected(text)
        hits = {side: sum(name == want for name in v[side]) for side in v}
        tag = "ERASED " if text in ERASED_PROMPTS else "kept   "
        lines.append(f"{tag} {text:<37} before: {hits['before']}/{SEEDS} {want}  after: {hits['after']}/{SEEDS}"
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
