"""The model families ScaPre edits: one row each in FAMILIES. The tooltips, the README's families table and the
registry description list the families from this table (tests/test_host_families.py checks that they agree).

A family is edited on its text streams: the linear layers whose input is a function of the prompt alone. Each
stream names its weights (biases are never edited: the core's targets W0 y are bias-free), where its input
comes from (SD's batched 77-token CLIP form, the per-token conditioning, the pooled vector, or another output of
the text encoder), how a prompt's positions are laid out in that input (layouts.py), and the model's own layers
between the text encoder and the weights (features.py).

Adding a family (read its model_config class in ComfyUI's comfy/supported_models.py, its model in comfy/ldm/ and
its text encoder in comfy/text_encoders/ first):
  1. Find the linear layers that read the prompt and nothing else: not the timestep, the guidance or the image.
     Everything after a timestep-modulated block is out of reach of a closed form.
  2. For each, write its ModelPatcher keys as a regular expression, where its input comes from (``source``) and
     the model's own layers in front of it (``features``: a norm, an MLP, a mean), if any.
  3. Write or reuse its layout function (layouts.py): where a prompt's words and end token sit in those rows.
     LLM encoders: ``ChatLayout`` finds them inside the chat template by the tokenizer's own tokens.
  4. Add the row below: its label, its model_config class names with their modelspec architecture, its
     streams, the token names its text encoder's tokenizer returns, and which loaders and encoder to connect.
  5. Add a tiny model to harness/tiny_models.py and a case to tests/integration/test_families.py, an example
     workflow to example_workflows/api/ (then ``python3 -m harness.ui_workflows``) and a row to the README's
     families table.

Imports nothing from ComfyUI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .features import rms_norm, row_mean, wan_text_embedding
from .layouts import ChatLayout, pooled_layout, sd3_layout, t5_layout


class UnsupportedModel(ValueError):
    """A MODEL whose family ScaPre cannot edit, or a CLIP that is not that model's text encoder."""


@dataclass(frozen=True)
class TextStream:
    """One text input of a family, edited with its own token states.

    ``keys``: a regular expression that the edited weights' ModelPatcher keys match in full; ``source``: "clip"
    (SD's batched 77-token CLIP form), "cond" (each prompt's per-token conditioning), "pooled" (its pooled
    vector) or the name of another output of the text encoder (e.g. HiDream's "conditioning_llama3"), of which
    ``index`` picks one slice along its second axis (one layer of a stack); ``layout(clip, tokens, text,
    rows)``: a prompt's positions in that input; ``features(weights, x)``: the model's own layers between the
    text encoder and the edited weights; ``alignment``: what the config's "auto" alignment means here.
    """

    name: str
    keys: str
    source: str
    layout: Callable | None = None
    features: Callable | None = None
    alignment: str = "span"
    index: int | None = None


@dataclass(frozen=True)
class Family:
    """A model family ScaPre edits.

    ``classes``: ComfyUI's model_config class names of the family, each with the modelspec architecture its
    saved files carry; ``streams``: its text streams, or a function of the model that returns them (when their
    number depends on the model, as HiDream's one stream per LLM layer); ``tokens``: the token names
    ``clip.tokenize`` returns for the family's own text encoder (None: any CLIP whose width matches, the SD
    families); ``encoder``: the text encoder to connect, and with which loader; ``tokenizer``: the class name of
    ComfyUI's tokenizer for it, where another family's encoder gives the same token names (Qwen-Image's and
    HunyuanVideo 1.5's Qwen2.5-VL, read through different templates and layers).
    """

    label: str
    classes: dict[str, str]
    streams: tuple[TextStream, ...] | Callable
    tokens: frozenset[str] | None = None
    encoder: str = ""
    tokenizer: str = ""

    def streams_of(self, model) -> tuple[TextStream, ...]:
        return self.streams(model) if callable(self.streams) else self.streams


CROSS_ATTENTION = TextStream("CLIP -> cross-attention to_k / to_v", r"diffusion_model\..+\.attn2\.to_[kv]\.weight",
                             "clip", alignment="released")
T5_TXT_IN = TextStream("T5 -> txt_in", r"diffusion_model\.txt_in\.weight", "cond", t5_layout("t5xxl"))
POOLED_CLIP_L = TextStream("pooled CLIP-L -> vector_in", r"diffusion_model\.vector_in\.in_layer\.weight", "pooled",
                           pooled_layout, alignment="all")
QWEN_7B = "Qwen2.5-VL-7B"


def hidream_streams(model) -> tuple[TextStream, ...]:
    """HiDream's caption projections (one per Llama layer the model reads, then T5's) and its pooled path."""
    layers = model.model.diffusion_model.llama_layers
    return tuple(TextStream(f"Llama-3.1 layer {layer} -> caption_projection.{i}",
                            rf"diffusion_model\.caption_projection\.{i}\.linear\.weight", "conditioning_llama3",
                            ChatLayout("llama"), alignment="words", index=layer) for i, layer in enumerate(layers)) + (
        TextStream(f"T5 -> caption_projection.{len(layers)}",
                   rf"diffusion_model\.caption_projection\.{len(layers)}\.linear\.weight", "cond", t5_layout("t5xxl")),
        TextStream("pooled CLIP-L/G -> p_embedder", r"diffusion_model\.p_embedder\.pooled_embedder\.linear_1\.weight",
                   "pooled", pooled_layout, alignment="all"))


FAMILIES: tuple[Family, ...] = (
    Family("SD1.x", {"SD15": "stable-diffusion-v1", "SD15_instructpix2pix": "stable-diffusion-v1"},
           (CROSS_ATTENTION,)),
    Family("SD2.x", {name: "stable-diffusion-v2-512" for name in ("SD20", "SD21UnclipL", "SD21UnclipH",
                                                                  "SD_X4Upscaler")}, (CROSS_ATTENTION,)),
    Family("SDXL", {**{name: "stable-diffusion-xl-v1-base" for name in (
        "SDXL", "SDXL_instructpix2pix", "SSD1B", "Segmind_Vega", "KOALA_700M", "KOALA_1B")},
        "SDXLRefiner": "stable-diffusion-xl-v1-refiner"}, (CROSS_ATTENTION,)),
    Family("FLUX.1", {"Flux": "flux-1-dev", "FluxInpaint": "flux-1-dev", "FluxSchnell": "flux-1-schnell"},
           (T5_TXT_IN, POOLED_CLIP_L), frozenset({"l", "t5xxl"}), "CLIP-L + T5-XXL (DualCLIPLoader, type flux)"),
    Family("SD3 / SD3.5", {"SD3": "stable-diffusion-v3-medium"},
           (TextStream("CLIP-L/G + T5 -> context_embedder", r"diffusion_model\.context_embedder\.weight", "cond",
                       sd3_layout),
            TextStream("pooled CLIP-L/G -> y_embedder", r"diffusion_model\.y_embedder\.mlp\.0\.weight", "pooled",
                       pooled_layout, alignment="all")),
           frozenset({"g", "l", "t5xxl"}),
           "its CLIP-L, CLIP-G and T5-XXL (TripleCLIPLoader, or CLIPLoader / DualCLIPLoader with type sd3)"),
    Family("Chroma", {"Chroma": "chroma", "ChromaRadiance": "chroma"}, (T5_TXT_IN,), frozenset({"t5xxl"}),
           "T5-XXL (CLIPLoader, type chroma)"),
    Family("FLUX.2", {"Flux2": "flux-2-dev"},
           (TextStream("Mistral-3 -> txt_in", r"diffusion_model\.txt_in\.weight", "cond",
                       ChatLayout("mistral3_24b"), alignment="words"),),
           frozenset({"mistral3_24b"}),
           "Mistral-3 Small (CLIPLoader, type flux2; FLUX.2 klein, read through Qwen3, is not supported yet)"),
    Family("Wan 2.x", {"WAN21_T2V": "wan-2.1-t2v", "WAN21_I2V": "wan-2.1-i2v", "WAN22_T2V": "wan-2.2-ti2v-5b",
                       "WAN21_FunControl2V": "wan-2.1-fun-control", "WAN21_Camera": "wan-2.1-camera",
                       "WAN22_Camera": "wan-2.2-camera", "WAN21_Vace": "wan-2.1-vace", "WAN21_HuMo": "wan-2.1-humo",
                       "WAN22_S2V": "wan-2.2-s2v", "WAN22_Animate": "wan-2.2-animate"},
           (TextStream("UMT5 -> text_embedding -> cross_attn k / v",
                       r"diffusion_model\.(vace_)?blocks\.\d+\.cross_attn\.[kv]\.weight", "cond", t5_layout("umt5xxl"),
                       wan_text_embedding),),
           frozenset({"umt5xxl"}), "UMT5-XXL (CLIPLoader, type wan)"),
    Family("HunyuanVideo 1.5", {"HunyuanVideo15": "hunyuan-video-1.5",
                                "HunyuanVideo15_SR_Distilled": "hunyuan-video-1.5-sr"},
           (TextStream(f"{QWEN_7B} -> txt_in.input_embedder", r"diffusion_model\.txt_in\.input_embedder\.weight",
                       "cond", ChatLayout("qwen25_7b"), alignment="words"),
            TextStream(f"mean of {QWEN_7B} -> txt_in.c_embedder", r"diffusion_model\.txt_in\.c_embedder\.in_layer\.weight",
                       "cond", pooled_layout, row_mean, alignment="all")),
           frozenset({"qwen25_7b"}),
           f"{QWEN_7B} + ByT5 (DualCLIPLoader, type hunyuan_video_15)", "HunyuanVideo15Tokenizer"),
    Family("HiDream", {"HiDream": "hidream-i1"}, hidream_streams, frozenset({"g", "l", "t5xxl", "llama"}),
           "CLIP-L, CLIP-G, T5-XXL and Llama-3.1-8B (QuadrupleCLIPLoader)"),
    Family("Lumina 2", {"Lumina2": "lumina-2"},
           (TextStream("Gemma-2 -> cap_embedder", r"diffusion_model\.cap_embedder\.1\.weight", "cond",
                       ChatLayout("gemma2_2b"), rms_norm("cap_embedder.0"), "words"),),
           frozenset({"gemma2_2b"}), "Gemma-2-2B (CLIPLoader, type lumina2), or the checkpoint's own"),
    Family("Qwen-Image", {"QwenImage": "qwen-image"},
           (TextStream(f"{QWEN_7B} -> txt_in", r"diffusion_model\.txt_in\.weight", "cond", ChatLayout("qwen25_7b"),
                       rms_norm("txt_norm"), "words"),),
           frozenset({"qwen25_7b"}), f"{QWEN_7B} (CLIPLoader, type qwen_image)", "QwenImageTokenizer"),
    Family("Z-Image", {"ZImage": "z-image"},
           (TextStream("Qwen3-4B -> cap_embedder", r"diffusion_model\.cap_embedder\.1\.weight", "cond",
                       ChatLayout("qwen3_4b"), rms_norm("cap_embedder.0"), "words"),),
           frozenset({"qwen3_4b"}), "Qwen3-4B (CLIPLoader, type lumina2)"),
)
BY_CLASS: dict[str, Family] = {name: family for family in FAMILIES for name in family.classes}
"""ComfyUI's model_config class name -> its family. Dispatch is by name, not isinstance: Chroma and FLUX.2 are
FLUX subclasses in ComfyUI with other text inputs, and SD2's LotusD takes no text."""


def labels() -> str:
    """The families, as the tooltips, the README and the registry description list them."""
    return ", ".join(family.label for family in FAMILIES)


def model_family(model) -> str:
    """ComfyUI's name for the model's family, e.g. "SD15", "SDXL", "Flux"."""
    return type(model.model.model_config).__name__


def family_of(model) -> Family:
    """The model's Family; UnsupportedModel naming it ("not supported yet: <name>") for every other family."""
    name = model_family(model)
    if name not in BY_CLASS:
        raise UnsupportedModel(f"ScaPre does not support this model: not supported yet: {name} "
                               f"(supported: {labels()} and their fine-tunes and merges)")
    return BY_CLASS[name]


def architecture(model) -> str:
    """The modelspec architecture of the model's family and class."""
    return family_of(model).classes[model_family(model)]


def stream_keys(model, stream: TextStream) -> list[str]:
    """The weights of one text stream of the model, in model order (none of them a bias)."""
    pattern = re.compile(stream.keys)  # parameters: listing them reads no weight
    keys = [k for k, _ in model.model.named_parameters() if k.startswith("diffusion_model.") and pattern.fullmatch(k)]
    if not keys:
        raise UnsupportedModel(f"this {model_family(model)} model has no {stream.name} weights "
                               f"(no key matches {stream.keys})")
    return keys


def edited_keys(model) -> list[str]:
    """Every weight ScaPre edits in this model (all its family's text streams), in stream and model order."""
    return [k for stream in family_of(model).streams_of(model) for k in stream_keys(model, stream)]
