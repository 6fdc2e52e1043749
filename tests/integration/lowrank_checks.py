"""Exact low-rank patches inside a real ComfyUI (issue 17), run in a child process like checks.py:

    VENV_PY tests/integration/lowrank_checks.py

prints one JSON object of measurements (the pytest side asserts on them): "factors" and "row_scale". On the tiny
SD1.5 checkpoint a UCE edit
is applied twice, as exact factors through ComfyUI's "lora" adapter (the node's low-rank patches) and as the
same edit's dense "diff" patches, at two strengths and stacked; the effective weights and the sampled pixels are
compared, and the exact-LoRA save's tensors are loaded back with the stock LoraLoaderModelOnly.

The tiny model's layers are 32 channels wide: there the solver's factors (rank = the tokens' numerical rank,
hundreds with the real-size CLIP-L) are larger than the dense delta, so the node keeps it dense. The factors used
here are the dense edit's own exact ones (its thin SVD, ``up = U S``, ``down = V^T``, rank 32): what the host does
with factors does not depend on where they came from.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness import inprocess, paths  # noqa: E402

CONCEPTS = "golf ball\nchurch -> a building\n+ tennis ball\n"


def _effective(model, keys, mm):
    mm.load_models_gpu([model], force_patch_weights=True)
    state = model.model.state_dict()
    weights = {k: state[k].float().clone() for k in keys}
    mm.unload_all_models()
    return weights


def _pixels(nodes, model, clip, vae):
    positive = nodes.CLIPTextEncode().encode(clip, "a golf ball on a church roof")[0]
    negative = nodes.CLIPTextEncode().encode(clip, "")[0]
    latent = nodes.EmptyLatentImage().generate(64, 64, 1)[0]
    sampled = nodes.KSampler().sample(model, 7, 4, 5.0, "euler", "normal", positive, negative, latent)[0]
    return nodes.VAEDecode().decode(vae, sampled)[0]


def _pixel_checks(nodes, host, model, clip, vae, edits, dense, info):
    """(the model patched with ``edits`` at strength 1, the model patched with their dense form ``dense``, how far
    the first one's image is from the second one's and from the unedited model's, same seed)."""
    import torch
    low = host.patches.apply_edit(model, edits, 1.0, info)
    full = host.patches.apply_edit(model, dense, 1.0, info)
    with torch.no_grad():
        pix_low, pix_full = _pixels(nodes, low, clip, vae), _pixels(nodes, full, clip, vae)
        pix_base = _pixels(nodes, model, clip, vae)
    return low, full, {"pixels_max_abs_low_vs_dense": float((pix_low - pix_full).abs().max()),
                       "pixels_max_abs_edit_vs_base": float((pix_low - pix_base).abs().max())}


def lowrank_patches() -> dict:
    inprocess.init()
    import comfy.model_management as mm
    import folder_paths
    import nodes
    import torch
    host = inprocess.pack_host()
    pack = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].__module__]
    Factors = host.patches.Factors  # the pack's own class
    model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(paths.TINY_SD15)[:3]
    keys = host.families.edited_keys(model)
    concepts = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(CONCEPTS, "none").args[0]
    result, info, _ = pack.run(model, clip, concepts, pack.ScaPreConfig.preset("uce", seed=0), torch.float32)
    dense = result.deltas
    edits = {}
    for key, delta in dense.items():
        U, S, Vh = torch.linalg.svd(delta.double(), full_matrices=False)
        edits[key] = Factors((U * S).float(), Vh.float())
    dense = {key: edit.dense() for key, edit in edits.items()}  # the edit both patches carry
    out = {"keys": len(keys), "factored": len(edits), "ranks": sorted({e.rank for e in edits.values()}),
           "report_rank_line": next(line for line in result.report.to_text().splitlines()
                                    if line.startswith("edit rank"))}
    base = _effective(model, keys, mm)
    out["by_strength"] = {}
    for strength in (1.0, 0.6):
        low = host.patches.apply_edit(model, edits, strength, info)
        full = host.patches.apply_edit(model, dense, strength, info)
        stacked_low = host.patches.apply_edit(low, edits, 0.5, info)
        stacked_full = host.patches.apply_edit(full, dense, 0.5, info)
        measured = {}
        for name, (a, b) in {"single": (low, full), "stacked": (stacked_low, stacked_full)}.items():
            wa, wb = _effective(a, keys, mm), _effective(b, keys, mm)
            measured[name] = max(float((wa[k] - wb[k]).abs().max() / base[k].abs().max()) for k in keys)
        expected = {k: base[k] + strength * dense[k] for k in keys}
        got = _effective(low, keys, mm)
        measured["against_w0_plus_delta"] = max(float((got[k] - expected[k]).abs().max() / base[k].abs().max())
                                                for k in keys)
        measured["lora_patches"] = sum(isinstance(v, host.patches.ScaPreLoRA) for p in low.patches.values()
                                       for _, v, *_ in p)
        found, infos = host.patches.scapre_edits(stacked_low, factors=True)
        measured["found_again_ranks"] = sorted({e.rank for e in found.values() if isinstance(e, Factors)})
        measured["found_again_edits"] = len(infos)
        out["by_strength"][str(strength)] = measured
    low, full, pixels = _pixel_checks(nodes, host, model, clip, vae, edits, dense, info)
    out |= pixels
    out["base_unchanged"] = max(float((v - base[k]).abs().max()) for k, v in _effective(model, keys, mm).items())

    # the exact-LoRA save writes the factors; the stock loader applies them
    # the exact-LoRA save's tensors of the factored patches (save_edited.edit_tensors: what the node writes)
    save_edited = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreSaveEditedModel"].__module__]
    found, _ = host.patches.scapre_edits(low, factors=True)
    tensors, _ = save_edited.edit_tensors(found, save_edited.LORA_EXACT, torch.float32, 0.01, 256, None)
    folder = folder_paths.get_folder_paths("loras")[0]
    Path(folder).mkdir(parents=True, exist_ok=True)  # a fresh host has none until a test writes there
    name = "lowrank_check_edit.safetensors"
    from safetensors.torch import save_file
    save_file(tensors, str(Path(folder) / name))
    from safetensors import safe_open
    with safe_open(str(Path(folder) / name), framework="pt") as f:
        names = list(f.keys())
    out["saved_tensors"] = {"lora_up": sum(n.endswith(".lora_up.weight") for n in names),
                            "lora_down": sum(n.endswith(".lora_down.weight") for n in names),
                            "diff": sum(n.endswith(".diff") for n in names)}
    loaded = nodes.LoraLoaderModelOnly().load_lora_model_only(model, name, 1.0)[0]
    wl, wf = _effective(loaded, keys, mm), _effective(full, keys, mm)
    out["saved_lora_vs_dense"] = max(float((wl[k] - wf[k]).abs().max() / base[k].abs().max()) for k in keys)
    (Path(folder) / name).unlink()
    return out


def row_scale_patches() -> dict:
    """ScaPre's edit kept as ``diag(s) W + up @ down``: the same weights and pixels as its dense form, on the weight
    as the patches before it leave it (here a plain upstream "diff" patch, as a LoRA loaded before ScaPre), and
    found again for saving as that dense edit. The node's own edit on the tiny model is dense (its factors would
    not pay); the factors here are the dense edit's own (``up @ down = D - diag(s) W0`` by SVD, s the relative
    change of each row's norm), rank 32 as above."""
    inprocess.init()
    import comfy.model_management as mm
    import nodes
    import torch
    host = inprocess.pack_host()
    pack = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].__module__]
    Factors = host.patches.Factors
    model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(paths.TINY_SD15)[:3]
    keys = host.families.edited_keys(model)
    concepts = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(CONCEPTS, "none").args[0]
    config = pack.ScaPreConfig.preset("large_scale", seed=0, prior="off")
    result, info, _ = pack.run(model, clip, concepts, config, torch.float32)
    base = _effective(model, keys, mm)
    g = torch.Generator().manual_seed(0)
    upstream = {k: 0.01 * base[k].abs().max() * torch.randn(base[k].shape, generator=g) for k in keys}
    under = {k: base[k] + upstream[k] for k in keys}
    edits, dense = {}, {}
    for key in keys:
        delta = result.deltas[key].double()
        scale = (base[key].double() + delta).norm(dim=1) / base[key].double().norm(dim=1) - 1
        U, S, Vh = torch.linalg.svd(delta - scale[:, None] * base[key].double(), full_matrices=False)
        edits[key] = Factors((U * S).float(), Vh.float(), scale.float())
        dense[key] = edits[key].dense(base[key])
    out = {"keys": len(keys), "report_rank_line": next(line for line in result.report.to_text().splitlines()
                                                       if line.startswith("edit rank"))}
    for strength in (1.0, 0.6):
        low = host.patches.apply_edit(model, edits, strength, info)
        full = host.patches.apply_edit(model, dense, strength, info)
        wa, wb = _effective(low, keys, mm), _effective(full, keys, mm)
        out[f"single_{strength}"] = max(float((wa[k] - wb[k]).abs().max() / base[k].abs().max()) for k in keys)
    lora = model.clone()  # an upstream patch that is not ScaPre's
    lora.add_patches({k: ("diff", (v,)) for k, v in upstream.items()}, 1.0)
    low = host.patches.apply_edit(lora, edits, 0.6, info)
    got = _effective(low, keys, mm)
    out["over_upstream_vs_expected"] = max(
        float((got[k] - (under[k] + 0.6 * edits[k].dense(under[k]))).abs().max() / base[k].abs().max()) for k in keys)
    found, infos = host.patches.scapre_edits(low, factors=True)
    out["found_again_dense"] = all(isinstance(e, torch.Tensor) for e in found.values()) and len(found) == len(keys)
    out["found_again_vs_expected"] = max(float((found[k] - 0.6 * edits[k].dense(under[k])).abs().max()
                                               / base[k].abs().max()) for k in keys)
    out["found_again_edits"] = len(infos)
    _, _, pixels = _pixel_checks(nodes, host, model, clip, vae, edits, dense, info)
    out |= pixels
    out["base_unchanged"] = max(float((v - base[k]).abs().max()) for k, v in _effective(model, keys, mm).items())
    return out


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):
        result = {"factors": lowrank_patches(), "row_scale": row_scale_patches()}
    print(json.dumps(result))
