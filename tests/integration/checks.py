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
from host_helpers import saved_file, unlearn_graph  # noqa: E402  (this folder is sys.path[0] when run as a script)


def _setup(output_directory=None):
    inprocess.init(output_directory=output_directory)
    import comfy.model_management
    import nodes
    return nodes, inprocess.pack_host(), comfy.model_management


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
    nodes, host, mm = _setup()
    model, clip, _ = nodes.CheckpointLoaderSimple().load_checkpoint(ckpt)[:3]
    keys = host.families.edited_keys(model)
    base_before = _unet_weights(model, keys)
    patches_before, uuid_before = dict(model.patches), model.patches_uuid
    concepts = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute("golf ball\nchurch -> a building\n+ dog", "none")
    unlearn = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"]
    out = {"keys": len(keys), "by_strength": {}}
    for strength in strengths:
        patched = unlearn.execute(model, clip, concepts.args[0], "large_scale", strength, 0).args[0]
        deltas, infos = host.patches.scapre_edits(patched)
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
    nodes, host, mm = _setup()
    import folder_paths
    import torch
    from safetensors import safe_open
    loader = nodes.CheckpointLoaderSimple()
    base, clip, vae = loader.load_checkpoint(ckpt)[:3]
    keys = host.families.edited_keys(base)
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    patched = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(base, clip, concept_set, "large_scale", 1.0, 0).args[0]
    deltas, _ = host.patches.scapre_edits(patched)
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


def interrupted_save(ckpt: str, error: str) -> dict:
    """A save that fails half-way through writing leaves nothing behind. ``error``: "oserror" (Python's, without
    an errno), "other" (not the file system's) or "safetensors" (safetensors' own, with the very message a full
    disk gave it on this machine's CI)."""
    nodes, _, _ = _setup()
    import folder_paths
    from safetensors import SafetensorError
    module = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreSaveEditedModel"].__module__]
    real_save = module.save_file
    errors = {"oserror": OSError("disk full (simulated)"), "other": RuntimeError("not the disk (simulated)"),
              "safetensors": SafetensorError("Error while serializing: I/O error: No space left on device "
                                             "(os error 28)")}

    def failing_save(tensors, filename, metadata=None):
        real_save(dict(list(tensors.items())[:1]), filename, metadata=metadata)
        with open(filename, "ab") as f:
            f.write(b"\0" * 1024)
        raise errors[error]

    module.save_file = failing_save
    try:
        result = inprocess.run_prompt(unlearn_graph(ckpt, "golf ball", filename_prefix="interrupted/edit",
                                                    format="edit (LoRA, exact)"))
    finally:
        module.save_file = real_save
    folder = Path(folder_paths.get_folder_paths("loras")[0]) / "interrupted"
    return {"success": result["success"], "messages": [e["exception_message"] for e in result["errors"]],
            "left_behind": sorted(p.name for p in folder.iterdir()) if folder.exists() else []}


def save_without_room(ckpt: str, formats: dict[str, str]) -> dict:
    """Per format (-> its models folder kind), a save to a disk reported 1 kB free: refused before writing. First
    the same save with room, for its size."""
    nodes, _, _ = _setup()
    import shutil

    import folder_paths
    out = {}
    for format, kind in formats.items():
        folder = Path(folder_paths.get_folder_paths(kind)[0]) / "noroom"
        graph = unlearn_graph(ckpt, "golf ball", filename_prefix="noroom/edit", format=format)
        saved = _saved_path(inprocess.run_prompt(graph), folder.parent)
        size, before = saved.stat().st_size, sorted(p.name for p in folder.iterdir())
        real = shutil.disk_usage
        shutil.disk_usage = lambda path: real(path)._replace(free=1024)
        try:
            result = inprocess.run_prompt(graph)
        finally:
            shutil.disk_usage = real
        out[format] = {"success": result["success"], "messages": [e["exception_message"] for e in result["errors"]],
                       "size": size, "folder": str(folder), "before": before,
                       "after": sorted(p.name for p in folder.iterdir())}
    return out


def prior_cache(ckpt: str, prompts: list[str]) -> dict:
    """The preserve prior's disk cache: computed, read back, and rebuilt after each kind of damage."""
    nodes, host, _ = _setup()
    import folder_paths
    import torch

    from scapre_core.prior import prompts_digest, second_moment
    clip = nodes.CheckpointLoaderSimple().load_checkpoint(ckpt)[1]
    prompts = tuple(prompts)
    path = host.prior_cache.prior_cache_path(host.prior_cache.encoder_fingerprint(host.text.clip_encoder(clip)), prompts_digest(prompts))
    path.unlink(missing_ok=True)
    first = host.prior_cache.cached_prior(host.text.clip_encoder(clip), prompts, "test list")
    second = host.prior_cache.cached_prior(host.text.clip_encoder(clip), prompts, "test list")
    plain = second_moment(host.text.clip_encoder(clip), prompts, "plain", batch_size=1)
    out = {"path": str(path), "user_directory": folder_paths.get_user_directory(), "first": first.source,
           "second": second.source, "same_gram": torch.equal(first.gram, second.gram),
           "plain_relative_error": float((first.gram - plain.gram).norm() / plain.gram.norm()), "damage": {}}
    data = path.read_bytes()
    damages = {
        "flipped_byte": data[:-9] + bytes([data[-9] ^ 0x40]) + data[-8:],
        "truncated": data[: len(data) // 2],
        "not_safetensors": b"not a cache file",
        "other_encoder": data.replace(host.prior_cache.encoder_fingerprint(host.text.clip_encoder(clip)).encode(), b"0" * 64),
    }
    for name, damaged in damages.items():
        path.write_bytes(damaged)
        again = host.prior_cache.cached_prior(host.text.clip_encoder(clip), prompts, "test list")
        out["damage"][name] = {"source": again.source, "same_gram": torch.equal(again.gram, first.gram),
                               "then": host.prior_cache.cached_prior(host.text.clip_encoder(clip), prompts, "test list").source}
    out["eigen"] = _older_prior_file(host, path, clip, prompts, first)
    path.unlink()
    out["refused"] = _refused_prior_file(host, path, clip, prompts, first)
    return out


def _refused_prior_file(host, path, clip, prompts, first) -> dict:
    """A cache file the disk has no room for: the prior is still given (the edit goes on), and says it is not cached."""
    import errno

    import torch
    module = host.prior_cache
    real_save = module.save_file

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 1024)  # a partial file, as a full disk leaves one
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    module.save_file = full_disk
    try:
        prior = module.cached_prior(host.text.clip_encoder(clip), prompts, "test list")
    finally:
        module.save_file = real_save
    return {"source": prior.source, "same_gram": torch.equal(prior.gram, first.gram), "file": path.exists(),
            "left_behind": sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}"))}


def _older_prior_file(host, path, clip, prompts, first) -> dict:
    """The cached eigenpairs: read back bit for bit, and added on first read to a file written without them."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {name: f.get_tensor(name) for name in f.keys()}
    stored = sorted(tensors)
    older = {name: t for name, t in tensors.items() if not name.startswith("eigen")}
    save_file(older, str(path), metadata=meta | {"sha256": host.prior_cache._tensors_digest(older)})
    upgraded = host.prior_cache.cached_prior(host.text.clip_encoder(clip), prompts, "test list")
    with safe_open(str(path), framework="pt") as f:
        after = sorted(f.keys())
    lam, Q = first.eigen
    C = first.gram / first.prompts
    return {"stored": stored, "source": upgraded.source, "after": after,
            "same": all(torch.equal(a, b) for a, b in zip(upgraded.eigen, first.eigen)),
            "reconstruction_error": float((Q.double() * lam @ Q.double().T - C).norm() / C.norm())}


def plant_general_prior(ckpt: str) -> dict:
    """A valid cache entry of the general prior for this checkpoint's CLIP, from a stand-in statistic (its first
    16 prompts, scaled to the list's 1,000; those 16 prompts' own factors, the others' zero), so host tests can use
    the general prior without computing it."""
    nodes, host, _ = _setup()
    import dataclasses

    import torch

    from scapre_core.prior import general_prompts, general_source, prompts_digest, second_moment
    clip = nodes.CheckpointLoaderSimple().load_checkpoint(ckpt)[1]
    prompts = general_prompts()
    part = second_moment(host.text.clip_encoder(clip), prompts[:16], "", keep_prompts=True)
    factors = torch.zeros(len(prompts), *part.prompt_factors.shape[1:])
    factors[:16] = part.prompt_factors
    stand_in = dataclasses.replace(part, gram=part.gram * (len(prompts) / 16), prompts=len(prompts),
                                   source=general_source(prompts) + " [test stand-in]", prompt_factors=factors,
                                   prompt_names=prompts)
    path = host.prior_cache.write_prior_cache(stand_in, host.prior_cache.encoder_fingerprint(host.text.clip_encoder(clip)), prompts_digest(prompts))
    return {"path": str(path), "named": list(prompts[:16])}


# --- the families edited through their text-input layers, on tiny models built in-process by harness.tiny_models --


def _all_weights(model, mm):
    """Every tensor of the model as ComfyUI applies it for sampling (load with patches, read, unload)."""
    return _effective(model, list(model.model.state_dict()), mm)


def _front(model, key: str, x):
    """The model's own modules in front of the edited weight ``key``, applied to its text encoder's output ``x``
    [1, S, e] (or a pooled [1, p]): what that layer sees, computed by the model's modules, not by the pack's."""
    module = model.model.diffusion_model
    if ".cross_attn." in key:  # Wan
        return module.text_embedding(x)
    if ".cap_embedder.1." in key:  # Lumina 2, Z-Image
        return module.cap_embedder[0](x)
    if key == "diffusion_model.txt_in.weight" and hasattr(module, "txt_norm"):  # Qwen-Image
        return module.txt_norm(x)
    if ".c_embedder." in key:  # HunyuanVideo 1.5's token refiner
        return x.mean(dim=1)
    return x


def _encoded(clip, text: str) -> dict:
    """What CLIPTextEncode's encoding returns for ``text``."""
    return clip.encode_from_tokens(clip.tokenize(text), return_pooled=True, return_dict=True)


def _stream_inputs(model, clip, streams, keys: dict, text: str) -> dict:
    """key -> the edited layer's input for ``text`` as the model computes it: CLIPTextEncode's outputs (the
    conditioning, the pooled vector, HiDream's Llama layer), passed through the model's own front modules."""
    import torch
    out = _encoded(clip, text)
    inputs = {}
    for stream in streams:
        x = out["cond"] if stream.source == "cond" else out["pooled_output"] if stream.source == "pooled" \
            else out[stream.source][:, stream.index]
        with torch.no_grad():
            for key in keys[stream.name]:
                inputs[key] = _front(model, key, x).float()
    return inputs


def _outputs(model, keys: list[str], inputs: dict, mm, bias_free: bool = False) -> dict:
    """key -> the edited layer's output [S, n] for its input, with the model's current patches applied."""
    import comfy.utils
    import torch
    mm.load_models_gpu([model], force_patch_weights=True)
    outputs = {}
    with torch.no_grad():
        for key in keys:
            layer = comfy.utils.get_attr(model.model, key[: -len(".weight")])
            y = layer(inputs[key]).float()
            outputs[key] = (y - layer.bias.float() if bias_free and layer.bias is not None else y)[0]
    mm.unload_all_models()
    return outputs


def _relative_norm(a: dict, b: dict, keys: list[str]) -> float:
    """sqrt(sum_k |a_k - b_k|^2) / sqrt(sum_k |b_k|^2) over keys."""
    moved = sum(float((a[k] - b[k]).double().pow(2).sum()) for k in keys)
    base = sum(float(b[k].double().pow(2).sum()) for k in keys)
    return (moved / base) ** 0.5


def _tokenizer_word_counts(clip, text: str) -> dict:
    """How many word tokens each of the CLIP's CLIP and T5 tokenizers makes of ``text`` (start and end tokens
    removed)."""
    counts = {}
    for name in ("clip_l", "clip_g", "t5xxl", "clip_t5xxl", "clip_umt5xxl"):
        tokenizer = getattr(clip.tokenizer, name, None)
        if tokenizer is not None:
            ids = tokenizer.tokenizer(text)["input_ids"]
            counts[name.removeprefix("clip_") if "t5" in name else name] = len(ids) - (1 if "t5" in name else 2)
    return counts


def _llm_positions(clip, stream, encode, concept: str, anchor: str) -> dict:
    """For a stream read by an LLM: the tokens at the concept's word and end positions (mapped back from rows to
    tokens past what the encoder dropped) against the LLM tokenizer's own tokens for the bare text, and what
    the causal states do: the largest difference between the concept's and the anchor's encodings on the
    template rows before the words, on the end token's row, and on the rows after it."""
    name = stream.layout.name
    tokenizer = getattr(clip.tokenizer, name)
    tokens = [t for t, *_ in clip.tokenize(concept)[name][0]]
    hidden, layout = encode([concept, anchor])
    (segment,), (other,) = layout.prompts
    cut = len(tokens) - segment.stop
    after = 0 if segment.end is None else min(segment.stop - segment.end, other.stop - other.end) - 1
    bare = list(tokenizer.tokenizer(concept)["input_ids"])  # the LLM tokenizer's own, minus its start token
    bare = bare[1:] if tokenizer.start_token is not None and bare[:1] == [tokenizer.start_token] else bare
    rows_before = segment.start
    return {
        "word_ids": [tokens[p + cut] for p in segment.words], "bare_ids": list(bare),
        "end": None if segment.end is None else tokenizer.tokenizer.convert_ids_to_tokens(tokens[segment.end + cut]),
        "template_rows_before": rows_before, "dropped_by_encoder": cut, "rows": segment.stop,
        "words": list(segment.words), "end_row": segment.end,
        "template_rows_differ": float((hidden[0, :rows_before] - hidden[1, :rows_before]).abs().max())
        if rows_before else None,
        "end_row_differs": None if segment.end is None else
        float((hidden[0, segment.end] - hidden[1, other.end]).abs().max()),
        "rows_after_end_differ": None if after == 0 else
        float((hidden[0, segment.end + 1:segment.end + 1 + after] - hidden[1, other.end + 1:other.end + 1 + after])
              .abs().max()),
    }


def _equal_length_anchor(encoders: dict, concept: str, anchors: list[str]) -> str:
    """The first of ``anchors`` whose every stream lays out as many positions as the concept's, as the "all"
    alignment needs."""
    def shape(text):
        return [tuple(s.stop - s.start for s in encode([text])[1].prompts[0]) for encode in encoders.values()]
    want = shape(concept)
    return next(a for a in anchors if shape(a) == want)


def family_edit(name: str, encoder: str, concepts: str, preserved: str, concept: str, anchors: list[str],
                light: bool = False) -> dict:
    """One tiny family model: the ScaPre Unlearn node's default edit read back through ComfyUI (keys, W0 + delta,
    untouched input model, the report against the patched layers' outputs), the concept's token layout against
    the tokenizers, and an edit aligned on every position (UCE, no preserve term, ridge 1e-8, float64, with the
    first anchor of ``anchors`` that has as many positions as the concept) that must make the edited layers see
    the anchor for the concept. ``light`` (a variant whose text path is its family's, tested in full on another
    class): only the edit's keys and values, with the uce recipe."""
    nodes, host, mm = _setup()
    import torch
    from harness import tiny_models
    pack = sys.modules[nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].__module__]
    concept_list, config_class = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"], pack.ScaPreConfig  # the pack's own
    model, clip = tiny_models.build_model(name), tiny_models.build_text_encoder(encoder)
    family = host.families.family_of(model)
    streams = family.streams_of(model)
    keys = {stream.name: host.families.stream_keys(model, stream) for stream in streams}
    edited = [k for ks in keys.values() for k in ks]
    before = _all_weights(model, mm)
    patches_before, uuid_before = dict(model.patches), model.patches_uuid
    out = {"model_config": host.families.model_family(model), "keys": keys}

    # the authors' full ScaPre edit (large_scale; uce on the light path)
    concept_set = concept_list.execute(concepts, "none").args[0]
    recipe = "uce" if light else "large_scale"
    patched, report = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, recipe, 1.0,
                                                                           0).args
    deltas, _ = host.patches.scapre_edits(patched)
    after = _all_weights(patched, mm)
    out["node_report"] = report
    out["patched_keys"] = sorted(patched.patches)
    out["edited_max_relative_error"] = max(
        float((after[k] - (before[k] + deltas[k])).norm() / (before[k] + deltas[k]).norm()) for k in edited)
    out["other_tensors_changed"] = sorted(k for k in before if k not in edited and not torch.equal(after[k], before[k]))
    out["bias_free_layers"] = [k for k in edited if k[: -len(".weight")] + ".bias" not in before]
    out["input_model_unchanged"] = (all(torch.equal(v, before[k]) for k, v in _all_weights(model, mm).items())
                                    and dict(model.patches) == patches_before and model.patches_uuid == uuid_before)
    if light:
        return out
    result, _, cached = pack.run(model, clip, concept_set, config_class.preset(recipe, seed=0), torch.float32)
    out["run_cached"] = cached
    out["alignment"] = {n: r.alignment for n, r in result.report.streams.items()}
    new, old = (_outputs(m, edited, _stream_inputs(model, clip, streams, keys, preserved), mm, bias_free=True)
                for m in (patched, model))
    out["preserved_measured"] = {n: _relative_norm(new, old, ks) for n, ks in keys.items()}
    out["preserved_reported"] = {n: r.preserve_changes[preserved] for n, r in result.report.streams.items()}
    new, old = (_outputs(m, edited, _stream_inputs(model, clip, streams, keys, concept), mm, bias_free=True)
                for m in (patched, model))
    out["concept_measured"] = {n: _relative_norm(new, old, ks) for n, ks in keys.items()}

    # where the concept's tokens are, against the tokenizers themselves; what the pack's features compute
    plan = host.plan.edit_plan(model, clip, torch.device("cpu"))
    encoders = {n: encode for n, (_, encode) in plan.streams.items()}
    out["layouts"] = {n: [list((s.start, list(s.words), s.end, s.stop)) for s in encode([concept])[1].prompts[0]]
                      for n, encode in encoders.items()}
    out["word_counts"] = _tokenizer_word_counts(clip, concept)
    anchor = _equal_length_anchor(encoders, concept, anchors)
    out["llm"] = {s.name: _llm_positions(clip, s, encoders[s.name], concept, anchor) for s in streams
                  if isinstance(s.layout, host.layouts.ChatLayout)}
    own = {n: x.reshape(-1, x.shape[-1]) for n, x in _stream_inputs(model, clip, streams, keys, concept).items()}
    out["features_max_abs_error"] = {s.name: float((encoders[s.name]([concept])[0][0] - own[keys[s.name][0]]).abs().max())
                                     for s in streams if s.features is not None}

    # every position aligned: the edited layers' outputs for the concept are the original's for the anchor
    config = config_class.preset("uce", alignment="all", preserve_scale=0.0, lam=1e-8)
    exact, info, _ = pack.run(model, clip, concept_list.execute(f"{concept} -> {anchor}", "none").args[0], config,
                              torch.float64)
    aligned = host.patches.apply_edit(model, exact.deltas, 1.0, info)
    ours, theirs = (_stream_inputs(model, clip, streams, keys, t) for t in (concept, anchor))
    edited_concept = _outputs(aligned, edited, ours, mm)
    original_concept, original_anchor = _outputs(model, edited, ours, mm), _outputs(model, edited, theirs, mm)
    # the rows the layout aligns: every row, except an LLM's template rows before the words, which are the same
    # for the concept and the anchor and which nothing here preserves (in use the preserved prompts keep them)
    rows = {k: [p for seg in encoders[n]([concept])[1].prompts[0] for p in range(seg.start, seg.stop)]
            for n, ks in keys.items() for k in ks}

    def on_rows(outputs):
        return {k: v.reshape(-1, v.shape[-1])[rows[k]] for k, v in outputs.items()}

    edited_concept, original_concept, original_anchor = map(on_rows, (edited_concept, original_concept,
                                                                      original_anchor))
    out["anchor"] = anchor
    out["equivalence"] = {k: {"after": _relative_norm(edited_concept, original_anchor, [k]),
                              "before": _relative_norm(original_concept, original_anchor, [k]),
                              "rows": len(rows[k])} for k in edited}
    out["equivalence_report"] = exact.report.to_text()
    return out


def family_save(name: str, encoder: str, concepts: str, formats: list[str]) -> dict:
    """Save Edited Model on one tiny family model, in ``formats`` (of "lora_exact", "diffusion_model",
    "checkpoint"), each file read back: the exact LoRA through the stock LoraLoaderModelOnly; the diffusion model
    tensor by tensor and through the stock UNETLoader, which detects some of the tiny models (SD3, Wan, HunyuanVideo
    1.5; the others are detected only at full size: "reloaded" says which); the checkpoint (with the tiny text
    encoder and the TAESD3 VAE) tensor by tensor."""
    nodes, host, mm = _setup()
    import folder_paths
    import torch
    from safetensors import safe_open
    from harness import tiny_models
    model, clip = tiny_models.build_model(name), tiny_models.build_text_encoder(encoder)
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    patched = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, "large_scale", 1.0, 0).args[0]
    edited = host.families.edited_keys(model)
    base, after = ({k: v for k, v in _all_weights(m, mm).items() if k.startswith("diffusion_model.")}
                   for m in (model, patched))
    save = nodes.NODE_CLASS_MAPPINGS["ScaPreSaveEditedModel"].PREPARE_CLASS_CLONE({})
    names = host.files.checkpoint_keys(model, list(base))  # model key -> its name in a saved file
    out = {}

    def saved(fmt, kind, **options):
        text = save.execute(patched, f"families/{name}", fmt, **options).ui.value
        folder = folder_paths.get_folder_paths(kind)[0]
        return Path(folder) / saved_file(text).split("/", 1)[1], folder

    def compare(weights):
        return {"edited_max_relative_error": _relative({k: weights[k] for k in edited}, {k: after[k] for k in edited}),
                "others_changed": sorted(k for k in base if k not in edited and not torch.equal(weights[k], base[k]))}

    if "lora_exact" in formats:
        path, folder = saved("edit (LoRA, exact)", "loras", precision="fp32")
        with safe_open(str(path), framework="pt") as f:
            keys, metadata = sorted(f.keys()), f.metadata()
        lora = nodes.LoraLoaderModelOnly().load_lora_model_only(model, str(path.relative_to(folder)), 1.0)[0]
        out["lora_exact"] = {"keys": keys, "architecture": metadata["modelspec.architecture"],
                             "base_model": json.loads(metadata["scapre.base_model"]), **compare(_all_weights(lora, mm))}
    if "diffusion_model" in formats:
        path, folder = saved("diffusion model", "diffusion_models")
        with safe_open(str(path), framework="pt") as f:
            present = set(f.keys())
            stored = {k: f.get_tensor(name).float() for k, name in names.items() if name in present}
        out["diffusion_model"] = {"stored_keys_match": sorted(stored) == sorted(base), **compare(stored),
                                  "other_tensors": sorted(present - set(names.values()))}
        try:
            reloaded = nodes.UNETLoader().load_unet(str(path.relative_to(folder)), "default")[0]
        except Exception as err:  # not detected at this size, or detected with full-size shapes
            out["diffusion_model"]["reloaded"] = {"error": str(err)[:200]}
        else:
            out["diffusion_model"]["reloaded"] = {"model_config": host.families.model_family(reloaded),
                                                  **compare(_all_weights(reloaded, mm))}
    if "checkpoint" in formats:
        vae = nodes.VAELoader().load_vae("taesd3")[0]
        path, _ = saved("checkpoint", "checkpoints", clip=clip, vae=vae)
        with safe_open(str(path), framework="pt") as f:
            present = set(f.keys())
            stored = {k: f.get_tensor(name).float() for k, name in names.items() if name in present}
        out["checkpoint"] = {"stored_keys_match": sorted(stored) == sorted(base), **compare(stored),
                             "text_encoder_tensors": sum(k.startswith(("text_encoders.", "cond_stage_model.")) for k in present),
                             "vae_tensors": sum(k.startswith(("vae.", "first_stage_model.")) for k in present)}
    return out


def _node(nodes, name: str, **inputs):
    """The first output of a stock node, run as the executor would (V3 nodes on a class clone)."""
    cls = nodes.NODE_CLASS_MAPPINGS[name]
    if hasattr(cls, "PREPARE_CLASS_CLONE"):
        return cls.PREPARE_CLASS_CLONE({}).execute(**inputs).args[0]
    return getattr(cls(), cls.FUNCTION)(**inputs)[0]


def _vae(nodes, kind: str):
    from harness import tiny_models
    if kind in ("taesd3", "pixel_space"):
        return nodes.VAELoader().load_vae(kind)[0]
    return tiny_models.build_vae(kind)


def preview_latents(cases: list, refusals: list, width: int, height: int, batch: int) -> dict:
    """For each (model_config class, VAE kind, the family's stock empty-latent node, its extra inputs): the shape
    of ScaPre Erasure Preview's empty latent against the stock node's as KSampler receives it (after
    comfy.sample.fix_empty_latent_channels), both at width x height; for each (class, VAE kind) in
    ``refusals``: the error the preview gives."""
    nodes, host, _ = _setup()
    from harness import tiny_models
    import comfy.sample
    settings = host.sampling.SamplerSettings(0, 1, 1.0, "euler", "normal", width, height, batch)
    out = {"latents": {}, "refusals": {}}
    for name, kind, node, extra in cases:
        if name == "SD15":
            model, _, vae = nodes.CheckpointLoaderSimple().load_checkpoint(paths.TINY_SD15)[:3]
        else:
            model, vae = tiny_models.build_model(name), _vae(nodes, kind)
        inputs = {"width": width, "height": height, "batch_size": batch, **extra}
        stock = _node(nodes, node, **({**inputs, "vae": vae} if "vae" in extra else inputs))["samples"]
        ours = host.sampling.empty_latent(model, vae, settings)
        out["latents"][name] = {"ours": list(ours.shape),
                                "stock": list(comfy.sample.fix_empty_latent_channels(model, stock).shape),
                                "zero": bool((ours == 0).all())}
    for name, kind in refusals:
        try:
            host.sampling.empty_latent(tiny_models.build_model(name), _vae(nodes, kind), settings)
            out["refusals"][name] = None
        except ValueError as err:
            out["refusals"][name] = str(err)
    return out


def video_preview(concepts: str, width: int, height: int) -> dict:
    """ScaPre Erasure Preview on a tiny Wan 2.1 (its one-frame, 5-D latents decoded by a tiny Wan VAE): the grid's
    size, and its tiles against the node's own sampling of the same prompts."""
    nodes, host, _ = _setup()
    from harness import tiny_models
    model, clip, vae = tiny_models.build_model("WAN21_T2V"), tiny_models.build_text_encoder("wan"), _vae(nodes, "wan21")
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    edited = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, "uce", 1.0, 0).args[0]
    grid = nodes.NODE_CLASS_MAPPINGS["ScaPreErasurePreview"].execute(
        model, edited, clip, vae, concept_set, 0, 2, 1.0, "euler", "simple", width, height, 1, 1).args[0]
    settings = host.sampling.SamplerSettings(0, 2, 1.0, "euler", "simple", width, height, 1)
    before, after = host.sampling.sample_prompts([model, edited], clip, vae, ["golf ball", "a red apple"], settings)
    return {"grid": list(grid.shape), "tile": list(before[0].shape), "finite": bool(grid.isfinite().all()),
            "before_after_differ": float((before[0] - after[0]).abs().max())}


class _Writes:
    """A torch dispatch mode that records every operation writing into the storage of one of ``tensors`` (an
    in-place op, an out= argument, a copy_ into it): what "never written" means for base weights."""

    def __init__(self, tensors):
        from torch.utils._python_dispatch import TorchDispatchMode

        def storage(t):
            inner = getattr(t, "_qdata", t)  # a QuantizedTensor's data
            return inner.untyped_storage().data_ptr()

        watched = {storage(t) for t in tensors}
        self.writes = []
        outer = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                for i, argument in enumerate(func._schema.arguments):
                    if argument.alias_info is None or not argument.alias_info.is_write:
                        continue
                    value = args[i] if i < len(args) else kwargs.get(argument.name)
                    if hasattr(value, "untyped_storage") and storage(value) in watched:
                        outer.writes.append(str(func))
                return func(*args, **kwargs)

        self.mode = Mode()


def _quantised_sd3(kind: str, nodes):
    """The tiny SD3 diffusion model as one of the quantised formats ComfyUI 0.3.75 makes: "fp8" (UNETLoader's
    fp8_e4m3fn), "scaled_fp8" (each 2-D weight stored as fp8 of W / s with its float32 scale, and the
    "scaled_fp8" marker, as scaled-fp8 files are) or "mixed_fp8" (every linear layer listed in the file's
    _quantization_metadata as float8_e4m3fn with its weight_scale: ComfyUI loads those weights as QuantizedTensors
    of its TensorCoreFP8Layout)."""
    import json as jsonlib

    import comfy.sd
    import comfy.utils
    import folder_paths
    import torch
    if kind == "fp8":
        return nodes.UNETLoader().load_unet(paths.TINY_SD3, "fp8_e4m3fn")[0]
    state = comfy.utils.load_torch_file(folder_paths.get_full_path_or_raise("diffusion_models", paths.TINY_SD3))
    layers = {}
    for key in [k for k, v in state.items() if v.ndim == 2]:
        scale = state[key].float().abs().max() / 448.0
        state[key[: -len("weight")] + ("scale_weight" if kind == "scaled_fp8" else "weight_scale")] = scale
        state[key] = (state[key].float() / scale).to(torch.float8_e4m3fn)
        layers[key[: -len(".weight")]] = {"format": "float8_e4m3fn"}
    if kind == "scaled_fp8":
        state["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
        return comfy.sd.load_diffusion_model_state_dict(state)
    metadata = {"_quantization_metadata": jsonlib.dumps({"format_version": "1.0", "layers": layers})}
    return comfy.sd.load_diffusion_model_state_dict(state, metadata=metadata)


def quantised(kinds: list[str], concepts: str) -> dict:
    """The SD3 diffusion model in each quantised format of ``kinds`` (_quantised_sd3): what ScaPre reads against
    the dequantised stored weights, whether the edit wrote into any stored weight (_Writes), and the patched
    weights ComfyUI materialises (in fp8, stochastically rounded) against W0 + delta. ComfyUI patches and samples
    under torch.inference_mode(); so does this check."""
    nodes, host, mm = _setup()
    import comfy.utils
    import torch
    clip = nodes.CLIPLoader().load_clip(paths.TINY_CLIP_L, "sd3")[0]
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    out = {}
    for kind in kinds:
        model = _quantised_sd3(kind, nodes)
        keys = host.families.edited_keys(model)

        def dequantised(m, key):
            weight = comfy.utils.get_attr(m.model, key)
            if hasattr(weight, "dequantize") and hasattr(weight, "layout_type"):  # a QuantizedTensor
                return weight.dequantize().float()
            weight = weight.float()
            if not key.endswith(".weight"):
                return weight
            scale = getattr(comfy.utils.get_attr(m.model, key[: -len(".weight")]), "scale_weight", None)
            return weight if scale is None else weight * scale.float()

        def materialised(m):
            with torch.inference_mode():
                mm.load_models_gpu([m], force_patch_weights=True)
                weights = {k: dequantised(m, k).clone() for k in m.model.state_dict() if k.startswith("diffusion_model.")}
                mm.unload_all_models()
            return weights

        stored = {k: dequantised(model, k) for k in keys}
        with torch.inference_mode():
            read = host.weights.EffectiveWeights(model, keys, torch.device("cpu"))
            read_errors = [float((read[k] - stored[k]).abs().max()) for k in keys]
        base = materialised(model)
        weights = [comfy.utils.get_attr(model.model, k) for k in model.model.state_dict() if k.endswith(".weight")]
        bytes_before = [bytes(getattr(w, "_qdata", w).detach().contiguous().view(torch.uint8).flatten().numpy())
                        for w in weights]
        writes = _Writes(weights)
        with writes.mode:
            patched = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, "large_scale",
                                                                           1.0, 0).args[0]
        bytes_after = [bytes(getattr(w, "_qdata", w).detach().contiguous().view(torch.uint8).flatten().numpy())
                       for w in weights]
        deltas, _ = host.patches.scapre_edits(patched)
        after = materialised(patched)
        weight = comfy.utils.get_attr(model.model, keys[0])
        out[kind] = {
            "weight_type": type(weight).__name__,
            "weight_dtype": str(getattr(weight, "_qdata", weight).dtype),
            "format": host.weights.stored_format(weight, comfy.utils.get_attr(model.model, keys[0][: -len(".weight")])),
            "read_max_abs_error": max(read_errors),
            "writes_into_stored_weights": writes.writes,
            "stored_bytes_unchanged": bytes_before == bytes_after,
            "edited_relative_error": {k: float((after[k] - stored[k] - deltas[k]).norm() / (stored[k] + deltas[k]).norm())
                                      for k in keys},
            "applied_cosine": {k: float(torch.nn.functional.cosine_similarity((after[k] - stored[k]).flatten(),
                                                                              deltas[k].flatten(), dim=0))
                               for k in keys},
            "others_changed": sorted(k for k in base if k not in keys and not torch.equal(after[k], base[k])),
            "restored": all(torch.equal(v, base[k]) for k, v in materialised(model).items()),
        }
    return out


def quantised_refused(kind: str, concepts: str) -> dict:
    """The SD3 diffusion model in a quantised format this ComfyUI cannot use (_quantised_sd3): what ScaPre Unlearn
    says, whether it wrote into any stored weight, and what the stock KSampler (under torch.inference_mode(), as
    the executor runs it) says about the same model."""
    nodes, host, _ = _setup()
    import comfy.utils
    import torch
    model = _quantised_sd3(kind, nodes)
    clip = nodes.CLIPLoader().load_clip(paths.TINY_CLIP_L, "sd3")[0]
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    weights = [w for k, w in model.model.named_parameters() if k.endswith(".weight")]
    writes, out = _Writes(weights), {}
    try:
        with torch.inference_mode(), writes.mode:
            nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, "uce", 1.0, 0)
        out["unlearn"] = None
    except Exception as err:
        out["unlearn"] = f"{type(err).__name__}: {err}"
    out["writes_into_stored_weights"] = writes.writes
    cond = nodes.CLIPTextEncode().encode(clip, "a golf ball")[0]
    try:
        with torch.inference_mode():
            nodes.common_ksampler(model, 0, 1, 1.0, "euler", "normal", cond, cond, {"samples": torch.zeros(1, 16, 8, 8)})
        out["ksampler"] = None
    except Exception as err:
        out["ksampler"] = f"{type(err).__name__}: {err}"
    out["weight_type"] = type(comfy.utils.get_attr(model.model, "diffusion_model.context_embedder.weight")).__name__
    return out


def unreadable_weight(concepts: str) -> dict:
    """The tiny SD3 whose context_embedder weight is stored packed, two 4-bit values to a byte ([out, in / 2]
    uint8, as NVFP4 and other packed formats are), in a layer that does not dequantise it: what ScaPre
    Unlearn says."""
    nodes, host, _ = _setup()
    import comfy.utils
    import torch
    model = nodes.UNETLoader().load_unet(paths.TINY_SD3, "default")[0]
    clip = nodes.CLIPLoader().load_clip(paths.TINY_CLIP_L, "sd3")[0]
    layer = comfy.utils.get_attr(model.model, "diffusion_model.context_embedder")
    packed = torch.zeros(layer.out_features, layer.in_features // 2, dtype=torch.uint8)
    layer.weight = torch.nn.Parameter(packed, requires_grad=False)
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    try:
        nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, "uce", 1.0, 0)
    except Exception as err:
        return {"error": type(err).__name__, "message": str(err)}
    return {"error": None}


def readonly_weights(family: str, encoder: str, concepts: str) -> dict:
    """A tiny family model whose stored weights are float16 views of a read-only memory-mapped file, as ComfyUI's
    dynamic-VRAM patcher keeps base weights (not materialised in the compute dtype; not writable: a write into one
    ends this process with SIGSEGV). What ScaPre Unlearn and Save Edited Model's exact LoRA do with it: the patched
    weights ComfyUI applies against the stored ones plus the edit, every other weight, the file's bytes after."""
    nodes, host, mm = _setup()
    import hashlib
    import math
    import shutil
    import tempfile
    import warnings

    import comfy.utils
    import folder_paths
    import numpy as np
    import torch
    from safetensors import safe_open
    from harness import tiny_models
    model, clip = tiny_models.build_model(family), tiny_models.build_text_encoder(encoder)
    params = {k: p.detach().to(torch.float16) for k, p in model.model.named_parameters()
              if k.startswith("diffusion_model.")}
    path = Path(tempfile.mkdtemp()) / "weights.bin"
    offsets, start = {}, 0
    with open(path, "wb") as f:
        for key, value in params.items():
            f.write(value.numpy().tobytes())
            offsets[key], start = (start, tuple(value.shape)), start + value.numel()
    mapped = np.memmap(path, dtype=np.float16, mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the arrays are not writable: that is the point
        for key, (first, shape) in offsets.items():
            comfy.utils.set_attr_param(model.model, key,
                                       torch.from_numpy(mapped[first:first + math.prod(shape)].reshape(shape)))
    low = mapped.ctypes.data
    high = low + mapped.nbytes
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    stored = {k: comfy.utils.get_attr(model.model, k).float() for k in params}
    concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
    patched = nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(model, clip, concept_set, "large_scale", 1.0,
                                                                  0).args[0]
    deltas, _ = host.patches.scapre_edits(patched)
    save = nodes.NODE_CLASS_MAPPINGS["ScaPreSaveEditedModel"].PREPARE_CLASS_CLONE({})
    lora = saved_file(save.execute(patched, f"readonly/{family}", "edit (LoRA, exact)", precision="fp32").ui.value)
    unet = saved_file(save.execute(patched, f"readonly/{family}", "diffusion model").ui.value)
    names = host.files.checkpoint_keys(model, list(params))
    with safe_open(str(Path(folder_paths.get_folder_paths("diffusion_models")[0]) / unet.split("/", 1)[1]),
                   framework="pt") as f:
        saved = {k: f.get_tensor(names[k]).float() for k in params}
    after = {k: v for k, v in _all_weights(patched, mm).items() if k in params}
    unchanged = hashlib.sha256(path.read_bytes()).hexdigest() == before
    shutil.rmtree(path.parent)  # the mapping stays valid until the process ends
    return {
        "mapping_read_only": not mapped.flags.writeable,
        "weights_in_the_mapping": all(low <= comfy.utils.get_attr(model.model, k).data_ptr() < high for k in params),
        "edited": sorted(deltas),
        "edited_relative_error": {k: float((after[k] - stored[k] - deltas[k]).norm() / (stored[k] + deltas[k]).norm())
                                  for k in deltas},
        "others_changed": sorted(k for k in params if k not in deltas and not torch.equal(after[k], stored[k])),
        "saved": [lora, unet],
        "saved_relative_error": {k: float((saved[k] - stored[k] - deltas[k]).norm() / (stored[k] + deltas[k]).norm())
                                 for k in deltas},
        "saved_others_changed": sorted(k for k in params if k not in deltas and not torch.equal(saved[k], stored[k])),
        "file_unchanged": unchanged,
    }


def families(cases: list, concepts: str, preserved: str, concept: str, anchors: list, saves: dict,
             light: tuple = (), mismatches: tuple = ()) -> dict:
    """family_edit for every (model_config class, text encoder) case (light for those in ``light``) and
    family_save for those in ``saves`` (name -> its formats), in one ComfyUI process; each case's seconds; and
    what ScaPre Unlearn says for each (model_config class, text encoder of another family) in ``mismatches``."""
    import time
    nodes, _, _ = _setup()
    from harness import tiny_models
    out = {"mismatches": {}}
    for name, encoder in mismatches:
        concept_set = nodes.NODE_CLASS_MAPPINGS["ScaPreConceptList"].execute(concepts, "none").args[0]
        try:
            nodes.NODE_CLASS_MAPPINGS["ScaPreUnlearn"].execute(tiny_models.build_model(name),
                                                             tiny_models.build_text_encoder(encoder),
                                                             concept_set, "uce", 1.0, 0)
            out["mismatches"][f"{name} {encoder}"] = None
        except Exception as err:
            out["mismatches"][f"{name} {encoder}"] = f"{type(err).__name__}: {err}"
    for name, encoder in cases:
        start = time.perf_counter()
        out[name] = {"edit": family_edit(name, encoder, concepts, preserved, concept, anchors, name in light)}
        if name in saves:
            out[name]["save"] = family_save(name, encoder, concepts, saves[name])
        out[name]["seconds"] = round(time.perf_counter() - start, 2)
    return out


CHECKS = {"patched_weights": patched_weights, "save_round_trips": save_round_trips,
          "save_without_room": save_without_room, "interrupted_save": interrupted_save, "prior_cache": prior_cache,
          "plant_general_prior": plant_general_prior,
          "families": families, "quantised": quantised, "quantised_refused": quantised_refused,
          "unreadable_weight": unreadable_weight, "readonly_weights": readonly_weights,
          "preview_latents": preview_latents,
          "video_preview": video_preview}


def main() -> None:
    name = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    with contextlib.redirect_stdout(sys.stderr):  # ComfyUI prints to stdout; keep it for the result
        result = CHECKS[name](**arguments)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
