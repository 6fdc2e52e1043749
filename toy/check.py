"""The base model's oracle accuracy on its own prompts, sampled through the assembled checkpoint.

    .cache/host/venv/bin/python -m toy.check [--samples 4] [--fp32 1]

v3 (the default world, ``names_accuracy``): issue 14's target, joint >= 90 % on the canonical prompts and on
"<name> by <artist>". v2 (TOY_WORLD=shapes, ``base_accuracy``), targets of issue 8: shape, colour and style accuracy each >= 90 % with the evaluation's sampler settings
(toy.generate.SAMPLER), on the canonical prompt of every concept; the other two phrasings are measured too.
Also reports how often bfloat16 sampling (used by the evaluation for speed) and float32 sampling (what
ComfyUI runs on a CPU) give the same oracle verdict for the same seed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from . import env, generate, world
from .train import Clock


def base_accuracy(samples_per_prompt: int = 4, compare_fp32: int = 1, other_phrasings: int = 1) -> dict:
    from .runtime import load
    clock = Clock()
    toy = load()  # the host's toy_shapes.safetensors (TOY_WORLD=shapes), reassembled when the weights changed
    concepts = [j for j in range(len(world.CONCEPTS)) for _ in range(samples_per_prompt)]
    seeds = [s for j in range(len(world.CONCEPTS)) for s in generate.seeds_for(j, samples_per_prompt)]
    prompts = [world.PROMPTS[j] for j in concepts]
    t0 = time.perf_counter()
    imgs = toy.images(prompts, seeds)
    sample_s = time.perf_counter() - t0
    scores = toy.score(imgs)
    acc = generate.accuracy(scores, concepts)
    hit = generate.hits(scores, concepts)
    labels = generate.concept_labels(concepts)
    per = {}
    for axis, names, label in (("shape", world.SHAPES, labels[0]), ("colour", world.COLOURS, labels[1]),
                               ("style", world.STYLES, labels[2])):
        per[axis] = {n: round(float(hit[axis][label == i].float().mean()), 3) for i, n in enumerate(names)}
    result = {"family": toy.family, "samples": len(concepts), "sampler": generate.SAMPLER,
              **{k: round(v, 4) for k, v in acc.items()}, "per": per,
              "images_per_s_bf16": round(len(concepts) / sample_s, 2),
              "meets_targets": min(acc["shape"], acc["colour"], acc["style"]) >= 0.90}
    if other_phrasings:
        phrased = {}
        for k in range(1, len(world.PHRASINGS)):
            texts = [world.prompt(*world.CONCEPTS[j], phrasing=k) for j in range(len(world.CONCEPTS))]
            cs = list(range(len(world.CONCEPTS)))
            s = toy.score(toy.images(texts, [generate.seeds_for(j, 1, base=500)[0] for j in cs]))
            phrased[world.PHRASINGS[k]] = {a: round(v, 4) for a, v in generate.accuracy(s, cs).items()
                                           if a in ("shape", "colour", "style", "joint")}
        result["other_phrasings"] = phrased
    if compare_fp32:
        sub = [i for i in range(len(concepts)) if i % samples_per_prompt < compare_fp32]
        result["fp32_check"] = fp32_check(toy, [prompts[i] for i in sub], [seeds[i] for i in sub],
                                          [concepts[i] for i in sub], imgs[sub], scores.subset(sub))
    # a grid of the first sample of every prompt (rows: shape x colour; columns: styles)
    from PIL import Image
    first = imgs[::samples_per_prompt].permute(0, 2, 3, 1).numpy()
    Image.fromarray(world.grid((first * 255).round().astype("uint8"), 4 * len(world.COLOURS))).save(
        env.WORLD.cache / "base_samples.png")
    result["wall_s"], result["cpu_s"] = round(clock.wall, 1), round(clock.cpu, 1)
    return result


def fp32_check(toy, prompts, seeds, concepts, imgs16, s16) -> dict:
    """How often float32 sampling (ComfyUI on a CPU) gives the bfloat16 sample's oracle verdict, same seeds."""
    t0 = time.perf_counter()
    imgs32 = toy.images(prompts, seeds, bf16=False)
    fp32_s = time.perf_counter() - t0
    s32 = toy.score(imgs32)
    same = (s32.shape == s16.shape) & (s32.colour == s16.colour) & (s32.style == s16.style)
    return {"samples": len(prompts), "same_verdict": round(float(same.float().mean()), 4),
            "mean_abs_pixel_diff": round(float((imgs32 - imgs16).abs().mean()), 4),
            "joint_fp32": round(generate.accuracy(s32, concepts)["joint"], 4),
            "joint_bf16_same_seeds": round(generate.accuracy(s16, concepts)["joint"], 4),
            "images_per_s_fp32": round(len(prompts) / fp32_s, 2)}


def names_accuracy(samples_per_prompt: int = 4, compare_fp32: int = 1) -> dict:
    """v3 (issue 14's target: joint >= 90 % on the canonical prompts and on "<name> by <artist>"): every name's
    canonical prompt (``samples_per_prompt`` seeds), every name by one artist (the artists in turn, 2 seeds), and
    the other phrasings (one seed each, every fifth name)."""
    from . import names
    from .runtime import load
    clock = Clock()
    toy = load()
    sets = {"canonical": [(names.phrase(a), names.VISUAL[a], s) for a in names.NAMES
                          for s in range(samples_per_prompt)],
            "by_artist": [(names.by_artist(a, b), names.artist_visual(a, b), s) for i, a in enumerate(names.NAMES)
                          for b in [list(names.ARTISTS)[i % len(names.ARTISTS)]] for s in range(2)],
            **{p: [(names.phrase(a, k), names.VISUAL[a], 0) for a in names.NAMES[::5]]
               for k, p in enumerate(names.PHRASINGS) if k}}
    result = {"family": toy.family, "sampler": generate.SAMPLER, "bf16": generate.EVAL_BF16}
    sample_s, n_images = 0.0, 0
    for key, rows in sets.items():
        prompts, concepts = [p for p, _, _ in rows], [v for _, v, _ in rows]
        seeds = [names.seed_of(p, s) for p, _, s in rows]
        t0 = time.perf_counter()
        imgs = toy.images(prompts, seeds)
        sample_s += time.perf_counter() - t0
        scores = toy.score(imgs)
        n_images += len(rows)
        result[key] = {"samples": len(rows), **{k: round(v, 4) for k, v in generate.accuracy(scores, concepts).items()}}
        if key == "canonical":
            first = imgs[::samples_per_prompt].permute(0, 2, 3, 1).numpy()
            from PIL import Image
            Image.fromarray(world.grid((first * 255).round().astype("uint8"), 25)).save(
                env.WORLD.cache / "base_samples.png")
            if compare_fp32 and generate.EVAL_BF16:  # (v3 samples in float32 already)
                sub = [i for i in range(len(rows)) if i % samples_per_prompt < compare_fp32]
                result["fp32_check"] = fp32_check(toy, [prompts[i] for i in sub], [seeds[i] for i in sub],
                                                  [concepts[i] for i in sub], imgs[sub], scores.subset(sub))
    result["images_per_s"] = round(n_images / sample_s, 2)
    result["meets_targets"] = min(result["canonical"]["joint"], result["by_artist"]["joint"]) >= 0.90
    result["wall_s"], result["cpu_s"] = round(clock.wall, 1), round(clock.cpu, 1)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--fp32", type=int, default=1, help="samples per prompt to redo in float32 (0: skip)")
    a = ap.parse_args(argv)
    env.import_comfy()
    torch.set_num_threads(env.threads())
    print(json.dumps(globals()[env.WORLD.check](a.samples, a.fp32), indent=1))


if __name__ == "__main__":
    main()
