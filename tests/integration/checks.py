"""Checks that need ComfyUI's objects in memory, run inside a real ComfyUI in a child process.

    VENV_PY tests/integration/checks.py NAME [JSON_ARGUMENTS]

prints one JSON object of measurements; the pytest side (``run_check`` in conftest.py) asserts on
them, so this process never decides pass or fail. ComfyUI is initialised by ``harness.inprocess``
with only our pack enabled, exactly as the server would load it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness import inprocess, paths  # noqa: E402


def _setup(output_directory=None):
    inprocess.init(output_directory=output_directory)
    import comfy.model_management
    import nodes
    pack = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].__module__]
    return nodes, pack.glue, comfy.model_management


def _unet_weights(model, keys):
    """The weights the UNet module holds right now (float32 copies)."""
    state = model.model.state_dict()
    return {k: state[k].float().clone() for k in keys}


def _effective(model, keys, mm):
    """Effective weights as ComfyUI applies them for sampling: load with patches, read, unload."""
    mm.load_models_gpu([model], force_patch_weights=True)
    weights = _unet_weights(model, keys)
    mm.unload_all_models()
    return weights


def _relative(a, b):
    return max(float((a[k] - b[k]).norm() / b[k].norm()) for k in a)


def patched_weights(ckpt: str, strengths: list[float]) -> dict:
    """The patched model's effective to_k/to_v weights against W0 + strength * delta."""
    nodes, glue, mm = _setup()
    model, clip, _ = nodes.CheckpointLoaderSimple().load_checkpoint(ckpt)[:3]
    keys = glue.cross_attention_keys(model)
    base_before = _unet_weights(model, keys)
    patches_before, uuid_before = dict(model.patches), model.patches_uuid
    concepts = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute("golf ball\nchurch -> a building\n+ dog", "none")
    unlearn = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"]
    out = {"keys": len(keys), "by_strength": {}}
    for strength in strengths:
        patched = unlearn.execute(model, clip, concepts.args[0], "large_scale", strength, 0).args[0]
        deltas, infos = glue.scapre_edits(patched)
        effective = _effective(patched, keys, mm)
        expected = {k: (base_before[k] + deltas[k]).half().float() for k in keys}  # stored as fp16
        out["by_strength"][str(strength)] = {
            "max_relative_error": _relative(effective, expected),
            "delta_norm": sum(float(d.norm()) for d in deltas.values()),
            "edits": len(infos),
        }
    base_after = _effective(model, keys, mm)
    out["base_unchanged_max_abs"] = max(float((base_after[k] - base_before[k]).abs().max()) for k in keys)
    out["input_patches_unchanged"] = dict(model.patches) == patches_before and model.patches_uuid == uuid_before
    return out


CHECKS = {"patched_weights": patched_weights}


def main() -> None:
    name = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    with contextlib.redirect_stdout(sys.stderr):  # ComfyUI prints to stdout; keep it for the result
        result = CHECKS[name](**arguments)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
