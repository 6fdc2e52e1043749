"""Paths of the toy world and the ComfyUI import (host venv only).

Everything generated goes under REPO/.cache/toy (git-ignored); the trained weights that are committed live in
toy/weights. ComfyUI comes from the harness's host install (.cache/host/ComfyUI): run the toy modules with the
host venv's python (``.cache/host/venv/bin/python -m toy.build``) after ``python3 -m harness.install``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness import paths

REPO = paths.REPO
WORLD = os.environ.get("TOY_WORLD", "shapes")
"""Which toy world: "shapes" (v2, toy/world.py: what the demo, tests and benchmarks use until v3 calibrates) or
"names" (v3 under construction, toy/names.py: its weights in toy/weights/names, its cache in .cache/toy/names)."""
if WORLD not in ("shapes", "names"):
    raise ValueError(f"TOY_WORLD={WORLD!r}: the toy worlds are 'shapes' (v2) and 'names' (v3)")
WEIGHTS = REPO / "toy" / "weights" / ("names" if WORLD == "names" else "")
CACHE = REPO / ".cache" / "toy" / ("names" if WORLD == "names" else "")
ORACLE = REPO / "toy" / "weights" / "oracle.safetensors"
TAESD = REPO / "toy" / "weights" / "taesd.safetensors"
"""v2's oracle and TAESD, shared: v3 draws v2's visuals."""
CHECKPOINT = paths.TOY if WORLD == "shapes" else "toy_names.safetensors"
"""The assembled checkpoint's file name among the host's checkpoints."""


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
