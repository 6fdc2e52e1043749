"""Saved models: the folders, file names and metadata ComfyUI's own savers use, and writing the model."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import comfy.model_base
import comfy.sd
import folder_paths
import torch
from comfy.cli_args import args

from .families import architecture


def model_folder(kind: str) -> str:
    """The first folder ComfyUI uses for ``kind`` ("checkpoints", "diffusion_models", "loras")."""
    folder = folder_paths.get_folder_paths(kind)[0]
    os.makedirs(folder, exist_ok=True)
    return folder


def new_file_path(prefix: str, folder: str) -> Path:
    """``<folder>/<prefix>_<counter>_.safetensors`` for a counter not yet used; refuses escaping prefixes."""
    try:
        directory, name, counter, _, _ = folder_paths.get_save_image_path(prefix, folder)
    except Exception as err:  # ComfyUI raises a bare Exception for paths outside the folder
        raise ValueError(f"filename_prefix {prefix!r} would write outside {folder}; use a relative name such as "
                         f"'scapre/edited'") from err
    if not name:
        raise ValueError(f"filename_prefix {prefix!r} has no file name")
    os.makedirs(directory, exist_ok=True)
    while True:
        path = Path(directory) / f"{name}_{counter:05}_.safetensors"
        if not path.exists():
            return path
        counter += 1


def write_refusal(error: BaseException, folder: Path | str) -> str | None:
    """Why the file system refused a write into ``folder``, in words, or None when ``error`` is something else.

    Python raises OSError; safetensors raises its own error, whose message carries Rust's
    "I/O error: <text> (os error <errno>)". A full disk is named with the space left on it.
    """
    if isinstance(error, OSError):
        number, text = error.errno, error.strerror or str(error)
    elif match := re.search(r"I/O error: (.*) \(os error (\d+)\)", str(error)):
        text, number = match[1], int(match[2])
    else:
        return None
    if number == errno.ENOSPC:
        return f"the disk holding {folder} is full ({shutil.disk_usage(folder).free / 2**20:,.0f} MB free)"
    return f"{folder}: {text}"


def tensor_bytes(tensors) -> int:
    """What a safetensors file of ``tensors`` holds at least: their plain tensors, element by element (tensor
    subclasses, such as quantized weights, whose element count says nothing of their size, count as nothing)."""
    return sum(t.nelement() * t.element_size() for t in tensors if type(t) in (torch.Tensor, torch.nn.Parameter))


def model_bytes(model) -> int:
    """What a saved checkpoint or diffusion model file of ``model`` holds at least: ``tensor_bytes`` of its diffusion
    model (a checkpoint adds its text encoders and VAE)."""
    return tensor_bytes(model.model.diffusion_model.state_dict().values())


def room_refusal(folder: Path | str, size: int) -> str | None:
    """Why a file of at least ``size`` bytes cannot be written into ``folder`` (its disk has less free), or None."""
    free = shutil.disk_usage(folder).free
    if free >= size:
        return None
    return f"the file needs at least {size / 2**20:,.0f} MB and the disk holding {folder} has {free / 2**20:,.0f} MB free"


def relative_to_models(path: Path, folder: str, kind: str) -> str:
    return f"{kind}/{path.relative_to(folder).as_posix()}"


def checkpoint_keys(model, model_keys) -> dict[str, str]:
    """model key -> the name of that weight in a checkpoint or diffusion model file ComfyUI saves, as the model
    config's own saving hook names it ("model.diffusion_model.<path>"; HunyuanVideo: "model.model.<path>")."""
    prefix = "diffusion_model."
    named = {key: torch.empty(0) for key in model_keys}
    saved = model.model.model_config.process_unet_state_dict_for_saving(
        {key[len(prefix):]: tensor for key, tensor in named.items()})
    by_tensor = {id(tensor): name for name, tensor in saved.items()}
    return {key: by_tensor[id(tensor)] for key, tensor in named.items()}


def _architecture(model) -> str:
    """The modelspec architecture of the model's family (SD2: v-prediction models are the 768-v kind)."""
    name = architecture(model)
    if name == "stable-diffusion-v2-512" and model.model.model_type == comfy.model_base.ModelType.V_PREDICTION:
        return "stable-diffusion-v2-768-v"
    return name


def standard_metadata(model, title: str, prompt, extra_pnginfo, lora: bool) -> dict[str, str]:
    """The modelspec fields ComfyUI writes, plus the prompt and workflow unless metadata is disabled."""
    metadata = {
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": _architecture(model) + ("/lora" if lora else ""),
        "modelspec.implementation": "sgm",
        "modelspec.title": title,
    }
    if model.model.model_type == comfy.model_base.ModelType.EPS:
        metadata["modelspec.predict_key"] = "epsilon"
    elif model.model.model_type == comfy.model_base.ModelType.V_PREDICTION:
        metadata["modelspec.predict_key"] = "v"
    if not args.disable_metadata:
        if prompt is not None:
            metadata["prompt"] = json.dumps(prompt)
        for name, value in (extra_pnginfo or {}).items():
            metadata[name] = json.dumps(value)
    return metadata


def write_model(path: Path, model, clip, vae, metadata: dict[str, str]) -> None:
    """Save the model (patches baked in), with CLIP and VAE when given, as ComfyUI's checkpoint saver does."""
    extra_keys = {}
    sampling = model.get_model_object("model_sampling")
    if model.model.model_type == comfy.model_base.ModelType.V_PREDICTION:
        extra_keys["v_pred"] = torch.tensor([])
        if getattr(sampling, "zsnr", False):
            extra_keys["ztsnr"] = torch.tensor([])
    comfy.sd.save_checkpoint(str(path), model, clip, vae, metadata=metadata, extra_keys=extra_keys)
