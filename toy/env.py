"""The toy worlds, their paths and the ComfyUI import (host venv only).

Everything generated goes under REPO/.cache/toy (git-ignored); the trained weights that are committed live in
toy/weights. ComfyUI comes from the harness's host install (.cache/host/ComfyUI): run the toy modules with the
host venv's python (``.cache/host/venv/bin/python -m toy.build``) after ``python3 -m harness.install``.

Two worlds, each described once by a ``World``: "names" (v3, toy/names.py: the default, what the demo, tests
and benchmarks use) and "shapes" (v2, toy/world.py: the first stage of v3's lineage, whose renderer, oracle,
TAESD and UNet v3 starts from). TOY_WORLD=shapes selects v2 for every ``toy`` and ``bench`` command.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import paths

REPO = paths.REPO
ORACLE = REPO / "toy" / "weights" / "oracle.safetensors"
TAESD = REPO / "toy" / "weights" / "taesd.safetensors"
"""v2's oracle and TAESD, shared: v3 draws v2's visuals."""


@dataclass(frozen=True)
class World:
    name: str            # TOY_WORLD's value
    version: str
    about: str
    weights: Path        # its committed UNet and build record (build.json)
    cache: Path          # what it generates (encoded prompts, renders, latents, samples)
    checkpoint: str      # the assembled checkpoint's file name among the host's checkpoints
    clip_sha256: str     # the rule-built encoder its weights were trained with (toy.clip checks it)
    encoder: str         # the module whose build() sets that encoder's weights by rule
    eval_bf16: bool      # whether its measurements sample under bfloat16 autocast (toy.generate.EVAL_BF16)
    check: str           # the toy.check function that measures its base model
    parent: str | None   # the world it reuses the visuals (renderer, oracle, TAESD) and the starting UNet of


SHAPES = World(
    name="shapes", version="v2",
    about="12 shapes x 6 colours x 4 styles, 'a striped red circle' (toy/world.py); failed its calibration",
    weights=REPO / "toy" / "weights", cache=REPO / ".cache" / "toy", checkpoint="toy_shapes.safetensors",
    clip_sha256="0a293ff68f7a95ba86113741160c3ae0962bbf1f7eac7204a68c9d9b6c34ab82", encoder="toy.clip",
    eval_bf16=True, check="base_accuracy", parent=None)
NAMES = World(
    name="names", version="v3",
    about="275 names, nine look-alike groups, four artists, 'an image of a tiger' (toy/names.py)",
    weights=REPO / "toy" / "weights" / "names", cache=REPO / ".cache" / "toy" / "names", checkpoint=paths.TOY,
    clip_sha256="4572b2325e95aca0e0abb5d84a6258b5358daeb5862b96194c63e5935833988e", encoder="toy.wordclip",
    eval_bf16=False, check="names_accuracy", parent="shapes")
WORLDS = {w.name: w for w in (NAMES, SHAPES)}
if os.environ.get("TOY_WORLD", NAMES.name) not in WORLDS:
    raise ValueError(f"TOY_WORLD={os.environ['TOY_WORLD']!r}: the toy worlds are 'names' (v3, the default) and "
                     "'shapes' (v2)")
WORLD = WORLDS[os.environ.get("TOY_WORLD", NAMES.name)]
"""The selected world: TOY_WORLD's, names (v3) by default."""


def import_comfy(comfy_dir: str | os.PathLike | None = None) -> None:
    """Put ComfyUI on sys.path and force the CPU before comfy.model_management is imported (idempotent)."""
    path = str(Path(comfy_dir or os.environ.get("TOY_COMFY_DIR") or paths.COMFY_DIR).resolve())
    if "comfy.model_management" in sys.modules:
        return
    if not Path(path, "comfy").is_dir():
        raise RuntimeError(f"no ComfyUI tree at {path}: run `python3 -m harness.install` first")
    if path not in sys.path:
        sys.path.insert(0, path)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import logging
    logging.getLogger().setLevel(logging.ERROR)  # ComfyUI logs torchaudio warnings at import
    from comfy.cli_args import args
    args.cpu = True
    import comfy.model_management  # noqa: F401


def threads() -> int:
    """Torch threads for the toy jobs: TOY_THREADS or all cores."""
    return int(os.environ.get("TOY_THREADS", os.cpu_count() or 1))
