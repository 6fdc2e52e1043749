"""Build the toy world from scratch: seeded, resumable, CPU only.

    .cache/host/venv/bin/python -m toy.build                 # every stage not done yet (hours on 2 cores)
    TOY_WORLD=shapes .cache/host/venv/bin/python -m toy.build   # v2, the first stage of v3's lineage
    .cache/host/venv/bin/python -m toy.build --from unet     # redo the UNet (and what follows)
    nice -n 10 .cache/host/venv/bin/python -m toy.build > .cache/toy/build.log 2>&1 &   # in the background

Stages (each records its wall and process-CPU seconds in the world's build.json: v3 toy/weights/names, v2
toy/weights; the cache is v3's .cache/toy/names, v2's .cache/toy):
  clip     build the rule-based CLIP-L (toy/clip.py), check its sha256, encode every training prompt and the
           empty prompt with ComfyUI's CLIP (cached in .cache/toy/conds.pt)
  render   render per_concept images of every concept (seeded)                    -> .cache/toy/renders.npz
  oracle   train the oracle on the renders (augmented) + fresh "none" images      -> toy/weights/oracle.safetensors
  taesd    train the TAESD autoencoder from scratch on crops of the renders       -> toy/weights/taesd.safetensors
  latents  encode the renders with the fp16-rounded encoder                       -> .cache/toy/latents.pt
  unet     train the UNet (EMA), monitoring oracle accuracy of EMA samples         -> toy/weights/unet.safetensors
           (v3: from v2's trained UNet, which draws every visual already)           -> toy/weights/names/...
  check    assemble the host's toy_names.safetensors (v2: toy_shapes), load it through ComfyUI, measure the model's
           oracle accuracy on its own prompts with the eval sampler (toy.generate.SAMPLER)

Resumable: a stage that is done (the build.json says so and its file exists) is skipped; the training
stages checkpoint under the cache every 5 minutes and resume from there. The UNet also writes its EMA weights and
their record (build.json's "unet_partial") at every monitor, and warm-starts from them when the cache is gone.
Pausing the process (SIGSTOP/SIGCONT) is harmless. Training length is in steps, not time, so a paused or slower run gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from . import env, world
from .train import Clock, log

STAGES = ("clip", "render", "oracle", "taesd", "latents", "unet", "check")
PARAMS = {
    "render": {"per_concept": 96, "seed": 7},
    "oracle": {"steps": 400, "batch": 96},
    "taesd": {"steps": 3000, "batch": 16, "crop": 32, "lr": 1e-3, "latent_noise": 0.05},
    "unet": {"names": {"steps": 12000, "batch": 32, "lr": 4e-4, "ema_decay": 0.998, "monitor_every": 500, "bf16": False,
                       "init": "toy/weights/unet.safetensors", "stop": {"names_joint": 0.93, "artists_joint": 0.9}},
             "shapes": {"steps": 12000, "batch": 32, "lr": 4e-4, "ema_decay": 0.999, "monitor_every": 1000,
                        "bf16": True, "stop": {"shape": 0.94, "colour": 0.97, "style": 0.94}}}[env.WORLD.name],
    "check": {"samples_per_prompt": 4},
}
BUILD_JSON = env.WORLD.weights / "build.json"
FILES = {"render": env.WORLD.cache / "renders.npz", "oracle": env.ORACLE, "taesd": env.TAESD,
         "latents": env.WORLD.cache / "latents.pt", "unet": env.WORLD.weights / "unet.safetensors"}
MONITOR_ARTIST_PROMPTS = 64


def read_build() -> dict:
    return json.loads(BUILD_JSON.read_text()) if BUILD_JSON.is_file() else {"stages": {}}


def write_build(build: dict) -> None:
    env.WORLD.weights.mkdir(parents=True, exist_ok=True)
    tmp = BUILD_JSON.with_suffix(".partial")
    tmp.write_text(json.dumps(build, indent=1) + "\n")
    os.replace(tmp, BUILD_JSON)


def world_conds():
    """(states of every training prompt [P, 77, 768] float16, the captions of every visual (v2: a table
    [concepts, 6]; v3: a ``train.PairCaptions``), the empty prompt's states [77, 768])."""
    from . import clip
    if env.WORLD is env.NAMES:
        from . import names
        from .train import PairCaptions
        pairs = names.training_pairs()
        prompts = [p for p, _ in pairs]
        captions = PairCaptions([(i, v, " by " in p) for i, (p, v) in enumerate(pairs)], len(world.CONCEPTS))
    else:
        from .train import caption_table
        prompts = world.training_prompts()
        captions = caption_table(prompts)
    hidden, _ = clip.encode(prompts + [""])
    return hidden[:-1].half(), captions, hidden[-1]


def monitor_prompts() -> tuple[list[str], list[int]]:
    """(prompts, the visual each must draw) that the UNet's monitor samples: v2 every concept's canonical prompt;
    v3 every name's canonical prompt and MONITOR_ARTIST_PROMPTS seeded "<name> by <artist>" prompts."""
    if env.WORLD is env.SHAPES:
        return list(world.PROMPTS), list(range(len(world.CONCEPTS)))
    import random
    from . import names
    rng = random.Random(0)
    by = [(rng.choice(names.NAMES), a) for a in names.ARTISTS for _ in range(MONITOR_ARTIST_PROMPTS // 4)]
    return ([*names.PROMPTS, *(names.by_artist(n, a) for n, a in by)],
            [*(names.VISUAL[n] for n in names.NAMES), *(names.artist_visual(n, a) for n, a in by)])


def load_renders():
    data = np.load(FILES["render"])
    return data["images"], data["labels"]


def latent_stats(build: dict) -> tuple[float, float]:
    t = build["stages"]["taesd"]
    return t["latent_mean"], t["latent_std"]


def make_monitor(build: dict, samples: int = 1):
    """Oracle accuracy of EMA samples of every concept's canonical prompt (``samples`` each), during UNet training."""
    from . import clip, generate
    from .models import make_unet, skip_dead_branches
    from .sampler import model_sampling
    from .train import load_oracle, load_taesd

    oracle = load_oracle(FILES["oracle"])
    ae = load_taesd(FILES["taesd"])
    decode = generate.taesd_decoder(ae, *latent_stats(build))
    prompts, visuals = monitor_prompts()
    hidden, _ = clip.encode(prompts + [""])
    conds, uncond = hidden[:-1], hidden[-1]
    ms = model_sampling()
    net = make_unet().eval()
    skip_dead_branches(net)
    rows = [j for j in range(len(prompts)) for _ in range(samples)]
    concepts = [visuals[j] for j in rows]
    seeds = [s for j in range(len(prompts)) for s in generate.seeds_for(j, samples, base=10_000_000)]

    def monitor(ema_state, step):
        net.load_state_dict({k: v.to(torch.float16).float() for k, v in ema_state.items()})  # as stored
        t0 = time.perf_counter()
        imgs = generate.images(net, ms, decode, conds[rows], uncond, seeds)
        scores = generate.score(oracle, imgs)
        acc = generate.accuracy(scores, concepts)
        if env.WORLD is env.NAMES:  # the names and the artist prompts apart
            named = [k for k, j in enumerate(rows) if j < len(prompts) - MONITOR_ARTIST_PROMPTS]
            artist = [k for k, j in enumerate(rows) if j >= len(prompts) - MONITOR_ARTIST_PROMPTS]
            acc = {"names_" + k: v for k, v in generate.accuracy(scores.subset(named),
                                                                 [concepts[k] for k in named]).items()}
            acc |= {"artists_" + k: v for k, v in generate.accuracy(scores.subset(artist),
                                                                   [concepts[k] for k in artist]).items()}
        from PIL import Image
        grid = world.grid((imgs[::samples].permute(0, 2, 3, 1).numpy() * 255).round().astype("uint8"), 24)
        (env.WORLD.cache / "progress").mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(env.WORLD.cache / "progress" / f"unet_{step:06d}.png")
        return {k: round(v, 4) for k, v in acc.items()} | {"seconds": round(time.perf_counter() - t0, 1)}

    return monitor


def run_stage(name: str, build: dict) -> dict:
    from . import train
    p = PARAMS.get(name, {})
    work = env.WORLD.cache
    work.mkdir(parents=True, exist_ok=True)
    if name == "clip":
        from . import clip
        clock = Clock()
        sd = clip.clip_state_dict()
        conds, _, _ = world_conds()
        return {"sha256": clip.CLIP_SHA256, "tensors": len(sd), "prompts": len(conds) + 1,
                "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1)}
    if name == "render":
        clock = Clock()
        images, labels = world.dataset(p["per_concept"], p["seed"])
        tmp = FILES["render"].with_name("renders.partial.npz")
        np.savez(tmp, images=images, labels=labels)
        os.replace(tmp, FILES["render"])
        return {**p, "count": len(images), "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1)}
    if env.WORLD.parent and name in ("oracle", "taesd"):  # v3 draws v2's visuals: v2's networks as they are
        v2 = json.loads((env.WORLDS[env.WORLD.parent].weights / "build.json").read_text())["stages"][name]
        return {**v2, "reused": f"v2's toy/weights/{FILES[name].name}", "v2_wall_s": v2["wall_s"],
                "v2_cpu_s": v2["cpu_s"], "wall_s": 0.0, "cpu_s": 0.0}
    if name == "oracle":
        return train.train_oracle(FILES["oracle"], work, p["steps"], *load_renders(), batch=p["batch"])
    if name == "taesd":
        oracle = train.load_oracle(FILES["oracle"])
        return train.train_taesd(FILES["taesd"], work, p["steps"], oracle, load_renders()[0],
                                 **{k: v for k, v in p.items() if k != "steps"})
    if name == "latents":
        clock = Clock()
        ae = train.load_taesd(FILES["taesd"])
        images, labels = load_renders()
        z = train.encode_dataset(ae, images)
        m, s = latent_stats(build)
        train.atomic_save({"latents": ((z - m) / s).contiguous(), "labels": torch.from_numpy(labels)},
                          FILES["latents"])
        return {"count": len(z), "wall_s": round(clock.wall, 1), "cpu_s": round(clock.cpu, 1)}
    if name == "unet":
        data = torch.load(FILES["latents"])
        conds, captions, uncond = world_conds()
        q = {k: v for k, v in p.items() if k not in ("steps", "monitor_every")}

        def snapshot(record):  # the monitored weights and their record, so a lost cache loses no training
            build["unet_partial"] = record
            write_build(build)

        partial = build.get("unet_partial") if FILES["unet"].is_file() else None
        result = train.train_unet(FILES["unet"], work, p["steps"], data["latents"], data["labels"], conds,
                                  captions, uncond, monitor=make_monitor(build), monitor_every=p["monitor_every"],
                                  partial=partial, snapshot=snapshot, **q)
        build.pop("unet_partial", None)
        return result
    if name == "check":
        from . import check
        return getattr(check, env.WORLD.check)(p["samples_per_prompt"])
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
    for s in STAGES[STAGES.index(a.start):] if a.start else [a.only] if a.only else []:
        build["stages"].pop(s, None)
        if s == "unet":
            build.pop("unet_partial", None)
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
