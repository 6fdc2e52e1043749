"""The only module that talks to ComfyUI's MODEL, CLIP, VAE, sampling, devices, folders and progress reporting.

Everything else in ``nodes/`` works with plain tensors, strings and ``scapre_core`` objects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import comfy.lora
import comfy.model_base
import comfy.model_management
import comfy.model_sampling
import comfy.sample
import comfy.samplers
import comfy.sd
import comfy.utils
import folder_paths
import latent_preview
import torch
from comfy.cli_args import args
from safetensors import safe_open
from safetensors.torch import save_file

from ..scapre_core import ConceptError
from ..scapre_core.prior import PreservePrior, general_prompts, general_source, prompts_digest, second_moment
from ..scapre_core.tokens import Encode, Layout, PromptLayout, Segment

PATCH_TAG = "scapre"
"""Key in the extra dict of our ("diff", (delta, extra)) patches; survives ``model.clone()``."""

_CONTEXT_LENGTH = 77


class UnsupportedModel(ValueError):
    """A MODEL whose family ScaPre cannot edit, or a CLIP that is not that model's text encoder."""


# --- families -----------------------------------------------------------------------------
#
# A family is edited on its text streams: the linear layers whose input is a function of the prompt alone. Each
# stream names its weights (biases are never edited: the core's targets W0 y are bias-free), where its input
# comes from (SD's batched 77-token CLIP form, the per-token conditioning, or the pooled vector), how a prompt's
# positions are laid out in that input, and the model's own layers between the text encoder and the weights.


def _word_positions(chunk, start: int = 0) -> tuple[int, ...]:
    """Positions of a token chunk's word tokens: ComfyUI's word id is 0 exactly for start, end and padding."""
    return tuple(start + i for i, token in enumerate(chunk) if token[2] != 0)


def _single_chunk(tokens, name: str, text: str):
    chunks = tokens[name]
    if len(chunks) > 1:
        count = sum(len(_word_positions(c)) for c in chunks)
        raise ConceptError(f"{text!r} is {count} tokens long; a concept must fit in one 77-token chunk (at most "
                           f"{_CONTEXT_LENGTH - 2} tokens)")
    return chunks[0]


def _clip_segment(tokens, names: tuple[str, ...], text: str) -> Segment:
    """A 77-token CLIP chunk: start token at 0, the words, the end token, padding (the same for CLIP-L and G)."""
    words = {name: _word_positions(_single_chunk(tokens, name, text)) for name in names}
    if len(set(words.values())) > 1:
        raise ConceptError(f"{text!r} tokenises differently for {sorted(words)}: "
                           f"{ {name: len(w) for name, w in words.items()} }")
    found = words[names[0]]
    return Segment(0, found, (found[-1] if found else 0) + 1, _CONTEXT_LENGTH)


def _t5_segment(chunk, start: int) -> Segment:
    """A T5 sequence from ``start``: the words (no start token), the end token ``</s>``, then any padding."""
    words = _word_positions(chunk, start)
    return Segment(start, words, words[-1] + 1 if words else start, start + len(chunk))


def t5_layout(name: str):
    """The layout of a prompt whose conditioning is one T5 sequence (tokens[name]): FLUX.1, Chroma, Wan."""
    def layout(clip, tokens, text: str) -> PromptLayout:
        return (_t5_segment(tokens[name][0], 0),)
    return layout


def sd3_layout(clip, tokens, text: str) -> PromptLayout:
    """SD3's conditioning: the 77 CLIP-L/G rows (zero-padded to 4096 features), then the T5 rows from row 77.

    Either block is absent when the CLIP has no such encoder (e.g. CLIPLoader with CLIP-L alone: 77 rows).
    """
    encoder = clip.cond_stage_model
    clips = tuple(name for name in ("l", "g") if getattr(encoder, f"clip_{name}", None) is not None)
    segments = (_clip_segment(tokens, clips, text),) if clips else ()
    if getattr(encoder, "t5xxl", None) is not None:
        segments += (_t5_segment(tokens["t5xxl"][0], _CONTEXT_LENGTH if clips else 0),)
    return segments


def pooled_layout(clip, tokens, text: str) -> PromptLayout:
    """A pooled vector: one position, which is the prompt's one "word" (no end token)."""
    for name in ("l", "g"):
        if name in tokens:
            _single_chunk(tokens, name, text)  # the pooled vector is the first chunk's: the concept must fit in it
    return (Segment(0, (0,), None, 1),)


def wan_text_embedding(weights: EffectiveWeights, x: torch.Tensor) -> torch.Tensor:
    """Wan's ``text_embedding`` (Linear, tanh-approximated GELU, Linear) with the model's effective weights."""
    prefix = "diffusion_model.text_embedding."
    hidden = torch.nn.functional.linear(x, weights[prefix + "0.weight"], weights[prefix + "0.bias"])
    hidden = torch.nn.functional.gelu(hidden, approximate="tanh")
    return torch.nn.functional.linear(hidden, weights[prefix + "2.weight"], weights[prefix + "2.bias"])


@dataclass(frozen=True)
class TextStream:
    """One text input of a family, edited with its own token states.

    ``keys``: a regular expression that the edited weights' ModelPatcher keys match in full; ``source``: "clip"
    (SD's batched 77-token CLIP form, ``clip_encoder``), "cond" (each prompt's per-token conditioning) or
    "pooled" (its pooled vector); ``layout(clip, tokens, text)``: a prompt's positions in the cond or pooled
    input; ``features(weights, x)``: the model's own layers between the text encoder and the edited weights;
    ``alignment``: what the config's "auto" alignment means here.
    """

    name: str
    keys: str
    source: str
    layout: Callable | None = None
    features: Callable | None = None
    alignment: str = "span"


@dataclass(frozen=True)
class Family:
    """A model family ScaPre edits: its text streams, the text encoder it needs, and its saved files' name.

    ``tokens``: the token names ``clip.tokenize`` returns for the family's own text encoder (None: any CLIP
    whose width matches, the SD families).
    """

    label: str
    streams: tuple[TextStream, ...]
    architecture: str
    tokens: frozenset[str] | None = None
    encoder: str = ""


CROSS_ATTENTION = TextStream("CLIP -> cross-attention to_k / to_v", r"diffusion_model\..+\.attn2\.to_[kv]\.weight",
                             "clip", alignment="released")
FLUX_T5 = TextStream("T5 -> txt_in", r"diffusion_model\.txt_in\.weight", "cond", t5_layout("t5xxl"))
FLUX_POOLED = TextStream("pooled CLIP-L -> vector_in", r"diffusion_model\.vector_in\.in_layer\.weight", "pooled",
                         pooled_layout, alignment="all")
FLUX = Family("FLUX.1", (FLUX_T5, FLUX_POOLED), "flux-1-dev", frozenset({"l", "t5xxl"}),
              "CLIP-L + T5-XXL (DualCLIPLoader, type flux)")
SD3 = Family("SD3 / SD3.5",
             (TextStream("CLIP-L/G + T5 -> context_embedder", r"diffusion_model\.context_embedder\.weight", "cond",
                         sd3_layout),
              TextStream("pooled CLIP-L/G -> y_embedder", r"diffusion_model\.y_embedder\.mlp\.0\.weight", "pooled",
                         pooled_layout, alignment="all")),
             "stable-diffusion-v3-medium", frozenset({"g", "l", "t5xxl"}),
             "its CLIP-L, CLIP-G and T5-XXL (TripleCLIPLoader, or CLIPLoader / DualCLIPLoader with type sd3)")
CHROMA = Family("Chroma", (FLUX_T5,), "chroma", frozenset({"t5xxl"}), "T5-XXL (CLIPLoader, type chroma)")
WAN = Family("Wan 2.x",
             (TextStream("UMT5 -> text_embedding -> cross_attn k / v",
                         r"diffusion_model\.blocks\.\d+\.cross_attn\.[kv]\.weight", "cond", t5_layout("umt5xxl"),
                         wan_text_embedding),),
             "wan-2.1-t2v", frozenset({"umt5xxl"}), "UMT5-XXL (CLIPLoader, type wan)")
SD1 = Family("SD1.x", (CROSS_ATTENTION,), "stable-diffusion-v1")
SD2 = Family("SD2.x", (CROSS_ATTENTION,), "stable-diffusion-v2-512")
SDXL = Family("SDXL", (CROSS_ATTENTION,), "stable-diffusion-xl-v1-base")
FAMILIES: dict[str, Family] = {
    "SD15": SD1,
    "SD15_instructpix2pix": SD1,
    "SD20": SD2,
    "SD21UnclipL": SD2,
    "SD21UnclipH": SD2,
    "SD_X4Upscaler": SD2,
    "SDXL": SDXL,
    "SDXL_instructpix2pix": SDXL,
    "SSD1B": SDXL,
    "Segmind_Vega": SDXL,
    "KOALA_700M": SDXL,
    "KOALA_1B": SDXL,
    "SDXLRefiner": replace(SDXL, architecture="stable-diffusion-xl-v1-refiner"),
    "Flux": FLUX,
    "FluxInpaint": FLUX,
    "FluxSchnell": replace(FLUX, architecture="flux-1-schnell"),
    "SD3": SD3,
    "Chroma": CHROMA,
    "ChromaRadiance": CHROMA,
    "WAN21_T2V": WAN,
    "WAN21_I2V": replace(WAN, architecture="wan-2.1-i2v"),
    "WAN22_T2V": replace(WAN, architecture="wan-2.2-ti2v-5b"),
}
"""ComfyUI's model_config class name -> its family. Dispatch is by name, not isinstance: Chroma and FLUX.2 are
FLUX subclasses in ComfyUI with other text inputs, and SD2's LotusD takes no text."""


def model_family(model) -> str:
    """ComfyUI's name for the model's family, e.g. "SD15", "SDXL", "Flux"."""
    return type(model.model.model_config).__name__


def family_of(model) -> Family:
    """The model's Family; UnsupportedModel naming it ("not supported yet: <name>") for every other family."""
    name = model_family(model)
    if name not in FAMILIES:
        supported = sorted({f.label for f in FAMILIES.values()})
        raise UnsupportedModel(f"ScaPre does not support this model: not supported yet: {name} "
                               f"(supported: {', '.join(supported)} and their fine-tunes and merges)")
    return FAMILIES[name]


def stream_keys(model, stream: TextStream) -> list[str]:
    """The weights of one text stream of the model, in model order (none of them a bias)."""
    pattern = re.compile(stream.keys)
    keys = [k for k in model.model_state_dict("diffusion_model.") if pattern.fullmatch(k)]
    if not keys:
        raise UnsupportedModel(f"this {model_family(model)} model has no {stream.name} weights "
                               f"(no key matches {stream.keys})")
    return keys


def edited_keys(model) -> list[str]:
    """Every weight ScaPre edits in this model (all its family's text streams), in stream and model order."""
    return [k for stream in family_of(model).streams for k in stream_keys(model, stream)]


def compute_device() -> torch.device:
    return comfy.model_management.get_torch_device()


class EffectiveWeights(Mapping):
    """key -> the model's effective float32 weight (base, dequantised, plus upstream patches).

    Reads one tensor at a time onto ``device`` (via ``get_key_patches`` and the weight's ``convert_func``, so
    fp16 / bf16 / fp8 / scaled-fp8 storage and stacked LoRAs all work; weights quantised by the GGUF loader are
    dequantised by their own layer) and accumulates a fingerprint of everything it read. Iterates over
    ``keys``; any other key of the model can be read too (e.g. the layers in front of the edited ones).
    """

    def __init__(self, model, keys: list[str], device: torch.device, patches: dict | None = None):
        self._model = model
        self._patches = model.get_key_patches("diffusion_model.") if patches is None else patches
        self._keys = keys
        self._device = device
        self._digests: dict[str, str] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        (base, convert), *upstream = self._patches[key]
        if getattr(base, "tensor_type", None) is not None:  # GGUF: a quantised tensor, dequantised by its layer
            layer = comfy.utils.get_attr(self._model.model, key.rsplit(".", 1)[0])
            quantised = base.to(device=self._device, copy=True)
            quantised.patches = []  # the loader keeps the patches of the last load on the tensor: not the base
            weight = torch.Tensor(layer.get_weight(quantised, torch.float32)).float()
        else:
            weight = convert(comfy.model_management.cast_to_device(base.detach(), self._device, torch.float32,
                                                                   copy=True), inplace=True)
        if upstream:
            weight = comfy.lora.calculate_weight(upstream, weight, key)
        data = weight.detach().to(device="cpu", dtype=torch.float16).contiguous().numpy().tobytes()
        self._digests[key] = hashlib.sha256(data).hexdigest()
        return weight

    def select(self, keys: list[str]) -> EffectiveWeights:
        """The same reader (and fingerprint) iterating over ``keys``."""
        view = EffectiveWeights(self._model, keys, self._device, self._patches)
        view._digests = self._digests
        return view

    def text_width(self) -> int:
        """The input width d of the weights (read from the first key's shape)."""
        return in_features(self._patches[self._keys[0]][0][0])

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


def in_features(weight: torch.Tensor) -> int:
    """A stored linear weight's input width (GGUF tensors state their logical shape as ``tensor_shape``)."""
    return int(getattr(weight, "tensor_shape", weight.shape)[1])


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


class PromptStates:
    """Each prompt's tokens, conditioning [S, d] and pooled vector [p], exactly as the model receives them.

    One ``clip.tokenize`` (literal text, no "(word:1.2)" weights: they would mix in the empty prompt) and one
    ``clip.encode_from_tokens(..., return_pooled=True, return_dict=True)`` per prompt, as CLIPTextEncode does
    (a batch would change nothing but the pooled vector, which ComfyUI returns for the first prompt only);
    cached, so several streams of one model share the encoding. With ``cache=False`` nothing is kept (the preserve
    prior's 1,000 prompts would hold gigabytes of T5 states).
    """

    def __init__(self, clip, cache: bool = True):
        self.clip = clip
        self._cache: dict[str, tuple] | None = {} if cache else None

    def __call__(self, text: str) -> tuple[dict, torch.Tensor, torch.Tensor | None]:
        if self._cache is not None and text in self._cache:
            return self._cache[text]
        tokens = self.clip.tokenize(text, return_word_ids=True, disable_weights=True)
        out = self.clip.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
        pooled = out["pooled_output"]
        states = (tokens, out["cond"][0].float(), None if pooled is None else pooled[0].float())
        if self._cache is not None:
            self._cache[text] = states
        return states


def stream_encoder(states: PromptStates, stream: TextStream, weights: EffectiveWeights, device: torch.device):
    """An ``encode(prompts) -> (hidden [N, S, d], Layout)`` callable for one "cond" or "pooled" stream.

    A prompt's rows are its conditioning (or its pooled vector as one row) passed through the stream's
    features; prompts of different lengths (Chroma's unpadded T5, prompts over T5's minimum length) are
    zero-padded to the longest: rows past a prompt's last segment are never aligned and add nothing to the
    preserve terms.
    """

    def encode(prompts: list[str]) -> tuple[torch.Tensor, Layout]:
        rows, layouts = [], []
        for text in prompts:
            tokens, cond, pooled = states(text)
            x = (cond if stream.source == "cond" else pooled[None]).to(device)
            layout = stream.layout(states.clip, tokens, text)
            if layout[-1].stop != x.shape[0]:
                raise UnsupportedModel(f"the text encoder returned {x.shape[0]} rows for {text!r} where its tokens "
                                       f"lay out {layout[-1].stop}: is this CLIP the model's own?")
            rows.append(stream.features(weights, x) if stream.features is not None else x)
            layouts.append(layout)
        length = max(r.shape[0] for r in rows)
        hidden = torch.stack([torch.nn.functional.pad(r, (0, 0, 0, length - r.shape[0])) for r in rows])
        return hidden, Layout(tuple(layouts), stream.alignment)

    return encode


@dataclass
class EditPlan:
    """What one edit of one model reads: per text stream, its weights and its encoder (for ``unlearn_streams``),
    the encoder its preserve prior is computed with (the same outputs, nothing cached), and the reader behind all
    of them (its fingerprint covers every tensor the edit read)."""

    family: str
    streams: dict[str, tuple[EffectiveWeights, Callable]]
    prior_encoders: dict[str, Callable]
    reader: EffectiveWeights

    def weight_count(self) -> int:
        return sum(len(w) for w, _ in self.streams.values())


def edit_plan(model, clip, device: torch.device) -> EditPlan:
    """The model's family, its streams' weights and encoders; refuses a family or a CLIP that does not fit.

    Checks that the CLIP is the family's text encoder (its token names) and that every stream's input width is
    what its weights take, before anything heavy runs.
    """
    family = family_of(model)
    name = model_family(model)
    keys = {stream.name: stream_keys(model, stream) for stream in family.streams}
    reader = EffectiveWeights(model, [k for ks in keys.values() for k in ks], device)
    if family.tokens is not None:
        found = set(clip.tokenize(""))
        if found != family.tokens:
            raise UnsupportedModel(f"this CLIP is not the text encoder of this {name} ({family.label}) model: it "
                                   f"tokenises for {sorted(found)}, the model needs {family.encoder}")
    states = PromptStates(clip)
    streams, prior_encoders = {}, {}
    for stream in family.streams:
        weights = reader.select(keys[stream.name])
        if stream.source == "clip":
            encode, width = clip_encoder(clip), clip_width(clip)
            prior_encoders[stream.name] = encode
        else:
            encode = stream_encoder(states, stream, reader, device)
            width = encode([""])[0].shape[-1]
            prior_encoders[stream.name] = stream_encoder(PromptStates(clip, cache=False), stream, reader, device)
        if width != weights.text_width():
            raise UnsupportedModel(f"this CLIP produces {width}-wide input for {stream.name} but the {name} model's "
                                   f"weights take {weights.text_width()}-wide input: connect the text encoder that "
                                   f"belongs to this model" + (f" ({family.encoder})" if family.encoder else
                                                               " (e.g. an SDXL checkpoint's own CLIP for an SDXL "
                                                               "model)"))
        streams[stream.name] = (weights, encode)
    return EditPlan(name, streams, prior_encoders, reader)


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
    """The modelspec architecture of the model's family (SD2: v-prediction models are the 768-v kind)."""
    architecture = family_of(model).architecture
    if architecture == "stable-diffusion-v2-512" and model.model.model_type == comfy.model_base.ModelType.V_PREDICTION:
        return "stable-diffusion-v2-768-v"
    return architecture


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


# --- the preserve prior's on-disk cache (issue 9) -----------------------------------------------

PRIOR_FORMAT = "scapre.prior.v1"
_PROBES = ("", "a photo of a cat", "an oil painting of a mountain lake at dawn")


def encoder_fingerprint(encode: Encode) -> str:
    """sha256 of what an ``encode`` (``clip_encoder``, a ``stream_encoder``) makes of a few fixed prompts
    (fp16-rounded outputs, every position, and their layout).

    It changes with the text encoder's weights, its patches (CLIP LoRAs), its layer (clip skip) and, for a
    stream, the model's layers in front of the edited weights; a device whose rounding differs only costs a
    recomputation, never a wrong prior.
    """
    hidden, layout = encode(list(_PROBES))
    where = layout.numpy().tobytes() if isinstance(layout, torch.Tensor) else repr(layout.prompts).encode()
    digest = hashlib.sha256(str(tuple(hidden.shape)).encode() + where)
    digest.update(hidden.to(torch.float16).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def prior_cache_folder() -> Path:
    """``<ComfyUI user folder>/__scapre/prior``: outside the pack (updates replace it) and, with ComfyUI's
    "__" system-user convention, not served by its user-data endpoints."""
    folder = Path(folder_paths.get_user_directory()) / "__scapre" / "prior"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read_prior(path: Path, fingerprint: str, digest: str, count: int):
    """The PreservePrior stored at ``path`` if it is intact and was made from this encoder and list, else None."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            gram = f.get_tensor("gram")
        expected = {"format": PRIOR_FORMAT, "encoder": fingerprint, "prompts_sha256": digest, "prompts": str(count)}
        if any(meta.get(k) != v for k, v in expected.items()) or meta.get("sha256") != _tensor_digest(gram):
            return None
        return PreservePrior(gram, count, meta.get("source", ""))
    except Exception:  # unreadable, truncated, not a safetensors file, or not a prior
        return None


def _tensor_digest(tensor: torch.Tensor) -> str:
    """sha256 over a tensor's dtype, shape and bytes."""
    header = f"{tensor.dtype} {tuple(tensor.shape)}".encode()
    return hashlib.sha256(header + tensor.contiguous().numpy().tobytes()).hexdigest()


def prior_cache_path(fingerprint: str, digest: str) -> Path:
    """Where the prior of the list with sha256 ``digest`` under the encoder ``fingerprint`` is cached."""
    return prior_cache_folder() / f"prior_{fingerprint[:16]}_{digest[:16]}.safetensors"


def write_prior_cache(prior: PreservePrior, fingerprint: str, digest: str) -> Path:
    """Store ``prior`` for this encoder and list (written to a temporary file, then renamed into place)."""
    path = prior_cache_path(fingerprint, digest)
    gram = prior.gram.cpu().contiguous()
    metadata = {"format": PRIOR_FORMAT, "encoder": fingerprint, "prompts_sha256": digest,
                "prompts": str(prior.prompts), "source": prior.source, "sha256": _tensor_digest(gram)}
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        save_file({"gram": gram}, str(partial), metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def cached_prior(encode: Encode, prompts: tuple[str, ...], source: str) -> PreservePrior:
    """The preserve prior of ``prompts`` under this ``encode``: read from the cache, or computed (with a progress bar)
    and cached. A cache file that is damaged, or made from another encoder or list, is rebuilt, never trusted.

    The prior's source says which: "<source>; cached", "; computed in 12.3 s" or "; rebuilt in 12.3 s".
    """
    fingerprint, digest = encoder_fingerprint(encode), prompts_digest(prompts)
    path = prior_cache_path(fingerprint, digest)
    how = "computed"
    if path.exists():
        prior = _read_prior(path, fingerprint, digest, len(prompts))
        if prior is not None:
            return dataclasses.replace(prior, source=f"{prior.source}; cached")
        how = "rebuilt"
    start = time.perf_counter()
    prior = second_moment(encode, prompts, source, progress=progress_reporter(len(prompts)))
    write_prior_cache(prior, fingerprint, digest)
    return dataclasses.replace(prior, source=f"{source}; {how} in {time.perf_counter() - start:.1f} s")


def general_prior(encode: Encode) -> PreservePrior:
    """The pack's general preserve prior under this ``encode`` (cached; see ``cached_prior``)."""
    prompts = general_prompts()
    return cached_prior(encode, prompts, general_source(prompts))


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
