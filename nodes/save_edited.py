"""Node "ScaPre Save Edited Model": a full checkpoint, the UNet alone, or just the edit as a LoRA file.

Every file is written to a hidden temporary file in the target folder, reopened and checked, and
only then linked to its final name, which never replaces an existing file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..scapre_core import __version__, low_rank
from ..scapre_core.lowrank import Factors, as_dense, relative_error
from .host import files, patches
from .host.node_api import CATEGORY, io, ui

CHECKPOINT = "checkpoint"
DIFFUSION_MODEL = "diffusion model"
LORA_EXACT = "edit (LoRA, exact)"
LORA_LOW_RANK = "edit (LoRA, low rank)"
FORMATS = {CHECKPOINT: "checkpoints", DIFFUSION_MODEL: "diffusion_models", LORA_EXACT: "loras",
           LORA_LOW_RANK: "loras"}


class SaveError(ValueError):
    """A save that cannot be done as asked; nothing was written."""


def lora_key(model_key: str) -> str:
    """ComfyUI's LoRA name of a UNet weight: "diffusion_model.<path>.weight" -> "diffusion_model.<path>"."""
    return model_key[: -len(".weight")]


def edit_metadata(infos: list[patches.EditInfo]) -> dict[str, str]:
    """The scapre.* metadata of the ScaPre edit(s) on a model."""
    first = infos[0]
    metadata = {
        "scapre.version": __version__,
        "scapre.method": first.method,
        "scapre.config": first.config_json,
        "scapre.concepts": first.concepts_text,
        "scapre.base_model": json.dumps({"architecture": first.family, "fingerprint": first.fingerprint}),
        "scapre.report": first.report,
    }
    if len(infos) > 1:
        metadata["scapre.edits"] = json.dumps([
            {"method": i.method, "config": json.loads(i.config_json), "concepts": i.concepts_text} for i in infos])
    return metadata


def stored_edit(tensors: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """The edit of ``key`` as the written tensors give it: the diff, or ``lora_up @ lora_down`` (alpha unset)."""
    name = lora_key(key)
    if f"{name}.diff" in tensors:
        return tensors[f"{name}.diff"]
    return tensors[f"{name}.lora_up.weight"].float() @ tensors[f"{name}.lora_down.weight"].float()


def edit_tensors(deltas: dict[str, torch.Tensor | Factors], fmt: str, dtype: torch.dtype, bound: float,
                 max_rank: int, rank: int | None) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """LoRA tensors for the edit and, for low rank, each key's measured relative error.

    Exact: a dense edit as its ".diff", an edit kept as exact factors as those factors ("lora_up" [n, r],
    "lora_down" [r, d], no alpha: ComfyUI's LoRA loader adds ``lora_up @ lora_down`` as it is).
    """
    tensors, errors = {}, {}
    for key, delta in deltas.items():
        name = lora_key(key)
        if fmt == LORA_EXACT:
            if isinstance(delta, Factors):
                tensors[f"{name}.lora_up.weight"] = delta.up.to(dtype).contiguous()
                tensors[f"{name}.lora_down.weight"] = delta.down.to(dtype).contiguous()
            else:
                tensors[f"{name}.diff"] = delta.to(dtype).contiguous()
            continue
        factors = low_rank(as_dense(delta), bound, max_rank, rank, dtype)
        tensors[f"{name}.lora_up.weight"] = factors.up.contiguous()
        tensors[f"{name}.lora_down.weight"] = factors.down.contiguous()
        errors[key] = factors.error
    return tensors, errors


def overall_error(deltas: dict[str, torch.Tensor], errors: dict[str, float]) -> float:
    """Relative Frobenius error over all keys together, from the per-key errors."""
    energy = {k: float(as_dense(d).double().pow(2).sum()) for k, d in deltas.items()}
    total = sum(energy.values())
    return (sum(errors[k] ** 2 * energy[k] for k in errors) / total) ** 0.5 if total > 0 else 0.0


def write_verified(path: Path, write, expected_keys: set[str], least: int) -> int:
    """Write via ``write(temporary_path)``, check the file, then give it its final name.

    A disk with less than ``least`` bytes free (what the file holds at least) is refused before anything is
    written. The temporary file sits beside ``path`` (hidden, not ending in .safetensors, so no loader lists
    it) and is removed on any failure; the final name is created with a hard link, which fails
    rather than replace an existing file. A write the file system refuses (a full disk, a read-only
    folder) becomes a SaveError that says why. Returns the file size in bytes.
    """
    if reason := files.room_refusal(path.parent, least):
        raise SaveError(f"nothing was saved: {reason}")
    temporary = path.with_name(f".{path.name}.partial")
    try:
        write(temporary)
        with safe_open(str(temporary), framework="pt") as f:
            missing = expected_keys - set(f.keys())
        if missing:
            raise SaveError(f"the written file lacks {len(missing)} expected tensor(s), e.g. {sorted(missing)[0]}")
        os.link(temporary, path)
    except Exception as error:
        temporary.unlink(missing_ok=True)  # first, so that a full disk's free space counts it as freed
        reason = files.write_refusal(error, path.parent)
        if reason is None:
            raise
        raise SaveError(f"nothing was saved: {reason}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return path.stat().st_size


class ScaPreSaveEditedModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreSaveEditedModel",
            display_name="ScaPre Save Edited Model",
            category=CATEGORY,
            description="Save a model edited by ScaPre Unlearn: as a full checkpoint, as the UNet alone, or only "
                        "the edit as a small LoRA file that the stock 'LoraLoaderModelOnly' applies to the base "
                        "model. Never overwrites a file.",
            is_output_node=True,
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            inputs=[
                io.Model.Input("model", tooltip="A model patched by ScaPre Unlearn."),
                io.String.Input("filename_prefix", default="scapre/edited",
                                tooltip="Name inside the format's models folder (checkpoints, diffusion_models or "
                                        "loras); a counter is appended. Must stay inside that folder."),
                io.Combo.Input("format", options=list(FORMATS), default=LORA_EXACT,
                               tooltip="checkpoint: MODEL + CLIP + VAE with the edit baked in (models/checkpoints). "
                                       "diffusion model: the UNet alone (models/diffusion_models). edit (LoRA, "
                                       "exact): only ScaPre's changes as '.diff' tensors (models/loras). edit (LoRA, "
                                       "low rank): lora_up/lora_down pairs, much smaller, with a stated error."),
                io.Clip.Input("clip", optional=True, tooltip="Required for the checkpoint format."),
                io.Vae.Input("vae", optional=True, tooltip="Required for the checkpoint format."),
                io.Combo.Input("precision", options=["fp16", "fp32"], default="fp16", optional=True,
                               tooltip="Storage precision of the LoRA formats."),
                io.Float.Input("max_error", default=0.01, min=0.0, max=1.0, step=0.001, optional=True,
                               tooltip="Low rank: per weight, the smallest rank whose relative Frobenius error "
                                       "is at most this (0.01 = 1%) is used, up to max_rank."),
                io.Int.Input("max_rank", default=256, min=1, max=4096, optional=True,
                             tooltip="Low rank: the largest rank used; the achieved error is reported."),
                io.Int.Input("rank", default=0, min=0, max=4096, optional=True,
                             tooltip="Low rank: a fixed rank for every weight (0 = chosen by max_error)."),
            ],
        )

    @classmethod
    def execute(cls, model, filename_prefix: str, format: str, clip=None, vae=None, precision: str = "fp16",
                max_error: float = 0.01, max_rank: int = 256, rank: int = 0) -> io.NodeOutput:
        deltas, infos = patches.scapre_edits(model, factors=True)
        if not infos:
            raise SaveError("this model carries no ScaPre edit: connect the MODEL output of ScaPre Unlearn")
        if format == CHECKPOINT and (clip is None or vae is None):
            raise SaveError("the checkpoint format needs the CLIP and the VAE: connect both (e.g. from Load "
                            "Checkpoint), or pick 'diffusion model' or an edit format")
        folder = files.model_folder(FORMATS[format])
        path = files.new_file_path(filename_prefix, folder)
        metadata = files.standard_metadata(model, path.stem, cls.hidden.prompt, cls.hidden.extra_pnginfo,
                                           lora=format in (LORA_EXACT, LORA_LOW_RANK))
        metadata |= edit_metadata(infos)
        lines = []
        if format in (CHECKPOINT, DIFFUSION_MODEL):
            expected = set(files.checkpoint_keys(model, deltas).values())
            size = write_verified(path, lambda p: files.write_model(p, model, clip if format == CHECKPOINT else None,
                                                                      vae if format == CHECKPOINT else None,
                                                                      metadata), expected, files.model_bytes(model))
        else:
            dtype = torch.float16 if precision == "fp16" else torch.float32
            tensors, errors = edit_tensors(deltas, format, dtype, max_error, max_rank, rank or None)
            if format == LORA_EXACT:
                errors = {k: relative_error(as_dense(d), stored_edit(tensors, k)) for k, d in deltas.items()}
                lines.append(f"storage error ({precision}): max {max(errors.values()):.2e} relative")
            else:
                ranks = [tensors[f"{lora_key(k)}.lora_down.weight"].shape[0] for k in deltas]
                error = overall_error(deltas, errors)
                metadata["scapre.lowrank.errors"] = json.dumps(errors, sort_keys=True)
                metadata["scapre.lowrank.error"] = repr(error)
                metadata["scapre.lowrank.bound"] = repr(max_error)
                lines.append(f"rank {min(ranks)}-{max(ranks)} (mean {sum(ranks) / len(ranks):.1f}); relative error "
                             f"{error:.3%} overall, {max(errors.values()):.3%} worst weight (bound {max_error:.2%})")
            size = write_verified(path, lambda p: save_file(tensors, str(p), metadata=metadata), set(tensors),
                                  files.tensor_bytes(tensors.values()))
        where = files.relative_to_models(path, folder, FORMATS[format])
        summary = "\n".join([f"saved {format}: {where} ({size / 2**20:.2f} MB, {len(deltas)} edited weights)", *lines])
        return io.NodeOutput(ui=ui.PreviewText(summary))
