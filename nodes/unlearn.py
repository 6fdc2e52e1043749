"""Node "ScaPre Unlearn": MODEL + CLIP + concepts -> a patched MODEL that has forgotten them."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import replace

import torch

from ..scapre_core import CONFIG_PRESETS, ConceptSet, ScaPreConfig, UnlearnResult, unlearn_streams
from ..scapre_core.api import StreamsReport, prior_choice
from ..scapre_core.collateral import WORST
from ..scapre_core.concepts import PRIOR_GENERAL
from .host import families, patches, plan, prior_cache, weights
from .host.node_api import CATEGORY, Concepts, io, ui
from .options import DEFAULT_RECIPE, Options, UnlearnOptions, describe_changes, widget_values

RECIPE_HELP = (
    f"Default: {DEFAULT_RECIPE}. uce_prior: UCE with the pack's general preserve prior (1,000 general prompts, "
    "computed once per text encoder, then cached); on the pack's calibrated toy world it erased up to 50 names at "
    "once while the others stayed, five times as many as uce. "
    "The authors' released recipes. large_scale: full ScaPre (Informax masks, spectral regulariser, "
    "Bures step), their recipe for many objects or styles (on the toy world it left most erased names and every "
    "erased style drawn). explicit: ScaPre without masks or spectral term, their nudity recipe. objects_base: "
    "ScaPre-base (masked UCE + entropy rollback), their Imagenette recipe. confusable: ScaPre-base with the "
    "SSA-SVD residual, their look-alike recipe. uce: the UCE baseline. "
    "toy_tuned_uce (not the authors'): UCE with a fixed preserve weight 0.5; on the calibrated toy world it did "
    "no better than uce. "
    "Beyond the released recipes: nullspace: UCE whose update leaves the top principal directions of the "
    "+ lines and of 1,000 general prompts alone (after SPEED and Double Projections; uses the general preserve "
    "prior). oce: Orthogonal Concept Erasure (Sun et al., ICML 2026), the "
    "value weights rotated (W = R W0, norms and angles kept), their 100-celebrity command; a full-rank edit: "
    "save it as an exact edit or a checkpoint, not as a low-rank LoRA. "
    "List look-alikes that must stay as + lines with any recipe."
)

_CACHE_SIZE = 2
_cache: OrderedDict[tuple, tuple[weakref.ref, weakref.ref, UnlearnResult, patches.EditInfo]] = OrderedDict()


LEGACY_INPUTS = ("erase_scale", "preserve_scale", "lam", "p", "informax", "spectral", "bures_iters", "alpha_min",
                 "entropy_samples", "precision")
"""The advanced inputs of ScaPre Unlearn 0.1.0, now on ScaPre Options (web/js/legacy_0_1.js: the same rules)."""


def _legacy_set(name: str, value) -> bool:
    """Whether a 0.1.0 advanced value changed the recipe (-1, 0, "recipe" and float32 kept the recipe's value)."""
    if name in ("informax", "spectral"):
        return value in ("on", "off")
    if name == "precision":
        return value == "float64"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and (value > 0 if name in ("bures_iters", "entropy_samples") else value >= 0)


def legacy_settings(inputs: dict) -> list[str]:
    """The 0.1.0 advanced inputs that a prompt still gives ScaPre Unlearn with a value that changed the recipe."""
    return [f"{name} = {inputs[name]!r}" for name in LEGACY_INPUTS
            if name in inputs and _legacy_set(name, inputs[name])]


def build_config(recipe: str, seed: int, options: UnlearnOptions | None = None) -> ScaPreConfig:
    """The recipe with ScaPre Options' changes, if any, and the seed."""
    if options is None:
        return ScaPreConfig.preset(recipe, seed=seed)
    try:
        return ScaPreConfig.preset(recipe, **options.changes, seed=seed)
    except ValueError as err:  # a value ScaPreConfig refuses, e.g. "lam must be > 0"
        raise ValueError(f"ScaPre Options: {err}") from err


def _cached(key: tuple, model, clip):
    entry = _cache.get(key)
    if entry is None or entry[0]() is not model.model or entry[1]() is not clip.cond_stage_model:
        return None
    _cache.move_to_end(key)
    return entry[2], entry[3]


def _remember(key: tuple, model, clip, result: UnlearnResult, info: patches.EditInfo) -> None:
    # without the weights it read: they hold the model, which the cache must not keep alive
    _cache[key] = (weakref.ref(model.model), weakref.ref(clip.cond_stage_model), replace(result, weights=None), info)
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)


def most_moved(report: StreamsReport) -> tuple[str, ...]:
    """The general prompts the edit moved most, most first, over every stream's collateral (each prompt once)."""
    ranked = sorted(((prompt, change) for stream in report.streams.values() if stream.collateral is not None
                     for prompt, change in stream.collateral.worst), key=lambda pair: pair[1], reverse=True)
    return tuple(dict.fromkeys(prompt for prompt, _ in ranked))[:WORST]


def run(model, clip, concepts: ConceptSet, config: ScaPreConfig, dtype: torch.dtype) -> tuple[UnlearnResult, patches.EditInfo, bool]:
    """Compute (or reuse) the edit of ``model`` for these concepts; returns (result, info, cached).

    Every text stream of the model's family is edited from its own token states (host.plan.edit_plan), under
    torch.inference_mode() as ComfyUI runs nodes (fp8 weights cannot be read and patched under autograd).
    """
    key = (patches.identity(model, clip), concepts, config, dtype)
    hit = _cached(key, model, clip)
    if hit is not None:
        return (*hit, True)
    device = weights.compute_device()
    with torch.inference_mode():
        edit = plan.edit_plan(model, clip, device)
        if prior_choice(concepts, config) == PRIOR_GENERAL:
            priors = {name: prior_cache.general_prior(encode) for name, encode in edit.prior_encoders.items()}
        else:  # the report's collateral, from the cache when an earlier edit computed the prior
            stored = {name: prior_cache.stored_general_prior(encode) for name, encode in edit.prior_encoders.items()}
            priors = {name: prior for name, prior in stored.items() if prior is not None}
        result = unlearn_streams(edit.streams, concepts, config, priors=priors, device=device,
                                 progress=patches.progress_reporter(edit.weight_count()), dtype=dtype)
    info = patches.EditInfo(config.method, config.to_json(), concepts.to_text(), edit.family,
                            edit.reader.fingerprint(), result.report.to_text(), most_moved(result.report))
    _remember(key, model, clip, result, info)
    return result, info, False


class ScaPreUnlearn(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreUnlearn",
            display_name="ScaPre Unlearn",
            category=CATEGORY,
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
            description="Erase concepts from the model in closed form (ScaPre, ICLR 2026): edits the weights that "
                        "read the prompt alone (every cross-attention's key/value projections in the SD families "
                        "and Wan; the text-input layers of the other families) and returns the model with that "
                        "edit as a patch. The input model is not modified; strength scales the edit like a LoRA.",
            inputs=[
                io.Model.Input("model", tooltip=f"A model of one of these families: {families.labels()} (fine-tunes, "
                                                "merges, fp8 files and models with LoRAs applied work too). Other "
                                                "families are refused."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to this model (the checkpoint's own CLIP "
                                              "for the SD families; " + "; ".join(
                                                  f"{f.label}: {f.encoder}" for f in families.FAMILIES if f.encoder)
                                              + ")."),
                Concepts.Input("concepts", tooltip="From ScaPre Concept List."),
                io.Combo.Input("recipe", options=list(CONFIG_PRESETS), default=DEFAULT_RECIPE, tooltip=RECIPE_HELP),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="Scale of the edit: 0 = original model, 1 = full ScaPre edit."),
                io.Int.Input("seed", default=0, min=0, max=2**53 - 1, control_after_generate=False,
                             tooltip="Seeds the noise of ScaPre's activation statistics: the same inputs and seed "
                                     "give the same edit, bit for bit."),
                Options.Input("options", optional=True,
                              tooltip="Optional: a ScaPre Options node, for the advanced settings (erase_scale, "
                                      "lambda, p, ...). Without it, the recipe's values are used.",
                              extra_dict={"recipe_values": {r: widget_values(r) for r in CONFIG_PRESETS}}),
            ],
            outputs=[
                io.Model.Output(display_name="model", tooltip="The model with the concepts erased (a patch)."),
                io.String.Output(display_name="report",
                                 tooltip="What moved: each erased concept's output change, the drift of the empty "
                                         "and preserved prompts, the collateral over 1,000 general prompts (when "
                                         "this text encoder's general prior is at hand) and its most-moved "
                                         "prompts, and time per stage."),
            ],
        )

    @classmethod
    def execute(cls, model, clip, concepts: ConceptSet, recipe: str, strength: float, seed: int,
                options: UnlearnOptions | None = None) -> io.NodeOutput:
        queued = cls.hidden.prompt[cls.hidden.unique_id]["inputs"] if cls.hidden and cls.hidden.prompt else {}
        legacy = legacy_settings(queued)  # hidden is None when execute is called outside a prompt
        if legacy:
            raise ValueError(f"this prompt sets {', '.join(legacy)} on ScaPre Unlearn, as ScaPre 0.1.0 did; these "
                             "settings moved to the ScaPre Options node: connect one to Unlearn's 'options' input "
                             "and set them there (the frontend migrates saved workflows by itself)")
        config = build_config(recipe, seed, options)
        dtype = torch.float64 if options is not None and options.precision == "float64" else torch.float32
        result, info, cached = run(model, clip, concepts, config, dtype)
        patched = patches.apply_edit(model, result.edits, strength, info)
        changes = describe_changes(config, recipe)
        header = (f"{info.family} model, {len(result.edits)} edited weights, recipe {recipe}, "
                  f"strength {strength:g}, seed {seed}" + (" (edit reused from cache)" if cached else ""))
        if changes or dtype == torch.float64:
            header += "\noptions: " + ", ".join(changes + (["precision float64"] if dtype == torch.float64 else []))
        report = header + "\n" + result.report.to_text()
        return io.NodeOutput(patched, report, ui=ui.PreviewText(report))
