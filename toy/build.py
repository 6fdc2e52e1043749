"""Build the toy world from scratch: seeded, resumable, CPU only.

    .cache/host/venv/bin/python -m toy.build                 # every stage not done yet (about 3 h on 2 cores)
    .cache/host/venv/bin/python -m toy.build --from unet     # redo the UNet (and what follows)
    nice -n 10 .cache/host/venv/bin/python -m toy.build > .cache/toy/build.log 2>&1 &   # in the background

Stages (each records its wall and process-CPU seconds in toy/weights/build.json):
  clip     regenerate the seeded CLIP-L with harness/tiny_models.py, check its sha256, encode the 60 prompts
           and the empty prompt with ComfyUI's CLIP (cached in .cache/toy/conds.pt)
  oracle   train the oracle on on-the-fly renders (+ "none" images, augmentations)   -> toy/weights/oracle.safetensors
  taesd    train the TAESD autoencoder from scratch                                  -> toy/weights/taesd.safetensors
  latents  encode LATENTS_PER_CONCEPT renders of every concept with the fp16 encoder -> .cache/toy/latents.pt
  unet     train the UNet (EMA), monitoring oracle accuracy of EMA samples           -> toy/weights/unet.safetensors
  check    assemble the host's toy_shapes.safetensors, load it through ComfyUI and measure the base model's
           oracle accuracy on its own prompts with the eval sampler (toy.generate.SAMPLER)

Resumable: a stage that is done (toy/weights/build.json says so and its file exists) is skipped; the training
stages checkpoint under .cache/toy every 5 minutes and resume from there. Pausing the process (SIGSTOP/SIGCONT)
is harmless. Training length is in steps, not time, so a paused or slower run gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from . import env, world
from .train import Clock, log

STAGES = ("clip", "oracle", "taesd", "latents", "unet", "check")
PARAMS = {
    "oracle": {"steps": 500, "batch": 64},
    "taesd": {"steps": 800, "batch": 16, "crop": 32},
    "latents": {"per_concept": 300, "seed": 7},
    "unet": {"steps": 12000, "batch": 32, "lr": 4e-4, "ema_decay": 0.999, "monitor_every": 500,
             "stop_shape": 0.95, "stop_colour": 0.98},
    "check": {"samples_per_prompt": 8},
}
BUILD_JSON = env.WEIGHTS / "build.json"
FILES = {"oracle": env.WEIGHTS / "oracle.safetensors", "taesd": env.WEIGHTS / "taesd.safetensors",
         "latents": env.CACHE / "latents.pt", "unet": env.WEIGHTS / "unet.safetensors"}


def read_build() -> dict:
    return json.loads(BUILD_JSON.read_text()) if BUILD_JSON.is_file() else {"stages": {}}


def write_build(build: dict) -> None:
    env.WEIGHTS.mkdir(parents=True, exist_ok=True)
    tmp = BUILD_JSON.with_suffix(".partial")
    tmp.write_text(json.dumps(build, indent=1) + "\n")
    os.replace(tmp, BUILD_JSON)


def world_conds():
    from . import clip
    hidden, _ = clip.encode(list(world.PROMPTS) + [""])
    return hidden[:-1], hidden[-1]


def latent_stats(build: dict) -> tuple[float, float]:
    t = build["stages"]["taesd"]
    return t["latent_mean"], t["latent_std"]


def make_monitor(build: dict, samples: int = 2):
    """Oracle accuracy of EMA samples of all 60 prompts (``samples`` each), used during UNet training."""
    from . import generate
    from .models import make_unet
    from .sampler import model_sampling
    from .train import load_oracle, load_taesd

    oracle = load_oracle(FILES["oracle"])
    ae = load_taesd(FILES["taesd"])
    decode = generate.taesd_decoder(ae, *latent_stats(build))
    conds, uncond = world_conds()
    ms = model_sampling()
    net = make_unet().eval()
    concepts = [j for j in range(len(world.CONCEPTS)) for _ in range(samples)]
    seeds = [s for j in range(len(world.CONCEPTS)) for s in generate.seeds_for(j, samples, base=10_000_000)]

    def monitor(ema_state, step):
        net.load_state_dict({k: v.to(torch.float16).float() for k, v in ema_state.items()})  # as stored
        t0 = time.perf_counter()
        imgs = generate.images(net, ms, decode, conds[concepts], uncond, seeds)
        acc = generate.accuracy(generate.score(oracle, imgs), concepts)
        from PIL import Image
        grid = world.grid((imgs[::samples].permute(0, 2, 3, 1).numpy() * 255).round().astype("uint8"), 12)
        (env.CACHE / "progress").mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(env.CACHE / "progress" / f"unet_{step:06d}.png")
        return {k: round(v, 4) for k, v in acc.items()} | {"seconds": round(time.perf_counter() - t0, 1)}

    return monitor


def run_stage(name: str, build: dict) -> dict:
    from . import train
    p = PARAMS.get(name, {})
    work = env.CACHE
    work.mkdir(parents=True, exist_ok=True)
    if name == "clip":
        from . import clip
        clock = Clock()
        sd = clip.clip_state_dict()
        conds, uncond = world_conds()
        return {"sha256": clip.CLIP_SHA256, "tensors": len(sd), "prompts": len(conds) + 1,
                "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1)}
    if name == "oracle":
        return train.train_oracle(FILES["oracle"], work, p["steps"], batch=p["batch"])
    if name == "taesd":
        oracle = train.load_oracle(FILES["oracle"])
        return train.train_taesd(FILES["taesd"], work, p["steps"], oracle, batch=p["batch"], crop=p["crop"])
    if name == "latents":
        clock = Clock()
        ae = train.load_taesd(FILES["taesd"])
        z, labels = train.encode_dataset(ae, p["per_concept"], p["seed"])
        m, s = latent_stats(build)
        train.atomic_save({"latents": ((z - m) / s).contiguous(), "labels": labels}, FILES["latents"])
        return {**p, "count": len(z), "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1)}
    if name == "unet":
        data = torch.load(FILES["latents"])
        conds, uncond = world_conds()
        q = {k: v for k, v in p.items() if k not in ("steps", "monitor_every")}
        return train.train_unet(FILES["unet"], work, p["steps"], data["latents"], data["labels"], conds, uncond,
                                monitor=make_monitor(build), monitor_every=p["monitor_every"], **q)
    if name == "check":
        from .check import base_accuracy
        return base_accuracy(p["samples_per_prompt"])
    raise ValueError(name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="start", choices=STAGES, help="redo this stage and every later one")
    ap.add_argument("--only", choices=STAGES, help="run just this stage (redo it)")
    a = ap.parse_args(argv)
    env.import_comfy()
    torch.set_num_threads(env.threads())
    build = read_build()
    build["params"] = PARAMS
    build["torch"] = torch.__version__
    if a.start:
        for s in STAGES[STAGES.index(a.start):]:
            build["stages"].pop(s, None)
    if a.only:
        build["stages"].pop(a.only, None)
    t0 = time.perf_counter()
    for name in ([a.only] if a.only else STAGES):
        done = name in build["stages"] and (name not in FILES or FILES[name].is_file())
        if done:
            log(name, "done already")
            continue
        log(name, "start")
        result = run_stage(name, build)
        build["stages"][name] = result
        write_build(build)
        log(name, f"finished: {json.dumps({k: v for k, v in result.items() if k != 'history'})}")
    stages = build["stages"]
    build["total_wall_s"] = round(sum(s.get("wall_s", 0) for s in stages.values()), 1)
    build["total_cpu_s"] = round(sum(s.get("cpu_s", 0) for s in stages.values()), 1)
    write_build(build)
    log("build", f"all stages done ({time.perf_counter() - t0:.0f} s in this run); "
                 f"total {build['total_wall_s']:.0f} s wall, {build['total_cpu_s']:.0f} s cpu")


if __name__ == "__main__":
    main()
