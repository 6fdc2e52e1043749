"""Collateral, Informax saturation and + line overlaps of every recipe on real-size CLIPs and on the toy world (issue 15).

    .cache/host/venv/bin/python -m bench.collateral --tiny sd15 sdxl   # the harness's tiny checkpoints
    TOY_WORLD=shapes .cache/host/venv/bin/python -m bench.collateral --toy   # toy world v2

``--tiny``: the harness's tiny SD1.5 (CLIP-L) and SDXL (CLIP-L + CLIP-G) checkpoints, loaded by ComfyUI's
CheckpointLoaderSimple and edited through the node pack's own plan (glue.edit_plan: its CLIP encoder and the
UNet's attn2 to_k / to_v). Their text encoders are full size with seeded random weights (harness/tiny_models.py):
real architecture and widths, no trained semantics. The general prior is the shipped 1,000 prompts with their
factors kept (built once, cached under .cache/bench). Concept sets: one concept ("church"), the presets
Imagenette-10 and ImageNet-Diversi50 (blank anchors, no + lines), and ImageNet-Confuse5 (10 erased, 15 kept as
+ lines). Every recipe of the pack (CONFIG_PRESETS) as it is.

``--toy``: toy world v2 (toy/; its trained UNet's 12 cross-attention weights and its rule-built CLIP): uce's
calibration edits of bench/shapes_eval.py (the same seeded draws of k = 1, 10, 50 canonical concept prompts), whose
images were scored in docs/shapes_eval.md, and every recipe on the k = 1 draws; collateral over the 1,000 general
prompts and over the world's own 288 canonical prompts (each concept's "a striped red circle").

Each row: the mean over the concept set of the erased concepts' last-token change, the + lines' largest change,
the collateral (overall; per weight min-max), the most-moved general prompt, the Informax saturation (share of
mask channels at the mask's top weight), the null space's protected directions and the conflicts named. JSON of
every row is written next to the markdown (--json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scapre_core import CONFIG_PRESETS, parse_concepts, preset_text, unlearn, unlearn_streams  # noqa: E402
from scapre_core.collateral import Collateral  # noqa: E402
from scapre_core.method import KeyEdit  # noqa: E402
from scapre_core.prior import PreservePrior, general_prompts, general_source, second_moment  # noqa: E402

CACHE = REPO / ".cache" / "bench"
TINY = {"sd15": "tiny_sd15.safetensors", "sdxl": "tiny_sdxl.safetensors"}
SETS = {"1 concept": "church\n", "Imagenette-10": preset_text("Imagenette-10"),
        "Diversi50": preset_text("ImageNet-Diversi50"), "Confuse5 (15 + lines)": preset_text("ImageNet-Confuse5")}


def cached_prior(name: str, encode, prompts=None, source=None) -> PreservePrior:
    """The prior of ``prompts`` (default: the shipped list) under ``encode``, prompt factors kept; cached on disk."""
    prompts = tuple(prompts or general_prompts())
    path = CACHE / f"prior_{name}.pt"
    if path.exists():
        return PreservePrior(**torch.load(path))
    start = time.perf_counter()
    prior = second_moment(encode, prompts, source or general_source(prompts), keep_prompts=True)
    print(f"[collateral] prior {name}: {len(prompts)} prompts in {time.perf_counter() - start:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(dict(vars(prior)), path)
    return prior


def row_of(report, **extra) -> dict:
    c = report.collateral
    per_weight = sorted(c.per_weight.values())
    return {
        **extra, "method": report.method, "erased_mean": sum(x.change for x in report.concepts) / len(report.concepts),
        "kept_max": max(report.preserve_changes.values(), default=None), "collateral": c.overall,
        "per_weight": [per_weight[0], per_weight[-1]], "worst": c.worst[:1], "informax": report.informax,
        "nullspace": report.nullspace.split(":")[0], "conflicts": len(report.conflicts),
        "conflict_cost": [round(x.cost, 3) for x in report.conflicts][:3],
        "edit_s": round(sum(report.seconds.values()), 2),
    }


def fmt(v, pct=True) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else str(v)


def table(rows: list[dict], first: list[str]) -> str:
    head = first + ["recipe", "erased (mean)", "+ lines (max)", "collateral", "per weight", "most moved prompt",
                    "Informax at top", "null space", "conflicts (cost)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        worst = f"'{r['worst'][0][0]}' {r['worst'][0][1]:.1%}" if r["worst"] else "-"
        informax = "-" if r["informax"] is None else f"{r['informax'][0]:.1%} ({r['informax'][1]:.1%}-{r['informax'][2]:.1%})"
        conflicts = f"{r['conflicts']} ({', '.join(f'{c:.0%}' for c in r['conflict_cost'])})" if r["conflicts"] else "0"
        cells = [str(r[k]) for k in first] + [
            r["recipe"], fmt(r["erased_mean"]), fmt(r["kept_max"]), fmt(r["collateral"]),
            f"{r['per_weight'][0]:.1%}-{r['per_weight'][1]:.1%}", worst, informax, r["nullspace"], conflicts]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def tiny(names: list[str]) -> list[dict]:
    from harness import inprocess
    inprocess.init()
    import nodes
    glue = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].__module__].glue
    rows = []
    for name in names:
        model, clip = nodes.CheckpointLoaderSimple().load_checkpoint(TINY[name])[:2]
        with torch.inference_mode():
            plan = glue.edit_plan(model, clip, torch.device("cpu"))
            priors = {stream: cached_prior(f"tiny_{name}", encode) for stream, encode in plan.prior_encoders.items()}
            for label, text in SETS.items():
                concepts = parse_concepts(text)
                for recipe, config in CONFIG_PRESETS.items():
                    result = unlearn_streams(plan.streams, concepts, config, priors=priors)
                    report = next(iter(result.report.streams.values()))
                    rows.append(row_of(report, model=f"tiny {name}", concepts=label, recipe=recipe))
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def toy() -> list[dict]:
    from bench.shapes_eval import draw, require_shapes
    from toy import world
    from toy.runtime import load
    require_shapes("bench.collateral --toy")
    t = load()
    weights = t.kv_weights()
    general = cached_prior("toy_general", t.encode)
    own = cached_prior("toy_world", t.encode, world.PROMPTS, f"the world's {len(world.PROMPTS)} canonical prompts")
    rows = []
    draws = {1: 8, 10: 3, 50: 2}  # bench/shapes_eval.CALIBRATION_DRAWS, seed 500 (its calibration)
    for recipe, config in CONFIG_PRESETS.items():
        for k, count in draws.items():
            if recipe != "uce" and k > 1:
                continue
            for d in range(count):
                erased = draw(k, d + 500)
                concepts = parse_concepts("".join(f"{world.PROMPTS[j]}\n" for j in erased))
                result = unlearn(weights, t.encode, concepts, config, prior=general)
                on_world = Collateral(own, torch.device("cpu"), torch.float32)
                for key, delta in result.deltas.items():
                    on_world.add(key, weights[key], KeyEdit(delta))
                row = row_of(result.report, model="toy v2", concepts=f"k = {k}, draw {d}", recipe=recipe)
                row["collateral_world"], row["worst_world"] = on_world.report().overall, on_world.report().worst[:1]
                rows.append(row)
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", nargs="*", choices=list(TINY))
    parser.add_argument("--toy", action="store_true")
    parser.add_argument("--json", type=Path, default=CACHE / "collateral.json")
    args = parser.parse_args(argv)
    rows = []
    if args.tiny:
        rows += tiny(args.tiny)
        print(table([r for r in rows if r["model"].startswith("tiny")], ["model", "concepts"]))
    if args.toy:
        toy_rows = toy()
        rows += toy_rows
        print(table(toy_rows, ["concepts"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
