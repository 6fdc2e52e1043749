"""Assemble the toy checkpoint: the trained UNet + the rule-built CLIP-L + the trained TAESD, as an SD1.5 checkpoint.

    .cache/host/venv/bin/python -m toy.assemble --out-dir .cache/host/base/models/checkpoints   # toy_names
    TOY_WORLD=shapes .cache/host/venv/bin/python -m toy.assemble --out-dir ...                  # v2's toy_shapes

Key names come from ComfyUI's SD15 model config (``process_*_state_dict_for_saving``), the CLIP tensors from
toy/clip.py's rule (sha256-checked), the UNet's pass-through branches (toy/models.py ``is_dead``, not committed)
are written as zeros, and the latent normalisation of the autoencoder is folded into TAESD's ``vae_scale`` /
``vae_shift``:

    ComfyUI latent L = z / vae_scale + vae_shift, and the UNet sees L * 0.18215 = (z - mean) / std,
    so vae_scale = std * 0.18215 and vae_shift = -mean / (std * 0.18215)   (z: raw TAESD encoder output).

Everything is stored as fp16 with one metadata key, so the same inputs give the same bytes.

``ensure_toy_checkpoint(checkpoints_dir)`` (standard library only, for harness/install.py) assembles it through
the host venv when the file is missing or its inputs changed, and returns quickly otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import paths

from .env import REPO, TAESD, WORLD, World

CHECKPOINT_NAME = WORLD.checkpoint
STAMP_SUFFIX = ".stamp"
SCALE_FACTOR = 0.18215


def _fingerprint(world: World) -> str:
    h = hashlib.sha256()
    for path in (world.weights / "unet.safetensors", TAESD, world.weights / "build.json"):
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes() if path.name != "build.json" else json.dumps(
            _latent_stats(world), sort_keys=True).encode())
    for module in ("assemble.py", "clip.py", "models.py", "world.py", "names.py", "wordclip.py"):
        h.update((REPO / "toy" / module).read_bytes())
    return h.hexdigest()


def _latent_stats(world: World = WORLD) -> dict:
    stage = json.loads((world.weights / "build.json").read_text())["stages"]["taesd"]
    return {"latent_mean": stage["latent_mean"], "latent_std": stage["latent_std"]}


def vae_scale_shift() -> tuple[float, float]:
    s = _latent_stats()
    scale = s["latent_std"] * SCALE_FACTOR
    return scale, -s["latent_mean"] / scale


def assemble(out: Path) -> dict:
    """Write the checkpoint to ``out`` (atomically); return its summary. Host venv only."""
    import torch
    from safetensors.torch import load_file, save_file

    from . import clip, env, models
    env.import_comfy()
    import comfy.model_detection
    from harness.tiny_models import COMMON_UNET

    t0 = time.perf_counter()
    config = comfy.model_detection.model_config_from_unet_config({**COMMON_UNET, **models.UNET})
    unet = models.complete_unet_state(load_file(str(WORLD.weights / "unet.safetensors")))
    vae = load_file(str(TAESD))
    scale, shift = vae_scale_shift()
    vae["vae_scale"] = torch.tensor(scale)
    vae["vae_shift"] = torch.tensor(shift)
    sd = {}
    sd.update(clip.clip_state_dict())  # already checkpoint keys (cond_stage_model.transformer.text_model.*)
    sd.update(config.process_unet_state_dict_for_saving(unet))
    sd.update(config.process_vae_state_dict_for_saving(vae))
    sd = {k: v.to(torch.float16).contiguous() for k, v in sd.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    save_file(sd, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, out)
    return {"file": str(out), "bytes": out.stat().st_size, "tensors": len(sd), "vae_scale": scale,
            "vae_shift": shift, "seconds": round(time.perf_counter() - t0, 2)}


def ensure_toy_checkpoint(checkpoints_dir, world: World = WORLD) -> str:
    """Make ``checkpoints_dir/<world.checkpoint>`` from the committed weights unless it is up to date (``world``:
    the selected one, v3's toy_names.safetensors unless TOY_WORLD says otherwise).

    Standard library only (runs under harness/install.py's python3); the assembly itself runs in the host
    venv. Returns what it did.
    """
    folder = Path(checkpoints_dir)
    out = folder / world.checkpoint
    stamp = folder / (world.checkpoint + STAMP_SUFFIX)
    want = _fingerprint(world)
    if out.is_file() and stamp.is_file() and stamp.read_text() == want:
        return "up to date"
    stamp.unlink(missing_ok=True)
    subprocess.run([str(paths.VENV_PY), "-m", "toy.assemble", "--out-dir", str(folder)], check=True, cwd=str(REPO),
                   env=dict(paths.repo_env(), TOY_WORLD=world.name))
    stamp.write_text(want)
    return f"assembled {out}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args(argv)
    print(json.dumps(assemble(Path(a.out_dir) / CHECKPOINT_NAME)))


if __name__ == "__main__":
    sys.exit(main())
