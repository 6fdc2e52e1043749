"""The only module that talks to ComfyUI's MODEL, CLIP, VAE, sampling, devices, folders and progress reporting.

Everything else in ``nodes/`` works with plain tensors, strings and ``scapre_core`` objects.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import comfy.lora
import comfy.model_base
import comfy.model_management
import comfy.model_sampling
import comfy.sample
import comfy.samplers
import comfy.sd
import comfy.supported_models
import comfy.utils
import folder_paths
import latent_preview
import torch
from comfy.cli_args import args

from ..scapre_core import ConceptError

CROSS_ATTENTION_SUFFIXES = (".attn2.to_k.weight", ".attn2.to_v.weight")
PATCH_TAG = "scapre"
"""Key in the extra dict of our ("diff", (delta, extra)) patches; survives ``model.clone()``."""

_SUPPORTED = (comfy.supported_models.SD15, comfy.supported_models.SD20, comfy.supported_models.SDXL,
              comfy.supported_models.SDXLRefiner)
_NOT_TEXT_CONDITIONED = (comfy.supported_models.LotusD,)
_CONTEXT_LENGTH = 77


class UnsupportedModel(ValueError):
    """A MODEL whose family ScaPre cannot edit."""


def model_family(model) -> str:
    """ComfyUI's name for the model's family, e.g. "SD15", "SDXL", "Flux"."""
    return type(model.model.model_config).__name__


def cross_attention_keys(model) -> list[str]:
    """The text cross-attention key/value weights of a supported model, in model order.

    Raises UnsupportedModel with "not supported yet: <family>" for every other family.
    """
    config = model.model.model_config
    family = model_family(model)
    if not isinstance(config, _SUPPORTED) or isinstance(config, _NOT_TEXT_CONDITIONED):
        raise UnsupportedModel(f"ScaPre does not support this model: not supported yet: {family} "
                               "(supported: SD1.x, SD2.x, SDXL and their fine-tunes and merges)")
    keys = [k for k in model.model_state_dict("diffusion_model.") if k.endswith(CROSS_ATTENTION_SUFFIXES)]
    if not keys:
        raise UnsupportedModel(f"this {family} model has no cross-attention to_k / to_v weights")
    return keys


def compute_device() -> torch.device:
    return comfy.model_management.get_torch_device()


class EffectiveWeights(Mapping):
    """key -> the model's effective float32 weight (base, dequantised, plus upstream patches).

    Reads one matrix at a time onto ``device`` (via ``get_key_patches`` and the weight's
    ``convert_func``, so fp16 / bf16 / fp8 / scaled-fp8 storage and stacked LoRAs all work) and
    accumulates a fingerprint of everything it read.
    """

    def __init__(self, model, keys: list[str], device: torch.device):
        self._patches = model.get_key_patches("diffusion_model.")
        self._keys = keys
        self._device = device
        self._digests: dict[str, str] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        (base, convert), *upstream = self._patches[key]
        weight = convert(comfy.model_management.cast_to_device(base.detach(), self._device, torch.float32, copy=True),
                         inplace=True)
        if upstream:
            weight = comfy.lora.calculate_weight(upstream, weight, key)
        data = weight.detach().to(device="cpu", dtype=torch.float16).contiguous().numpy().tobytes()
        self._digests[key] = hashlib.sha256(data).hexdigest()
        return weight

    def text_width(self) -> int:
        """The input width d of the cross-attention weights (read from the first key's shape)."""
        return int(self._patches[self._keys[0]][0][0].shape[1])

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def fingerprint(self) -> str:
        """sha256 over (key, fp16 bytes) of every weight read so far, in key order."""
        total = hashlib.sha256()
        for key in sorted(self._digests):
            total.update(key.encode() + b"\0" + self._digests[key].encode())
        return total.hexdigest()


def clip_encoder(clip, batch_size: int = 32):
    """An ``encode(prompts) -> (hidden [N, 77, d], n_tokens [N])`` callable over ComfyUI's CLIP.

    Each prompt is tokenised literally (no "(word:1.2)" weights) and must fit one 77-token chunk;
    all prompts are encoded in batches through ``clip.encode_from_tokens``, which returns exactly
    the conditioning the UNet's cross-attention consumes (SD1: clip_l, 768; SD2: clip_h, 1024;
    SDXL: clip_l and clip_g concatenated, 2048).
    """

    def tokenize(prompt: str):
        tokens = clip.tokenize(prompt, return_word_ids=True, disable_weights=True)
        counts = {name: sum(1 for chunk in chunks for t in chunk if t[2] != 0) for name, chunks in tokens.items()}
        length = max(counts.values())
        if any(len(chunks) > 1 for chunks in tokens.values()):
            raise ConceptError(f"{prompt!r} is {length} tokens long; a concept must fit in one 77-token "
                               f"chunk (at most {_CONTEXT_LENGTH - 2} tokens)")
        if len(set(counts.values())) > 1:
            raise ConceptError(f"{prompt!r} tokenises differently for {sorted(counts)}: {counts}")
        return tokens, length

    def encode(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokenized = [tokenize(p) for p in prompts]
        hidden = []
        for start in range(0, len(prompts), batch_size):
            group = [t for t, _ in tokenized[start:start + batch_size]]
            batch = {name: [t[name][0] for t in group] for name in group[0]}
            cond = clip.encode_from_tokens(batch)
            hidden.append(cond.reshape(len(group), _CONTEXT_LENGTH, -1).to(device="cpu", dtype=torch.float32))
        return torch.cat(hidden), torch.tensor([n for _, n in tokenized])

    return encode


def clip_width(clip) -> int:
    """Width of the conditioning this CLIP produces (encodes the empty prompt once)."""
    return int(clip.encode_from_tokens(clip.tokenize("")).shape[-1])


def progress_reporter(total: int):
    """``progress(done, total)`` that moves ComfyUI's progress bar and honours interruption."""
    bar = comfy.utils.ProgressBar(total)

    def report(done: int, total: int) -> None:
        bar.update_absolute(done, total)
        comfy.model_management.throw_exception_if_processing_interrupted()

    return report


def identity(model, clip) -> tuple:
    """What the edit depends on besides concepts and config: the weights and their patches."""
    return (id(model.model), model.patches_uuid, id(clip.cond_stage_model), clip.patcher.patches_uuid,
            clip.layer_idx)


@dataclass(frozen=True)
class EditInfo:
    """What one ScaPre Unlearn run did; carried in every patch it adds."""

    method: str
    config_json: str
    concepts_text: str
    family: str
    fingerprint: str
    report: str


def apply_edit(model, deltas: dict[str, torch.Tensor], strength: float, info: EditInfo):
    """A clone of ``model`` with ``strength * delta`` added to each key as a tagged "diff" patch."""
    patched = model.clone()
    patches = {key: ("diff", (delta, {"pad_weight": False, PATCH_TAG: info})) for key, delta in deltas.items()}
    accepted = set(patched.add_patches(patches, strength_patch=strength))
    missing = sorted(set(deltas) - accepted)
    if missing:
        raise RuntimeError(f"the model refused {len(missing)} ScaPre patch(es), e.g. {missing[0]}")
    return patched


def scapre_edits(model) -> tuple[dict[str, torch.Tensor], list[EditInfo]]:
    """The sum of ``strength * delta`` over every ScaPre patch on ``model`` (upstream LoRAs and
    other patches excluded), and the EditInfo of each ScaPre run that contributed."""
    total: dict[str, torch.Tensor] = {}
    infos: list[EditInfo] = []
    for key, patches in model.patches.items():
        for strength, value, strength_model, offset, function in patches:
            if not (isinstance(value, tuple) and len(value) == 2 and value[0] == "diff" and len(value[1]) > 1
                    and isinstance(value[1][1], dict) and PATCH_TAG in value[1][1]):
                continue
            delta = strength * value[1][0].float()
            total[key] = total[key] + delta if key in total else delta
            if value[1][1][PATCH_TAG] not in infos:
                infos.append(value[1][1][PATCH_TAG])
    return total, infos


# --- saving -------------------------------------------------------------------------------


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


def relative_to_models(path: Path, folder: str, kind: str) -> str:
    return f"{kind}/{path.relative_to(folder).as_posix()}"


def checkpoint_key(model_key: str) -> str:
    """The name of a UNet weight in a saved checkpoint or diffusion model file."""
    return f"model.{model_key}"


def _architecture(model) -> str:
    base = model.model
    if isinstance(base, comfy.model_base.SDXLRefiner):
        return "stable-diffusion-xl-v1-refiner"
    if isinstance(base, comfy.model_base.SDXL):
        return "stable-diffusion-xl-v1-base"
    config = base.model_config
    if isinstance(config, comfy.supported_models.SD20):
        return "stable-diffusion-v2-768-v" if base.model_type == comfy.model_base.ModelType.V_PREDICTION \
            else "stable-diffusion-v2-512"
    return "stable-diffusion-v1"


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


# --- sampling (ScaPre Erasure Preview) -------------------------------------------------------

SAMPLERS: list[str] = list(comfy.samplers.KSampler.SAMPLERS)
SCHEDULERS: list[str] = list(comfy.samplers.KSampler.SCHEDULERS)


@dataclass(frozen=True)
class SamplerSettings:
    """KSampler's settings on an EmptyLatentImage of width x height x batch_size (denoise 1)."""

    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int
    batch_size: int


def _encode(clip, text: str):
    """What CLIPTextEncode gives for `text`."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


def sample_prompts(models: list, clip, vae, prompts: list[str], settings: SamplerSettings) -> list[list[torch.Tensor]]:
    """``images[m][i]``: IMAGE [batch_size, H, W, 3] of ``prompts[i]`` sampled with ``models[m]``.

    Each is what CLIPTextEncode -> KSampler (on EmptyLatentImage, the same seed for every prompt and model) ->
    VAEDecode gives, with the blank prompt as negative; the samples of one model are decoded together, so they
    may differ from one-by-one decoding by float rounding. One progress bar counts every step of every sample,
    with KSampler's latent previews; interruption is honoured at every step. The models are taken one after the
    other, so each is loaded once.
    """
    negative = _encode(clip, "")
    positives = [_encode(clip, prompt) for prompt in prompts]
    total = len(models) * len(prompts) * settings.steps
    bar = comfy.utils.ProgressBar(total)
    images = []
    for m, model in enumerate(models):
        previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)
        latents = []
        for i, positive in enumerate(positives):
            done = (m * len(prompts) + i) * settings.steps

            def step(index, x0, x, total_steps, done=done):
                comfy.model_management.throw_exception_if_processing_interrupted()
                preview = previewer.decode_latent_to_preview_image("JPEG", x0) if previewer else None
                bar.update_absolute(done + index + 1, total, preview)

            empty = torch.zeros([settings.batch_size, 4, settings.height // 8, settings.width // 8],
                                device=comfy.model_management.intermediate_device())
            latent = comfy.sample.fix_empty_latent_channels(model, empty)
            latents.append(comfy.sample.sample(
                model, comfy.sample.prepare_noise(latent, settings.seed), settings.steps, settings.cfg,
                settings.sampler_name, settings.scheduler, positive, negative, latent, denoise=1.0, callback=step,
                disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=settings.seed))
        decoded = vae.decode(torch.cat(latents))  # one call: ComfyUI splits it to fit the device's memory
        images.append(list(decoded.reshape(-1, *decoded.shape[-3:]).split(settings.batch_size)))
    return images
