"""Text geometry of the toy world's encoders: how alike are the states of related and unrelated prompts?

    .cache/host/venv/bin/python -m bench.toy_geometry [--json]   # v3, the default world (issue 14)
    TOY_WORLD=shapes .cache/host/venv/bin/python -m bench.toy_geometry   # a markdown table, v2 beside v1

v3 (the names world, toy/names.py with toy/wordclip.py's encoder): for every pair of the 275 names' canonical
prompts ("an image of a golden retriever"), whether both are in the same look-alike group, in two different
groups, or not both grouped ("unrelated"), and the mean cosine (raw and centred) of their last-word and end-token
states; and the effective dimension of the last-word states: the participation ratio (sum of the centred
covariance's eigenvalues)^2 / (sum of their squares), which must stay well above the benchmark's largest k.

v2 (TOY_WORLD=shapes): for every pair of the world's 288 canonical prompts ("a striped red circle", ...), the
number of attributes they share (colour, shape, style: 0, 1 or 2) and the cosine of their states at three
positions: the last word token, the end token, and a padding position (position 40, padding in every prompt).
"raw" is the plain cosine; "centred" subtracts, per position kind, the mean state over the 288 prompts first.
Reported: the mean over all pairs with the same number of shared attributes.

Encoders: v2, the rule-built CLIP of toy/clip.py; v1, the seeded random CLIP-L of harness/tiny_models.py
(seed 0: the toy world v1's encoder, and the host's tiny_sd15.safetensors), both run by ComfyUI with its own
tokenizer, exactly as the node pack encodes concepts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from toy import clip, env, world  # noqa: E402

PAD_POSITION = 40
POSITIONS = ("last word", "end token", f"padding ({PAD_POSITION})")


def states(hidden: torch.Tensor, n_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    rows = torch.arange(len(hidden))
    return {POSITIONS[0]: hidden[rows, n_tokens], POSITIONS[1]: hidden[rows, n_tokens + 1],
            POSITIONS[2]: hidden[:, PAD_POSITION]}


def cosine_table(hidden: torch.Tensor, n_tokens: torch.Tensor) -> dict[tuple[str, str, int], float]:
    """(position, "raw" | "centred", shared attributes) -> mean cosine over the prompt pairs."""
    shared = torch.zeros(len(world.CONCEPTS), len(world.CONCEPTS), dtype=torch.long)
    for i, j in itertools.product(range(len(world.CONCEPTS)), repeat=2):
        shared[i, j] = sum(a == b for a, b in zip(world.CONCEPTS[i], world.CONCEPTS[j]))
    upper = torch.triu(torch.ones_like(shared, dtype=torch.bool), diagonal=1)
    out = {}
    for position, x in states(hidden.double(), n_tokens).items():
        for kind, y in (("raw", x), ("centred", x - x.mean(0))):
            unit = torch.nn.functional.normalize(y, dim=1)
            cos = unit @ unit.T
            for k in (0, 1, 2):
                out[(position, kind, k)] = float(cos[upper & (shared == k)].mean())
    return out


def v1_encode(prompts: list[str]):
    """The toy world v1's encoder: the seeded random CLIP-L of the host's tiny_sd15 checkpoint."""
    import comfy.sd
    from harness import paths
    v1 = comfy.sd.load_checkpoint_guess_config(str(paths.CHECKPOINTS / paths.TINY_SD15), output_vae=False,
                                               output_clip=True, output_model=False)[1]
    return clip.encode_with_comfy(prompts, clip=v1)


def markdown(tables: dict[str, dict]) -> str:
    lines = ["| position | encoder | raw: share 0 / 1 / 2 | centred: share 0 / 1 / 2 |", "|---|---|---|---|"]
    for position in POSITIONS:
        for name, table in tables.items():
            cells = [" / ".join(f"{table[(position, kind, k)]:.2f}" for k in (0, 1, 2)) for kind in ("raw", "centred")]
            lines.append(f"| {position} | {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def names_geometry() -> dict:
    """v3's cosines by pair kind and position, and the participation ratio of the last-word states."""
    from toy import names
    hidden, n_tokens = clip.encode(list(names.PROMPTS))
    group = [names.GROUP_OF.get(a) for a in names.NAMES]
    kind = torch.zeros(len(group), len(group), dtype=torch.long)  # 0 unrelated, 1 other groups, 2 same group
    for i, j in itertools.product(range(len(group)), repeat=2):
        if group[i] and group[j]:
            kind[i, j] = 2 if group[i] == group[j] else 1
    upper = torch.triu(torch.ones_like(kind, dtype=torch.bool), diagonal=1)
    out = {"names": len(group), "cosines": {}}
    for position, x in list(states(hidden.double(), n_tokens).items())[:2]:
        for how, y in (("raw", x), ("centred", x - x.mean(0))):
            unit = torch.nn.functional.normalize(y, dim=1)
            cos = unit @ unit.T
            out["cosines"][f"{position}, {how}"] = {
                label: round(float(cos[upper & (kind == k)].mean()), 3)
                for k, label in ((2, "same group"), (1, "other groups"), (0, "unrelated"))}
    out["participation_ratio"] = participation_ratio(hidden, n_tokens)
    return out


def participation_ratio(hidden: torch.Tensor, n_tokens: torch.Tensor) -> float:
    """Effective dimension of the prompts' last-word states: (sum of the centred covariance's eigenvalues)^2 /
    (sum of their squares)."""
    last = states(hidden.double(), n_tokens)[POSITIONS[0]]
    ev = torch.linalg.eigvalsh(torch.cov(last.T)).clamp(min=0)
    return round(float(ev.sum() ** 2 / (ev ** 2).sum()), 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="v3: print the figures as JSON")
    a = ap.parse_args(argv)
    env.import_comfy()
    if env.WORLD is env.NAMES:
        geo = names_geometry()
        if a.json:
            print(json.dumps(geo))
            return
        print("| position | same group | other groups | unrelated |\n|---|---:|---:|---:|")
        for key, row in geo["cosines"].items():
            print(f"| {key} | " + " | ".join(f"{v:.2f}" for v in row.values()) + " |")
        print(f"\nparticipation ratio of the {geo['names']} last-word states: {geo['participation_ratio']}")
        return
    prompts = list(world.PROMPTS)
    encoded = {"v2 (toy/clip.py)": clip.encode(prompts), "v1 (random CLIP-L)": v1_encode(prompts)}
    print(markdown({name: cosine_table(*e) for name, e in encoded.items()}))
    for name, e in encoded.items():
        print(f"\nparticipation ratio of the {len(prompts)} last-word states, {name}: {participation_ratio(*e)}")


if __name__ == "__main__":
    main()
