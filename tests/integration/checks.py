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
from harness import inprocess  # noqa: E402
from host_helpers import saved_file, unlearn_graph  # noqa: E402  (this folder is sys.path[0] when run as a script)


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
    keys = glue.edited_keys(model)
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


def _saved_path(result: dict, folder: str) -> Path:
    assert result["success"], result["errors"]
    return Path(folder) / saved_file(result["outputs"]["4"]["text"][0]).split("/", 1)[1]


def save_round_trips(ckpt: str, concepts: str) -> dict:
    """Save every format, load each back with stock nodes, compare with the patched model."""
    nodes, glue, mm = _setup()
    import folder_paths
    import torch
    from safetensors import safe_open
    loader = nodes.CheckpointLoaderSimple()
    base, clip, vae = loader.load_checkpoint(ckpt)[:3]
    keys = glue.edited_keys(base)
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    patched = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(base, clip, concept_set, "large_scale", 1.0, 0).args[0]
    deltas, _ = glue.scapre_edits(patched)
    patched_w = _effective(patched, keys, mm)
    base_w = _unet_weights(base, keys)
    base_all = {k: v.float().clone() for k, v in base.model.state_dict().items()}
    out = {}

    def run_save(**save):
        return inprocess.run_prompt(unlearn_graph(ckpt, concepts, filename_prefix="roundtrip/edited", **save))

    # (a) full checkpoint: edited weights as the patched model's, everything else as the base's
    path = _saved_path(run_save(format="checkpoint"), folder_paths.get_folder_paths("checkpoints")[0])
    reloaded, clip2, vae2 = loader.load_checkpoint(str(path.relative_to(folder_paths.get_folder_paths("checkpoints")[0])))[:3]
    state = {k: v.float() for k, v in reloaded.model.state_dict().items()}
    out["checkpoint"] = {
        "edited_max_relative_error": _relative({k: state[k] for k in keys}, patched_w),
        "other_unet_max_abs": max(float((state[k] - base_all[k]).abs().max()) for k in base_all if k not in keys),
        "clip_mismatches": sorted(k for k, v in clip.get_sd().items()
                                  if not torch.equal(v.float(), clip2.get_sd()[k].float())),
        "file_keys_ok": bool(path.exists()),
    }
    # (b) exact edit as a LoRA, applied by the stock LoraLoaderModelOnly at strength 1 and 0.5
    lora_dir = folder_paths.get_folder_paths("loras")[0]
    path = _saved_path(run_save(format="edit (LoRA, exact)"), lora_dir)
    name = str(path.relative_to(lora_dir))
    lora = nodes.LoraLoaderModelOnly()
    full = _effective(lora.load_lora_model_only(base, name, 1.0)[0], keys, mm)
    half = _effective(lora.load_lora_model_only(base, name, 0.5)[0], keys, mm)
    with safe_open(str(path), framework="pt") as f:
        metadata, file_keys = f.metadata(), sorted(f.keys())
    out["lora_exact"] = {
        "strength_1_max_relative_error": _relative(full, patched_w),
        "strength_half_max_relative_error": _relative(half, {k: base_w[k] + 0.5 * deltas[k] for k in keys}),
        "keys": file_keys, "metadata": metadata, "bytes": path.stat().st_size,
    }
    # (c) low rank at the default 1 % bound: the error measured here is the one written in the file
    path = _saved_path(run_save(format="edit (LoRA, low rank)", max_error=0.01, max_rank=768), lora_dir)
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata()
    measured = {}
    for key in keys:
        name = key[: -len(".weight")]
        approx = tensors[f"{name}.lora_up.weight"].double() @ tensors[f"{name}.lora_down.weight"].double()
        measured[key] = float((deltas[key].double() - approx).norm() / deltas[key].double().norm())
    low = _effective(lora.load_lora_model_only(base, str(path.relative_to(lora_dir)), 1.0)[0], keys, mm)
    out["lora_low_rank"] = {
        "measured": measured, "written": json.loads(metadata["scapre.lowrank.errors"]),
        "overall_written": float(metadata["scapre.lowrank.error"]),
        "ranks": {k: tensors[f"{k[:-len('.weight')]}.lora_down.weight"].shape[0] for k in keys},
        "applied_max_relative_error": _relative(low, patched_w), "bytes": path.stat().st_size,
    }
    return out


def interrupted_save(ckpt: str) -> dict:
    """A save that fails half-way through writing leaves nothing behind."""
    nodes, _, _ = _setup()
    import folder_paths
    module = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreSaveEditedModel"].__module__]
    real_save = module.save_file

    def failing_save(tensors, filename, metadata=None):
        real_save(dict(list(tensors.items())[:1]), filename, metadata=metadata)
        with open(filename, "ab") as f:
            f.write(b"\0" * 1024)
        raise OSError("disk full (simulated)")

    module.save_file = failing_save
    try:
        result = inprocess.run_prompt(unlearn_graph(ckpt, "golf ball", filename_prefix="interrupted/edit",
                                                    format="edit (LoRA, exact)"))
    finally:
        module.save_file = real_save
    folder = Path(folder_paths.get_folder_paths("loras")[0]) / "interrupted"
    return {"success": result["success"], "errors": json.dumps(result["errors"], default=str)[:2000],
            "left_behind": sorted(p.name for p in folder.iterdir()) if folder.exists() else []}


CHECKS = {"patched_weights": patched_weights, "save_round_trips": save_round_trips,
          "interrupted_save": interrupted_save}


def main() -> None:
    name = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    with contextlib.redirect_stdout(sys.stderr):  # ComfyUI prints to stdout; keep it for the result
        result = CHECKS[name](**arguments)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
