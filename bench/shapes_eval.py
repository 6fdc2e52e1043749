"""Ground-truth benchmark on the toy world v2: does an edit forget the target, and only the target? (issue 8)

    TOY_WORLD=shapes .cache/host/venv/bin/python -m bench.shapes_eval   # everything; writes docs/shapes_eval.md, .png
    TOY_WORLD=shapes .cache/host/venv/bin/python -m bench.shapes_eval --only calibration
    TOY_WORLD=shapes .cache/host/venv/bin/python -m bench.shapes_eval --smoke   # a fast check (JSON)

v2 failed its calibration and is kept as the first stage of v3's lineage; the toy benchmark is v3's,
bench/toy_eval.py, which this module shares its world-independent pieces with.

Ground truth: the toy SD1.5 checkpoint (toy/: 12 shapes in look-alike triples x 6 colours x 4 styles, the
rule-built CLIP of toy/clip.py, six cross-attentions at widths 320 and 640) and its oracle (shape, colour,
style). Edits are computed by scapre_core.unlearn on the UNet's 12 cross-attention to_k / to_v weights with
ComfyUI's CLIP, sampled with toy.sampler (ComfyUI's euler / normal / CFG 5, 10 steps, 64 x 64, bfloat16
autocast) and scored by the oracle.

PROTOCOL (fixed before the first run on v2; the numbers below are parameters, not results)
* A concept is a (colour, shape, style) triple; its prompt is the canonical phrasing "a striped red circle".
  An image *shows* a concept when the oracle finds its shape, colour and style (joint accuracy).
* Images: sample s of a prompt uses noise seed toy.generate.seeds_for(concept, SAMPLES)[s] for every method
  and for the unedited model (common random numbers); every "drop" compares a method with the unedited model
  on the same (prompt, seed) pairs.
* Methods: every recipe in the pack (scapre_core.CONFIG_PRESETS), each as released (concepts only, blank
  anchor) and "+lines": the same recipe with the erased concepts' neighbours listed as preserve lines, i.e.
  for each erased (c, s, y) the non-erased prompts (c', s, y) of the other colours, (c, s', y) of its two
  look-alike shapes and (c, s, y') of the other styles (what a careful user would list).
* Calibration (UCE exactly as released: recipe "uce", blank anchor, no + lines), against UCE's published
  behaviour on real SD1.4 (one Imagenette object: erased accuracy 7.8 %, the others drop 6.7 points; collapse
  on ImageNet-Diversi50; Confuse5 preserve 5.6 %):
    (a) erasing 1 concept: residual <= 15 % AND the other concepts within 10 points of the unedited model
        (CALIBRATION_DRAWS[1] draws; "others" = random non-erased concepts);
    (b) 10 at once: residual <= 15 %; the drop is reported;
    (c) 50 at once: reported;
    (d) look-alikes (same colour and style, another shape of the erased shape's triple) must lose much more
        than unrelated concepts: at k = 1 than concepts with no attribute in common with the erased one, at
        k = 10 than random non-erased concepts; passing when the look-alike drop is at least twice the other
        drop and at least 10 points, at both k.
  No ScaPre result is reported as a finding unless (a) passes.
* k-curves: k = 1, 5, 10, 25, 50, 100 random concepts (DRAWS seeded draws each), per edit PER_EDIT images of
  erased prompts, of random non-erased prompts ("kept") and of non-erased look-alikes. Acceptable at k:
  residual <= 15 % and kept within 10 points of the unedited model (the calibration's thresholds). Max k:
  the largest k that is acceptable together with every smaller k. Ratio to UCE: max k / max k of "uce" (same
  variant), beside the paper's x5.
* Confuse5-style: erase two shapes of every look-alike triple (circle, ring; square, diamond; triangle,
  pentagon; star, cross) as the object prompts "a circle", ... and keep the third (oval, rectangle, hexagon,
  asterisk; "+lines" lists them). Unlearn: shape accuracy on prompts of erased shapes (any colour and style);
  preserve: shape accuracy on prompts of kept shapes; overall: harmonic mean of (100 - unlearn) and preserve.
* Style erasure: erase the style "striped" (the concept line "striped") for every shape and colour, keep the
  other styles ("+lines" lists "filled", "outlined", "dotted"). Style residual: style accuracy on striped
  prompts; content kept: shape-and-colour accuracy on them; others kept: joint accuracy on other styles.
* Phrasings not listed: for the k = 10 edits (draw 0), the residual of the erased concepts in the two other
  phrasings ("a red circle, striped", "a circle in red, striped"), beside the listed phrasing's.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scapre_core import CONFIG_PRESETS, ScaPreConfig, parse_concepts, unlearn  # noqa: E402
from scapre_core.api import prior_choice  # noqa: E402
from scapre_core.concepts import PRIOR_GENERAL  # noqa: E402
from toy import env, generate, world  # noqa: E402

from bench.toy_eval import Verdicts, acceptable, drop, fmt, pooled, toy_prior, write  # noqa: E402  (v3's, shared)

SAMPLES = 4                      # seeds per prompt (sample s of concept j: seeds_for(j, SAMPLES)[s])
KS = (1, 5, 10, 25, 50, 100)
DRAWS = 2  # 3 in the first draft of this protocol; cut to 2 before the first k-curve run (2 CPU cores, time)
PER_EDIT = {"erased": 8, "kept": 12, "lookalike": 6}
CALIBRATION_KS = (1, 10, 50)
CALIBRATION_DRAWS = {1: 8, 10: 3, 50: 2}
CALIBRATION_PER_EDIT = {"erased": 8, "kept": 24, "lookalike": 8, "unrelated": 16}
RESIDUAL_MAX = 0.15
KEPT_DROP_MAX = 0.10
LINES = "+lines"
CONFUSE_ERASE = tuple(g[:2] for g in world.SHAPE_GROUPS)
CONFUSE_KEEP = tuple(g[2] for g in world.SHAPE_GROUPS)
CONFUSE_IMAGES = 24
STYLE = "striped"
STYLE_IMAGES = 24
PHRASING_IMAGES = 8
SECTIONS = ("calibration", "kcurves", "confuse", "style")

Pair = tuple[int, int, int]  # (concept, phrasing, sample)


def require_shapes(command: str) -> None:
    """Refuse to measure v2 on another world's checkpoint (v3, names, is the default)."""
    if env.WORLD is not env.SHAPES:
        raise SystemExit(f"{command} measures the toy world v2: run it with TOY_WORLD=shapes "
                         "(the default world is v3, whose benchmark is bench.toy_eval)")


# --- images and verdicts ------------------------------------------------------------------------------------

def render(toy, pairs: list[Pair], deltas=None) -> Verdicts:
    """Sample and score (concept, phrasing, sample) pairs, under an edit when ``deltas`` is given."""
    out = Verdicts()
    if not pairs:
        return out
    prompts = [world.prompt(*world.CONCEPTS[j], phrasing=k) for j, k, _ in pairs]
    seeds = [generate.seeds_for(j, SAMPLES)[s] for j, _, s in pairs]
    with toy.edited(deltas):
        scores = toy.score(toy.images(prompts, seeds))
    hits = generate.hits(scores, [j for j, _, _ in pairs])
    for n, p in enumerate(pairs):
        out.hits[p] = {k: bool(v[n]) for k, v in hits.items()}
    return out


class Base:
    """The unedited model's verdicts, rendered once per pair and reused by every method."""

    def __init__(self, toy):
        self.toy, self.verdicts = toy, Verdicts()

    def of(self, pairs) -> Verdicts:
        missing = [p for p in dict.fromkeys(pairs) if p not in self.verdicts.hits]
        self.verdicts.hits.update(render(self.toy, missing).hits)
        return self.verdicts


def pick(concepts, n: int, rng: random.Random, phrasing: int = 0) -> list[Pair]:
    """n pairs spread evenly over the given concepts (shuffled), samples cycling 0 .. SAMPLES - 1."""
    concepts = list(concepts)
    if not concepts:
        return []
    rng.shuffle(concepts)
    return [(concepts[t % len(concepts)], phrasing, (t // len(concepts)) % SAMPLES) for t in range(n)]


def lookalikes(erased) -> list[int]:
    """Non-erased concepts with the colour and style of an erased one and another shape of its triple."""
    out = []
    for j in erased:
        c, s, y = world.CONCEPTS[j]
        out += [world.concept_index(c, t, y) for t in world.group_of(s) if t != s]
    return [j for j in dict.fromkeys(out) if j not in set(erased)]


def unrelated(erased) -> list[int]:
    """Concepts that share no attribute with any erased concept."""
    return [j for j in range(len(world.CONCEPTS))
            if all(all(a != b for a, b in zip(world.CONCEPTS[j], world.CONCEPTS[e])) for e in erased)]


def draw(k: int, d: int) -> list[int]:
    return sorted(random.Random(1000 * k + d).sample(range(len(world.CONCEPTS)), k))


# --- methods and edits --------------------------------------------------------------------------------------

def methods(recipes=None) -> list[str]:
    recipes = list(recipes or CONFIG_PRESETS)
    return [n for r in recipes for n in (r, r + LINES)]


def config_of(name: str) -> tuple[ScaPreConfig, bool]:
    lines = name.endswith(LINES)
    return ScaPreConfig.preset(name[:-len(LINES)] if lines else name), lines


def concept_text(erased_prompts: list[str], keep_prompts: list[str] = ()) -> str:
    return "".join(f"{p}\n" for p in erased_prompts) + "".join(f"+ {p}\n" for p in keep_prompts)


def edit(toy, config: ScaPreConfig, text: str):
    """(deltas, seconds of the edit; a general prior the recipe uses is built once, outside the timing)."""
    concepts = parse_concepts(text)
    prior = toy_prior(toy.encode) if prior_choice(concepts, config) == PRIOR_GENERAL else None
    t0 = time.perf_counter()
    result = unlearn(toy.kv_weights(), toy.encode, concepts, config, prior=prior)
    return result.deltas, time.perf_counter() - t0


def concept_edit(toy, name: str, erased: list[int]):
    """Erase canonical concept prompts with method ``name`` (+lines: their neighbours preserved)."""
    config, lines = config_of(name)
    keep = [world.PROMPTS[j] for j in world.neighbours(erased)] if lines else []
    return edit(toy, config, concept_text([world.PROMPTS[j] for j in erased], keep))


# --- protocols ----------------------------------------------------------------------------------------------

def measure(toy, base: Base, deltas, cats: dict[str, list[Pair]], what: dict | None = None) -> dict:
    """Rates after the edit and on the unedited model for each category of pairs."""
    pairs = list(dict.fromkeys(p for ps in cats.values() for p in ps))
    after, before = render(toy, pairs, deltas), base.of(pairs)
    what = what or {}
    row = {}
    for c, ps in cats.items():
        row[c] = after.rate(ps, what.get(c, "joint"))
        row[f"base_{c}"] = before.rate(ps, what.get(c, "joint"))
        row[f"n_{c}"] = len(ps)
    return row


def k_rows(toy, base: Base, name: str, ks, draws: dict[int, int], per: dict, log, seed: int = 0) -> dict:
    """{k: pooled row} for one method over seeded draws of k erased concepts."""
    out = {}
    for k in ks:
        rows = []
        for d in range(draws[k]):
            erased = draw(k, d + seed)
            rng = random.Random(7919 * k + d + seed)
            kept = [j for j in range(len(world.CONCEPTS)) if j not in set(erased)]
            cats = {"erased": pick(erased, per["erased"], rng), "kept": pick(kept, per["kept"], rng),
                    "lookalike": pick(lookalikes(erased), per["lookalike"], rng)}
            if "unrelated" in per:
                cats["unrelated"] = pick(unrelated(erased), per["unrelated"], rng)
            deltas, sec = concept_edit(toy, name, erased)
            row = measure(toy, base, deltas, cats)
            row["edit_s"] = sec
            rows.append(row)
        out[k] = pooled(rows)
        log(f"{name:>22} k={k:>3}: residual {fmt(out[k]['erased'])} kept {fmt(out[k]['kept'])} "
            f"(unedited {fmt(out[k]['base_kept'])}) look-alike {fmt(out[k]['lookalike'])} "
            f"(unedited {fmt(out[k]['base_lookalike'])}) edit {out[k]['edit_s']:.1f}s")
    return out


def max_k(rows: dict) -> int:
    best = 0
    for k in sorted(rows):
        if not acceptable(rows[k]):
            break
        best = k
    return best


def calibration(toy, base: Base, log) -> dict:
    rows = k_rows(toy, base, "uce", CALIBRATION_KS, CALIBRATION_DRAWS, CALIBRATION_PER_EDIT, log, seed=500)
    a, b = rows[1], rows[10]
    checks = {
        "a": a["erased"] <= RESIDUAL_MAX and drop(a, "kept") <= KEPT_DROP_MAX,
        "b": b["erased"] <= RESIDUAL_MAX,
        "d": all(drop(r, "lookalike") >= max(2 * drop(r, other), 0.10) for r, other in ((a, "unrelated"),
                                                                                            (b, "kept"))),
    }
    log(f"calibration: (a) {'pass' if checks['a'] else 'FAIL'}, (b) {'pass' if checks['b'] else 'FAIL'}, "
        f"(d) {'pass' if checks['d'] else 'FAIL'}")
    return {"rows": rows, "checks": checks}


def confuse(toy, base: Base, name: str) -> dict:
    config, lines = config_of(name)
    erased_shapes = [s for pair in CONFUSE_ERASE for s in pair]
    text = concept_text([world.partial_prompt(None, s, None) for s in erased_shapes],
                        [world.partial_prompt(None, s, None) for s in CONFUSE_KEEP] if lines else [])
    deltas, sec = edit(toy, config, text)
    rng = random.Random(31)
    of_shapes = lambda shapes: [j for j, (c, s, y) in enumerate(world.CONCEPTS) if s in shapes]  # noqa: E731
    cats = {"unlearn": pick(of_shapes(erased_shapes), CONFUSE_IMAGES, rng),
            "preserve": pick(of_shapes(CONFUSE_KEEP), CONFUSE_IMAGES, rng)}
    row = measure(toy, base, deltas, cats, {"unlearn": "shape", "preserve": "shape"})
    for prefix in ("", "base_"):
        u, p = row[prefix + "unlearn"], row[prefix + "preserve"]
        row[prefix + "overall"] = 2 * (1 - u) * p / ((1 - u) + p) if (1 - u) + p > 0 else 0.0
    row["edit_s"] = sec
    return row


def style(toy, base: Base, name: str) -> dict:
    config, lines = config_of(name)
    others = [y for y in world.STYLES if y != STYLE]
    deltas, sec = edit(toy, config, concept_text([STYLE], others if lines else []))
    rng = random.Random(37)
    styled = [j for j, (c, s, y) in enumerate(world.CONCEPTS) if y == STYLE]
    rest = [j for j, (c, s, y) in enumerate(world.CONCEPTS) if y != STYLE]
    erased = pick(styled, STYLE_IMAGES, rng)
    cats = {"style_residual": erased, "content_kept": erased, "others_kept": pick(rest, STYLE_IMAGES, rng)}
    after_pairs = list(dict.fromkeys(erased + cats["others_kept"]))
    after, before = render(toy, after_pairs, deltas), base.of(after_pairs)

    def content(v, ps):
        return sum(v.hits[p]["shape"] and v.hits[p]["colour"] for p in ps) / len(ps)

    return {"style_residual": after.rate(erased, "style"), "base_style_residual": before.rate(erased, "style"),
            "content_kept": content(after, erased), "base_content_kept": content(before, erased),
            "others_kept": after.rate(cats["others_kept"]), "base_others_kept": before.rate(cats["others_kept"]),
            "edit_s": sec}


def phrasings(toy, name: str) -> dict:
    """Residual of the k = 10 (draw 0) erased concepts in each phrasing (only the first one is listed)."""
    erased = draw(10, 0)
    deltas, _ = concept_edit(toy, name, erased)
    rng = random.Random(41)
    out = {}
    for k in range(len(world.PHRASINGS)):
        pairs = pick(erased, PHRASING_IMAGES, rng, phrasing=k)
        out[world.PHRASINGS[k]] = render(toy, pairs, deltas).rate(pairs)
    return out


# --- report -------------------------------------------------------------------------------------------------

def fmt_drop(row, cat) -> str:
    d = drop(row, cat)
    return "-" if d is None else f"{100 * d:+.0f}"


def markdown(res: dict, meta: dict) -> str:
    L = ["# Toy world v2: forget many, forget right\n",
         f"Command: `{meta['command']}` ({meta['minutes']:.1f} min, {meta['machine']}, {meta['date']}). Protocol: "
         "the docstring of `bench/shapes_eval.py`, fixed before the first run. Sampler: " + meta["sampler"] + ".\n",
         f"Unedited model on all 288 canonical prompts x {SAMPLES} seeds: " + ", ".join(
             f"{k} {fmt(v, 1)}" for k, v in meta["base"].items()) + ".\n"]
    if "calibration" in res:
        cal = res["calibration"]
        L += ["## Calibration (recipe uce as released: blank anchor, no + lines)\n",
              "| check | k | draws | residual | others (unedited) | drop | look-alikes (unedited) | drop | unrelated "
              "(unedited) | drop | verdict |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        verdict = {1: "(a) " + ("pass" if cal["checks"]["a"] else "FAIL"),
                   10: "(b) " + ("pass" if cal["checks"]["b"] else "FAIL"), 50: "(c) reported"}
        for k, r in cal["rows"].items():
            k = int(k)
            L.append(f"| {'abc'[CALIBRATION_KS.index(k)]} | {k} | {CALIBRATION_DRAWS[k]} | {fmt(r['erased'])} | "
                     f"{fmt(r['kept'])} ({fmt(r['base_kept'])}) | {fmt_drop(r, 'kept')} | {fmt(r['lookalike'])} "
                     f"({fmt(r['base_lookalike'])}) | {fmt_drop(r, 'lookalike')} | {fmt(r['unrelated'])} "
                     f"({fmt(r['base_unrelated'])}) | {fmt_drop(r, 'unrelated')} | {verdict[k]} |")
        L.append(f"\n(d) look-alikes lose much more than unrelated concepts (k = 1 and 10): "
                 f"{'pass' if cal['checks']['d'] else 'FAIL'}.\n")
    if "kcurves" in res:
        L += ["## Erasing k concepts at once\n",
              f"{DRAWS} draws per k; per edit {', '.join(f'{v} {c}' for c, v in PER_EDIT.items())} images. Acceptable: "
              f"residual <= {RESIDUAL_MAX:.0%} and kept within {KEPT_DROP_MAX * 100:.0f} points of the unedited model.\n",
              "| method | k | residual | kept (unedited) | look-alikes (unedited) | edit s | ok |",
              "|---|---:|---:|---:|---:|---:|:-:|"]
        for name, rows in res["kcurves"].items():
            for k, r in rows.items():
                L.append(f"| {name} | {k} | {fmt(r['erased'])} | {fmt(r['kept'])} ({fmt(r['base_kept'])}) | "
                         f"{fmt(r['lookalike'])} ({fmt(r['base_lookalike'])}) | {r['edit_s']:.1f} | "
                         f"{'yes' if acceptable(r) else 'no'} |")
        L += ["", "**Largest acceptable k** and the ratio to UCE (the paper claims x5 for ScaPre):\n",
              "| method | max k | / uce |", "|---|---:|---:|"]
        for name, rows in res["kcurves"].items():
            ref = "uce" + (LINES if name.endswith(LINES) else "")
            mk, uk = max_k(rows), max_k(res["kcurves"].get(ref, {}))
            L.append(f"| {name} | {mk} | {'-' if not uk else f'x{mk / uk:.1f}'} |")
        L.append("")
    if "phrasings" in res:
        L += ["## Phrasings not listed (k = 10, draw 0; only the first phrasing is listed)\n",
              "| method | " + " | ".join(f"`{p}`" for p in world.PHRASINGS) + " |",
              "|---|" + "---:|" * len(world.PHRASINGS)]
        for name, row in res["phrasings"].items():
            L.append(f"| {name} | " + " | ".join(fmt(row[p]) for p in world.PHRASINGS) + " |")
        L.append("")
    if "confuse" in res:
        L += ["## Look-alikes (Confuse5-style: erase two shapes of each triple, keep the third)\n",
              "| method | unlearn (unedited) | preserve (unedited) | overall (unedited) |", "|---|---:|---:|---:|"]
        for name, r in res["confuse"].items():
            L.append(f"| {name} | {fmt(r['unlearn'])} ({fmt(r['base_unlearn'])}) | {fmt(r['preserve'])} "
                     f"({fmt(r['base_preserve'])}) | {fmt(r['overall'])} ({fmt(r['base_overall'])}) |")
        L.append("")
    if "style" in res:
        L += [f"## Style erasure (erase \"{STYLE}\" for every shape and colour)\n",
              "| method | style residual (unedited) | content kept (unedited) | other styles kept (unedited) |",
              "|---|---:|---:|---:|"]
        for name, r in res["style"].items():
            L.append(f"| {name} | {fmt(r['style_residual'])} ({fmt(r['base_style_residual'])}) | "
                     f"{fmt(r['content_kept'])} ({fmt(r['base_content_kept'])}) | {fmt(r['others_kept'])} "
                     f"({fmt(r['base_others_kept'])}) |")
        L.append("")
    return "\n".join(L) + "\n"


PLOT_TITLES = ("residual on erased prompts (lower is better)", "accuracy on non-erased prompts",
               "look-alikes of the erased prompts")


def smoke() -> dict:
    """A fast check: one UCE erasure of one concept, on few seeds."""
    from toy.runtime import load
    t0 = time.perf_counter()
    toy = load()
    base = Base(toy)
    target = world.concept_index("red", "circle", "filled")
    kept = [world.concept_index(c, s, y) for c, s, y in (("blue", "star", "dotted"), ("yellow", "hexagon", "outlined"))]
    deltas, sec = concept_edit(toy, "uce", [target])
    cats = {"erased": [(target, 0, s) for s in range(SAMPLES)], "kept": [(j, 0, s) for j in kept for s in range(2)]}
    row = measure(toy, base, deltas, cats)
    return {**row, "edit_s": round(sec, 2), "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a fast check; prints JSON")
    ap.add_argument("--only", nargs="*", choices=SECTIONS, help="sections to run (default: all)")
    ap.add_argument("--recipes", nargs="*", help="recipes (default: every recipe of the pack)")
    ap.add_argument("--out", default=str(REPO / "docs" / "shapes_eval.md"))
    ap.add_argument("--json", default=str(env.SHAPES.cache / "shapes_eval.json"))
    a = ap.parse_args(argv)
    require_shapes("bench.shapes_eval")
    if a.smoke:
        print(json.dumps(smoke()))
        return
    from toy.runtime import load
    t_start = time.perf_counter()
    log = lambda m: print(f"[shapes_eval {time.perf_counter() - t_start:6.0f}s] {m}", flush=True)  # noqa: E731
    toy = load()
    base = Base(toy)
    all_pairs = [(j, 0, s) for j in range(len(world.CONCEPTS)) for s in range(SAMPLES)]
    verdicts = base.of(all_pairs)
    base_rates = {k: verdicts.rate(all_pairs, k) for k in ("shape", "colour", "style", "joint")}
    log("unedited model: " + ", ".join(f"{k} {fmt(v, 1)}" for k, v in base_rates.items()))
    sections = a.only or SECTIONS
    names = methods(a.recipes)
    res = {}
    if "calibration" in sections:
        res["calibration"] = calibration(toy, base, log)
    if "kcurves" in sections:
        res["kcurves"] = {n: k_rows(toy, base, n, KS, {k: DRAWS for k in KS}, PER_EDIT, log) for n in names}
        res["phrasings"] = {n: phrasings(toy, n) for n in names}
        for n in names:
            log(f"max k {n}: {max_k(res['kcurves'][n])}; phrasings {res['phrasings'][n]}")
    if "confuse" in sections:
        res["confuse"] = {n: confuse(toy, base, n) for n in names}
        for n, r in res["confuse"].items():
            log(f"confuse {n}: unlearn {fmt(r['unlearn'])} preserve {fmt(r['preserve'])} overall {fmt(r['overall'])}")
    if "style" in sections:
        res["style"] = {n: style(toy, base, n) for n in names}
        for n, r in res["style"].items():
            log(f"style {n}: residual {fmt(r['style_residual'])} content {fmt(r['content_kept'])} "
                f"others {fmt(r['others_kept'])}")
    minutes = (time.perf_counter() - t_start) / 60
    meta = {"command": "TOY_WORLD=shapes python -m bench.shapes_eval" + (" " + " ".join(argv or sys.argv[1:])).rstrip(),
            "minutes": minutes, "machine": f"{torch.get_num_threads()} CPU threads",
            "date": time.strftime("%Y-%m-%d"), "base": base_rates,
            "sampler": ", ".join(f"{k} {v}" for k, v in generate.SAMPLER.items()) + ", negative prompt '', 64x64, "
                       "bfloat16 autocast"}
    write(res, meta, a, markdown, PLOT_TITLES)
    log(f"wrote {a.out}; done in {minutes:.1f} min")


if __name__ == "__main__":
    main()
