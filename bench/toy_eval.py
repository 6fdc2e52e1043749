"""Toy-world benchmark: does an edit forget the target, and only the target, as k grows? (issue 5)

    .cache/host/venv/bin/python -m bench.toy_eval                  # full run (writes docs/toy_eval.md and .png)
    .cache/host/venv/bin/python -m bench.toy_eval --quick          # a few minutes, prints only

Ground truth: the toy SD1.5 checkpoint (toy/, committed weights) and its oracle classifier. Edits are computed by
scapre_core.unlearn on the UNet's cross-attention to_k / to_v weights with the toy encoder (ComfyUI's CLIP), and
sampled with toy.sampler (ComfyUI's euler / normal schedule / CFG, under bfloat16 autocast), 64 x 64.

Protocol (fixed before looking at any result):
* A concept is a prompt "a <colour> <shape>"; an edit erases k of the 60 (k = 1, 5, 10, 20, 40, 60), each
  written as its prompt with the default blank anchor and no preserve lines, as a user would list them.
  Draws: ``draws`` seeded random k-subsets per k (one for k = 60).
* Images: every (prompt, sample) pair has a fixed noise seed shared by all methods (common random numbers);
  the unedited model ("none") is sampled on all 60 prompts x 8 seeds.
* An image "shows" a concept when the oracle's shape AND colour match it (joint accuracy).
  - residual: joint accuracy on erased prompts (lower is better);
  - kept: joint accuracy on non-erased prompts, with the unedited model's accuracy on the same (prompt, seed)
    pairs beside it;
  - look-alikes (non-erased prompts): same shape / other colour, same colour / other shape, and the designed
    partner (circle <-> ring, square <-> diamond) in the same colour;
  - quality proxies on non-erased prompts: the oracle's mean top shape probability ("confidence"), the rate of
    "no shape" verdicts, and the drift of oracle features from the unedited image of the same (prompt, seed),
    relative to the typical distance between images of different concepts.
* Acceptable at k: residual <= 10 % and kept accuracy within 5 points of the unedited model on the same pairs.
  "max k" is the largest k whose every smaller k is acceptable too; k = 60 leaves nothing to keep, so it is
  reported but not eligible. The ScaPre/UCE ratio is max k (ScaPre) / max k (UCE).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scapre_core import ScaPreConfig, parse_concepts, unlearn  # noqa: E402
from toy import env, generate, world  # noqa: E402

KS = (1, 5, 10, 20, 40, 60)
BASE_SAMPLES = 8
PER_CATEGORY = {"erased": 16, "kept": 16, "same_shape": 8, "same_colour": 8, "partner": 8}
RESIDUAL_MAX = 0.10
KEPT_DROP_MAX = 0.05


def method_configs() -> dict[str, ScaPreConfig]:
    """Methods compared: the released recipes and the one tuned here (scapre_core presets).

    A name ending in "+keep" uses the same config but also lists every non-erased prompt as a preserve line
    ("+ a blue star"): what a user who knows all the concepts to keep could write (not a default usage).
    """
    methods = {
        "uce": ScaPreConfig.preset("uce"),
        "scapre_base": ScaPreConfig.preset("objects_base"),
        "scapre": ScaPreConfig.preset("large_scale"),
        "toy_tuned_uce": ScaPreConfig.preset("toy_tuned_uce"),
    }
    methods.update(EXTRA_METHODS)
    return methods


EXTRA_METHODS: dict[str, ScaPreConfig] = {}
KEEP_SUFFIX = "+keep"
DEFAULT_METHODS = ["uce", "scapre_base", "scapre", "uce+keep", "scapre_base+keep", "scapre+keep"]


def config_of(name: str, configs: dict[str, ScaPreConfig]) -> tuple[ScaPreConfig, bool]:
    keep = name.endswith(KEEP_SUFFIX)
    return configs[name[:-len(KEEP_SUFFIX)] if keep else name], keep


# --- images and scores of (concept, sample) pairs ------------------------------------------------------------

@dataclass
class Pool:
    """Oracle verdicts of images identified by (concept, sample); sample s uses seed seeds_for(concept, 8)[s]."""

    shape: dict = field(default_factory=dict)
    colour: dict = field(default_factory=dict)
    conf: dict = field(default_factory=dict)
    feat: dict = field(default_factory=dict)

    def add(self, pairs, scores):
        for n, p in enumerate(pairs):
            self.shape[p] = int(scores.shape[n])
            self.colour[p] = int(scores.colour[n])
            self.conf[p] = float(scores.shape_conf[n])
            self.feat[p] = scores.features[n]


def render_pairs(toy, pairs, deltas=None, prompts=None) -> Pool:
    """Sample and score the given (concept, sample) pairs, optionally under an edit."""
    pool = Pool()
    if not pairs:
        return pool
    prompts = prompts or world.PROMPTS
    seeds = [generate.seeds_for(j, BASE_SAMPLES)[s] for j, s in pairs]
    with toy.edited(deltas):
        imgs = toy.images([prompts[j] for j, _ in pairs], seeds)
    pool.add(pairs, toy.score(imgs))
    return pool


def joint(pool: Pool, pairs) -> list[int]:
    return [int(pool.shape[p] == world.SHAPES.index(world.CONCEPTS[p[0]][1])
                and pool.colour[p] == world.COLOURS.index(world.CONCEPTS[p[0]][0])) for p in pairs]


def pick(candidates: list[int], n: int, rng: random.Random) -> list[tuple[int, int]]:
    """n (concept, sample) pairs spread evenly over the candidate concepts."""
    if not candidates:
        return []
    cands = list(candidates)
    rng.shuffle(cands)
    return [(cands[t % len(cands)], (t // len(cands)) % BASE_SAMPLES) for t in range(n)]


def categories(erased: list[int], rng: random.Random, per=PER_CATEGORY) -> dict[str, list[tuple[int, int]]]:
    erased_set = set(erased)
    kept = [j for j in range(len(world.CONCEPTS)) if j not in erased_set]
    shapes = {world.CONCEPTS[j][1] for j in erased}
    colours = {world.CONCEPTS[j][0] for j in erased}
    partners = {world.concept_index(world.CONCEPTS[j][0], world.partner(world.CONCEPTS[j][1]))
                for j in erased if world.partner(world.CONCEPTS[j][1])}
    return {
        "erased": pick(erased, per["erased"], rng),
        "kept": pick(kept, per["kept"], rng),
        "same_shape": pick([j for j in kept if world.CONCEPTS[j][1] in shapes], per["same_shape"], rng),
        "same_colour": pick([j for j in kept if world.CONCEPTS[j][0] in colours], per["same_colour"], rng),
        "partner": pick([j for j in kept if j in partners], per["partner"], rng),
    }


def draw(k: int, d: int) -> list[int]:
    return sorted(random.Random(1000 * k + d).sample(range(len(world.CONCEPTS)), k))


# --- one method over all k ---------------------------------------------------------------------------------

@dataclass
class Tally:
    """Counts pooled over the draws of one (method, k)."""

    hits: dict = field(default_factory=lambda: {c: 0 for c in PER_CATEGORY})
    base_hits: dict = field(default_factory=lambda: {c: 0 for c in PER_CATEGORY})
    n: dict = field(default_factory=lambda: {c: 0 for c in PER_CATEGORY})
    conf: list = field(default_factory=list)
    none: list = field(default_factory=list)
    drift: list = field(default_factory=list)
    seconds_edit: list = field(default_factory=list)
    seconds_sample: list = field(default_factory=list)

    def row(self) -> dict:
        def rate(c, base=False):
            h = self.base_hits if base else self.hits
            return h[c] / self.n[c] if self.n[c] else None

        r = {c: rate(c) for c in PER_CATEGORY}
        r.update({f"base_{c}": rate(c, True) for c in PER_CATEGORY})
        r["n"] = dict(self.n)
        r["confidence"] = sum(self.conf) / len(self.conf) if self.conf else None
        r["none_rate"] = sum(self.none) / len(self.none) if self.none else None
        r["drift"] = sum(self.drift) / len(self.drift) if self.drift else None
        r["edit_s"] = sum(self.seconds_edit) / len(self.seconds_edit) if self.seconds_edit else 0.0
        r["sample_s"] = sum(self.seconds_sample)
        return r


def concept_text(erased: list[int], preserve: list[int] = ()) -> str:
    return "\n".join([world.PROMPTS[j] for j in erased] + [f"+ {world.PROMPTS[j]}" for j in preserve]) + "\n"


def edit(toy, config: ScaPreConfig, text: str):
    t0 = time.perf_counter()
    result = unlearn(toy.kv_weights(), toy.encode, parse_concepts(text), config)
    return result.deltas, time.perf_counter() - t0


def evaluate_method(toy, name, config, base: Pool, feature_scale: float, ks, draws, per, log,
                    keep_rest: bool = False) -> dict:
    rows = {}
    for k in ks:
        tally = Tally()
        for d in range(1 if k == len(world.CONCEPTS) else draws):
            erased = draw(k, d)
            cats = categories(erased, random.Random(7919 * k + d), per)
            pairs = list(dict.fromkeys(p for ps in cats.values() for p in ps))
            rest = [j for j in range(len(world.CONCEPTS)) if j not in set(erased)] if keep_rest else []
            deltas, sec = (None, 0.0) if config is None else edit(toy, config, concept_text(erased, rest))
            t0 = time.perf_counter()
            pool = base if config is None else render_pairs(toy, pairs, deltas)
            tally.seconds_edit.append(sec)
            tally.seconds_sample.append(time.perf_counter() - t0)
            for c, ps in cats.items():
                tally.hits[c] += sum(joint(pool, ps))
                tally.base_hits[c] += sum(joint(base, ps))
                tally.n[c] += len(ps)
            for p in cats["kept"]:
                tally.conf.append(pool.conf[p])
                tally.none.append(float(pool.shape[p] == world.NONE))
                tally.drift.append(float((pool.feat[p] - base.feat[p]).norm()) / feature_scale)
        rows[k] = tally.row()
        r = rows[k]
        log(f"{name:>12} k={k:>2}: residual {fmt(r['erased'])} kept {fmt(r['kept'])} (base {fmt(r['base_kept'])}) "
            f"same-shape {fmt(r['same_shape'])} same-colour {fmt(r['same_colour'])} partner {fmt(r['partner'])} "
            f"conf {fmt(r['confidence'])} drift {fmt(r['drift'], 2)} | edit {r['edit_s']:.1f}s sample {r['sample_s']:.0f}s")
    return rows


def acceptable(row: dict) -> bool:
    if row["erased"] is None or row["kept"] is None:
        return False
    return row["erased"] <= RESIDUAL_MAX and row["kept"] >= row["base_kept"] - KEPT_DROP_MAX


def max_k(rows: dict) -> int:
    best = 0
    for k in sorted(rows):
        if k == len(world.CONCEPTS):
            break
        if not acceptable(rows[k]):
            break
        best = k
    return best


def fmt(v, digits=0) -> str:
    if v is None:
        return "  - "
    return f"{100 * v:4.{digits}f}%" if digits == 0 else f"{v:.{digits}f}"


# --- word-level erasure ------------------------------------------------------------------------------------

def word_variants() -> list[tuple[str, str, str, str]]:
    """(target, variant name, concept text, what it shows)."""
    circles = [world.concept_index(c, "circle") for c in world.COLOURS]
    reds = [world.concept_index("red", s) for s in world.SHAPES]
    not_circle = [j for j in range(60) if j not in circles]
    not_red = [j for j in range(60) if j not in reds]
    return [
        ("circle", "word", "circle\n", "the bare word"),
        ("circle", "word + preserve", "circle\n" + "".join(f"+ {world.PROMPTS[j]}\n" for j in not_circle),
         "the word, preserving the 54 other prompts"),
        ("circle", "prompts", concept_text(circles), "the 6 prompts that contain it"),
        ("circle", "prompts -> colour", "".join(f"a {c} circle -> a {c} ring\n" for c in world.COLOURS),
         "each prompt anchored to the same colour's ring (replace, keep the colour)"),
        ("red", "word", "red\n", "the bare word"),
        ("red", "word + preserve", "red\n" + "".join(f"+ {world.PROMPTS[j]}\n" for j in not_red),
         "the word, preserving the 50 other prompts"),
        ("red", "prompts", concept_text(reds), "the 10 prompts that contain it"),
        ("red", "prompts -> shape", "".join(f"a red {s} -> a {s}\n" for s in world.SHAPES),
         "each prompt anchored to the bare shape (drop the colour, keep the shape)"),
    ]


def evaluate_words(toy, configs: dict[str, ScaPreConfig], base: Pool, per_target: int, per_other: int, log):
    out = []
    rng = random.Random(4242)
    for target, variant, text, what in word_variants():
        if target == "circle":
            tgt = [world.concept_index(c, "circle") for c in world.COLOURS]
            look = [world.concept_index(c, "ring") for c in world.COLOURS]
        else:
            tgt = [world.concept_index("red", s) for s in world.SHAPES]
            look = [world.concept_index("purple", s) for s in world.SHAPES]  # the colour nearest to red
        others = [j for j in range(60) if j not in tgt]
        t_pairs = pick(tgt, per_target, random.Random(1))
        o_pairs = pick(others, per_other, random.Random(2))
        l_pairs = pick(look, len(look), random.Random(3))
        pairs = list(dict.fromkeys(t_pairs + o_pairs + l_pairs))
        for mname, config in configs.items():
            deltas, sec = edit(toy, config, text)
            pool = render_pairs(toy, pairs, deltas)
            if target == "circle":
                gone = [pool.shape[p] != world.SHAPES.index("circle") for p in t_pairs]
                kept_attr = [pool.colour[p] == world.COLOURS.index(world.CONCEPTS[p[0]][0]) for p in t_pairs]
                base_attr = [base.colour[p] == world.COLOURS.index(world.CONCEPTS[p[0]][0]) for p in t_pairs]
            else:
                gone = [pool.colour[p] != world.COLOURS.index("red") for p in t_pairs]
                kept_attr = [pool.shape[p] == world.SHAPES.index(world.CONCEPTS[p[0]][1]) for p in t_pairs]
                base_attr = [base.shape[p] == world.SHAPES.index(world.CONCEPTS[p[0]][1]) for p in t_pairs]
            row = {"target": target, "variant": variant, "what": what, "method": mname,
                   "residual": 1 - sum(gone) / len(gone), "other_attribute": sum(kept_attr) / len(kept_attr),
                   "base_other_attribute": sum(base_attr) / len(base_attr),
                   "kept": sum(joint(pool, o_pairs)) / len(o_pairs), "base_kept": sum(joint(base, o_pairs)) / len(o_pairs),
                   "lookalike": sum(joint(pool, l_pairs)) / len(l_pairs),
                   "base_lookalike": sum(joint(base, l_pairs)) / len(l_pairs), "edit_s": sec}
            out.append(row)
            log(f"word {target:>6} {variant:>18} {mname:>12}: residual {fmt(row['residual'])} "
                f"other-attr {fmt(row['other_attribute'])} (base {fmt(row['base_other_attribute'])}) "
                f"kept {fmt(row['kept'])} (base {fmt(row['base_kept'])}) look-alike {fmt(row['lookalike'])} "
                f"(base {fmt(row['base_lookalike'])})")
    return out


# --- report ------------------------------------------------------------------------------------------------

def plot(results: dict, path: Path, ks):
    from toy import plot as P
    names = list(results)
    img, d = P.figure(1500, 980)
    xs = list(ks)

    def series(key):
        return {n: [results[n][k][key] for k in ks] for n in names}

    P.panel(d, (0, 40, 500, 500), "residual on erased prompts (lower is better)", xs, series("erased"),
            hline=RESIDUAL_MAX, hline_label="acceptable <= 10%", bands=[(0, RESIDUAL_MAX)])
    P.panel(d, (500, 40, 1000, 500), "accuracy on non-erased prompts", xs, series("kept"))
    P.panel(d, (1000, 40, 1500, 500), "look-alike: same colour, other shape", xs, series("same_colour"))
    P.panel(d, (0, 520, 500, 980), "look-alike: same shape, other colour", xs, series("same_shape"))
    P.panel(d, (500, 520, 1000, 980), "look-alike: circle<->ring, square<->diamond", xs, series("partner"))
    P.panel(d, (1000, 520, 1500, 980), "quality: oracle confidence, non-erased", xs, series("confidence"),
            ylim=(0.5, 1.0))
    P.legend(d, (60, 8), names)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def markdown(results, words, meta, ks) -> str:
    L = []
    L.append("# Toy-world evaluation: forget many, forget right\n")
    L.append(f"Command: `{meta['command']}` ({meta['minutes']:.1f} min on {meta['machine']}).\n")
    L.append("Ground truth: the toy SD1.5 checkpoint `toy_shapes.safetensors` (10 shapes x 6 colours, seeded CLIP-L, "
             "see `toy/`), scored by its oracle classifier. Sampler: " + meta["sampler"] + ".\n")
    L.append("An image counts for a prompt when the oracle finds both its shape and its colour. *residual*: on erased "
             "prompts (lower is better); *kept*: on non-erased prompts, unedited model in brackets (same prompts and "
             "seeds); *same shape* / *same colour* / *partner*: non-erased look-alikes of the erased prompts; "
             "*conf*: oracle confidence on non-erased prompts; *drift*: oracle-feature distance of non-erased "
             "images from the unedited ones (1 = the typical distance between two different concepts). "
             f"Acceptable (fixed in advance): residual <= {RESIDUAL_MAX:.0%} and kept within "
             f"{KEPT_DROP_MAX * 100:.0f} points of the unedited model. Methods named '+keep' also list every "
             "non-erased prompt as a preserve line ('+ a blue star'). Images per (method, k): "
             f"{meta['images_per_cell']}.\n")
    L.append("| method | k | residual | kept (unedited) | same shape | same colour | partner | conf | none | drift | ok |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|")
    for name, rows in results.items():
        for k in ks:
            r = rows[k]
            ok = "" if name == "none" or k == 60 else ("yes" if acceptable(r) else "no")
            L.append(f"| {name} | {k} | {fmt(r['erased'])} | {fmt(r['kept'])} ({fmt(r['base_kept'])}) | "
                     f"{fmt(r['same_shape'])} | {fmt(r['same_colour'])} | {fmt(r['partner'])} | "
                     f"{fmt(r['confidence'])} | {fmt(r['none_rate'])} | {fmt(r['drift'], 2)} | {ok} |")
    L.append("")
    L.append("**Largest k at acceptable quality** (every smaller k acceptable too; k = 60 not eligible):\n")
    L.append("| method | max k |")
    L.append("|---|---:|")
    mk = {n: max_k(rows) for n, rows in results.items() if n != "none"}
    for n, v in mk.items():
        L.append(f"| {n} | {v} |")
    L.append("")
    for n, v in mk.items():
        if n.startswith("scapre"):
            ref = "uce" + (KEEP_SUFFIX if n.endswith(KEEP_SUFFIX) else "")
            uce = mk.get(ref, 0)
            ratio = f"undefined ({ref} max k = 0)" if uce == 0 else f"x{v / uce:.1f}"
            L.append(f"- {n} / {ref}: {ratio}")
    L.append("")
    if words:
        L.append("## Word-level erasure\n")
        L.append("*residual*: images of the target prompts that still show the word (circle shape / red colour); "
                 "*other attribute*: the target prompts' other attribute still right (their colour / their shape), "
                 "unedited in brackets; *kept*: joint accuracy on the other prompts; *look-alike*: rings (for "
                 "circle) or purple shapes (for red).\n")
        L.append("| target | phrasing | method | residual | other attribute | kept | look-alike |")
        L.append("|---|---|---|---:|---:|---:|---:|")
        for w in words:
            L.append(f"| {w['target']} | {w['variant']}: {w['what']} | {w['method']} | {fmt(w['residual'])} | "
                     f"{fmt(w['other_attribute'])} ({fmt(w['base_other_attribute'])}) | {fmt(w['kept'])} "
                     f"({fmt(w['base_kept'])}) | {fmt(w['lookalike'])} ({fmt(w['base_lookalike'])}) |")
        L.append("")
    return "\n".join(L) + "\n"


def feature_scale(base: Pool) -> float:
    """Mean oracle-feature distance between unedited images of different concepts (sample 0)."""
    f = torch.stack([base.feat[(j, 0)] for j in range(len(world.CONCEPTS))])
    dist = torch.cdist(f, f)
    n = len(f)
    return float(dist.sum() / (n * (n - 1)))


def smoke(config_name: str = "large_scale") -> dict:
    """The test suite's fast check (k = 1, few samples): base sanity, one erasure, one kept concept.

    The erased prompt comes with every other prompt as a preserve line, the phrasing the full benchmark finds
    necessary on this model ("+keep")."""
    from toy.runtime import load
    t0 = time.perf_counter()
    toy = load()
    probe = [world.concept_index(c, s) for c, s in (("green", "triangle"), ("blue", "star"), ("green", "square"),
                                                    ("yellow", "heart"), ("purple", "arrow"), ("white", "cross"))]
    target, kept = world.concept_index("green", "triangle"), world.concept_index("blue", "star")
    base_pairs = [(j, s) for j in probe for s in range(4)]
    base = render_pairs(toy, base_pairs)
    rest = [j for j in range(len(world.CONCEPTS)) if j != target]
    deltas, sec = edit(toy, ScaPreConfig.preset(config_name), concept_text([target], rest))
    pairs = [(target, s) for s in range(4)] + [(kept, s) for s in range(4)]
    after = render_pairs(toy, pairs, deltas)
    rate = lambda pool, ps: sum(joint(pool, ps)) / len(ps)  # noqa: E731
    return {"preset": config_name, "base_joint": rate(base, base_pairs),
            "target_before": rate(base, pairs[:4]), "target_after": rate(after, pairs[:4]),
            "kept_before": rate(base, pairs[4:]), "kept_after": rate(after, pairs[4:]),
            "edit_s": round(sec, 2), "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="the test suite's fast check; prints JSON")
    ap.add_argument("--quick", action="store_true", help="k = 1, 10 and one draw, no word-level part, no files")
    ap.add_argument("--methods", nargs="*", help="methods to run (default: uce scapre_base scapre + the proposed "
                    "preset); add '+keep' to a name to also preserve every non-erased prompt")
    ap.add_argument("--ks", nargs="*", type=int)
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--no-words", action="store_true")
    ap.add_argument("--word-methods", nargs="*", default=["uce", "scapre"])
    ap.add_argument("--out", default=str(REPO / "docs" / "toy_eval.md"))
    ap.add_argument("--json", default=str(env.CACHE / "toy_eval.json"))
    a = ap.parse_args(argv)
    if a.smoke:
        print(json.dumps(smoke()))
        return
    t_start = time.perf_counter()
    from toy.runtime import load
    toy = load()
    torch.manual_seed(0)
    ks = tuple(a.ks or ((1, 10) if a.quick else KS))
    draws = 1 if a.quick else a.draws
    configs = method_configs()
    names = a.methods or DEFAULT_METHODS + list(EXTRA_METHODS)
    log = lambda m: print(f"[toy_eval {time.perf_counter() - t_start:6.0f}s] {m}", flush=True)  # noqa: E731

    base_pairs = [(j, s) for j in range(len(world.CONCEPTS)) for s in range(BASE_SAMPLES)]
    base = render_pairs(toy, base_pairs)
    b = sum(joint(base, base_pairs)) / len(base_pairs)
    bs = sum(base.shape[p] == world.SHAPES.index(world.CONCEPTS[p[0]][1]) for p in base_pairs) / len(base_pairs)
    bc = sum(base.colour[p] == world.COLOURS.index(world.CONCEPTS[p[0]][0]) for p in base_pairs) / len(base_pairs)
    log(f"unedited model on its 60 prompts x {BASE_SAMPLES}: shape {bs:.1%} colour {bc:.1%} joint {b:.1%}")
    scale = feature_scale(base)

    results = {"none": evaluate_method(toy, "none", None, base, scale, ks, draws, PER_CATEGORY, log)}
    for n in names:
        config, keep = config_of(n, configs)
        results[n] = evaluate_method(toy, n, config, base, scale, ks, draws, PER_CATEGORY, log, keep)
    words = []
    if not (a.quick or a.no_words):
        words = evaluate_words(toy, {n: config_of(n, configs)[0] for n in a.word_methods}, base, 24, 24, log)
    for n, rows in results.items():
        if n != "none":
            log(f"max k {n}: {max_k(rows)}")
    minutes = (time.perf_counter() - t_start) / 60
    meta = {"command": "python -m bench.toy_eval" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
            "minutes": minutes, "machine": f"{torch.get_num_threads()} CPU threads",
            "sampler": ", ".join(f"{k} {v}" for k, v in generate.SAMPLER.items()) + ", negative prompt '', 64x64, "
                       "bfloat16 autocast", "images_per_cell": f"{draws} draws x " + ", ".join(
                           f"{v} {c}" for c, v in PER_CATEGORY.items()),
            "base": {"shape": bs, "colour": bc, "joint": b}}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({"meta": meta, "results": {n: {str(k): r for k, r in rows.items()}
                                                                   for n, rows in results.items()},
                                        "words": words}, indent=1))
    if not a.quick:
        Path(a.out).write_text(markdown(results, words, meta, ks))
        plot(results, Path(a.out).with_suffix(".png"), ks)
        log(f"wrote {a.out} and {Path(a.out).with_suffix('.png')}")
    log(f"done in {minutes:.1f} min")


if __name__ == "__main__":
    main()
