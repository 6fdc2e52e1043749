"""Probe on the toy world v2, outside bench.shapes_eval's protocol: does UCE's damage come from the padding positions?

    TOY_WORLD=shapes .cache/host/venv/bin/python -m bench.toy_alignment

UCE as released ("released" alignment: last word, end token, padding) against UCE aligned on the concept's words
and end token only ("span") and with the padding ("span+pads"), on the calibration's first draws (k = 1, draws 0
and 1; k = 10, draw 0) with bench.shapes_eval's seeds: 8 images of the erased concepts and 24 of random other
concepts per edit. Prints one JSON line per edit: residual ("erased"), other concepts after ("kept") and before
("base_kept").
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import shapes_eval as T  # noqa: E402
from scapre_core import ScaPreConfig  # noqa: E402
from toy import world  # noqa: E402

CASES = ((1, 0), (1, 1), (10, 0))
SEED = 500  # the calibration's draws


def main() -> None:
    T.require_shapes("bench.toy_alignment")
    from toy.runtime import load
    toy = load()
    base = T.Base(toy)
    for alignment in ("released", "span", "span+pads"):
        for k, d in CASES:
            erased = T.draw(k, d + SEED)
            rng = random.Random(7919 * k + d + SEED)
            others = [j for j in range(len(world.CONCEPTS)) if j not in set(erased)]
            cats = {"erased": T.pick(erased, 8, rng), "kept": T.pick(others, 24, rng)}
            deltas, _ = T.edit(toy, ScaPreConfig.preset("uce", alignment=alignment),
                               T.concept_text([world.PROMPTS[j] for j in erased]))
            row = T.measure(toy, base, deltas, cats)
            print(json.dumps({"alignment": alignment, "k": k, "draw": d,
                              **{c: round(row[c], 3) for c in ("erased", "kept", "base_kept")}}), flush=True)


if __name__ == "__main__":
    main()
