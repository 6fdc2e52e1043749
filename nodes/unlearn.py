"""Node "ScaPre Unlearn": MODEL + CLIP + concepts -> a patched MODEL that has forgotten them."""

from __future__ import annotations

import weakref
from collections import OrderedDict

import torch

from ..scapre_core import CONFIG_PRESETS, ConceptSet, ScaPreConfig, UnlearnResult, unlearn_streams
from ..scapre_core.api import prior_choice
from ..scapre_core.concepts import PRIOR_GENERAL
from . import comfy_glue as glue
from ._api import CATEGORY, Concepts, io, ui

KEEP = "recipe"
SWITCH = [KEEP, "on", "off"]

RECIPE_HELP = (
    "The authors' released recipes. large_scale: full ScaPre (Informax masks, spectral regulariser, "
    "Bures step), their recipe for many objects or styles. explicit: ScaPre without masks or spectral term, "
    "their nudity recipe. objects_base: ScaPre-base (masked UCE + entropy rollback), their Imagenette recipe. "
    "confusable: ScaPre-base with the SSA-SVD residual, their look-alike recipe. uce: the UCE baseline. "
    "toy_tuned_uce (not the authors'): UCE with a fixed preserve weight 0.5, the most precise recipe on the "
    "pack's toy world when every prompt to keep is listed as a + line. "
    "Beyond the released recipes: nullspace: UCE whose update leaves the top principal directions of the "
    "+ lines and of 1,000 general prompts alone (after SPEED and Double Projections; uses the general preserve "
    "prior, computed once per text encoder). oce: Orthogonal Concept Erasure (Sun et al., ICML 2026), the "
    "value weights rotated (W = R W0, norms and angles kept), their 100-celebrity command; a full-rank edit: "
    "save it as an exact edit or a checkpoint, not as a low-rank LoRA."
)

_CACHE_SIZE = 2
_cache: OrderedDict[tuple, tuple[weakref.ref, weakref.ref, UnlearnResult, glue.EditInfo]] = OrderedDict()


def build_config(recipe: str, seed: int, erase_scale: float = -1.0, preserve_scale: float = -1.0,
                 lam: float = -1.0, p: float = -1.0, bures_iters: int = 0, informax: str = KEEP,
                 spectral: str = KEEP, alpha_min: float = -1.0, entropy_samples: int = 0) -> ScaPreConfig:
    """The recipe with the overrides that are set (negative / 0 / "recipe" keep the recipe's value)."""
    changes: dict = {"seed": seed}
    for name, value in (("erase_scale", erase_scale), ("preserve_scale", preserve_scale), ("lam", lam),
                        ("p", p), ("alpha_min", alpha_min)):
        if value >= 0:
            changes[name] = value
    for name, value in (("bures_iters", bures_iters), ("entropy_samples", entropy_samples)):
        if value > 0:
            changes[name] = value
    for name, value in (("informax", informax), ("spectral", spectral)):
        if value != KEEP:
            changes[name] = value == "on"
    return ScaPreConfig.preset(recipe, **changes)


def _cached(key: tuple, model, clip):
    entry = _cache.get(key)
    if entry is None or entry[0]() is not model.model or entry[1]() is not clip.cond_stage_model:
        return None
    _cache.move_to_end(key)
    return entry[2], entry[3]


def _remember(key: tuple, model, clip, result: UnlearnResult, info: glue.EditInfo) -> None:
    _cache[key] = (weakref.ref(model.model), weakref.ref(clip.cond_stage_model), result, info)
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)


def run(model, clip, concepts: ConceptSet, config: ScaPreConfig, dtype: torch.dtype) -> tuple[UnlearnResult, glue.EditInfo, bool]:
    """Compute (or reuse) the edit of ``model`` for these concepts; returns (result, info, cached).

    Every text stream of the model's family is edited from its own token states (glue.edit_plan), under
    torch.inference_mode() as ComfyUI runs nodes (fp8 weights cannot be read and patched under autograd).
    """
    key = (glue.identity(model, clip), concepts, config, dtype)
    hit = _cached(key, model, clip)
    if hit is not None:
        return (*hit, True)
    device = glue.compute_device()
    with torch.inference_mode():
        plan = glue.edit_plan(model, clip, device)
        priors = None
        if prior_choice(concepts, config) == PRIOR_GENERAL:
            priors = {name: glue.general_prior(encode) for name, encode in plan.prior_encoders.items()}
        result = unlearn_streams(plan.streams, concepts, config, priors=priors, device=device,
                                 progress=glue.progress_reporter(plan.weight_count()), dtype=dtype)
    info = glue.EditInfo(config.method, config.to_json(), concepts.to_text(), plan.family,
                         plan.reader.fingerprint(), result.report.to_text())
    _remember(key, model, clip, result, info)
    return result, info, False


class ScaPreUnlearn(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ScaPreUnlearn",
            display_name="ScaPre Unlearn",
            category=CATEGORY,
            description="Erase concepts from the model in closed form (ScaPre, ICLR 2026): edits the key/value "
                        "projections of every text cross-attention layer and returns the model with that edit as "
                        "a patch. The input model is not modified; strength scales the edit like a LoRA.",
            inputs=[
                io.Model.Input("model", tooltip="An SD1.x, SD2.x or SDXL model (fine-tunes, merges and models "
                                                "with LoRAs applied work too)."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to this model."),
                Concepts.Input("concepts", tooltip="From ScaPre Concept List."),
                io.Combo.Input("recipe", options=list(CONFIG_PRESETS), default="large_scale", tooltip=RECIPE_HELP),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="Scale of the edit: 0 = original model, 1 = full ScaPre edit."),
                io.Int.Input("seed", default=0, min=0, max=2**53 - 1, control_after_generate=False,
                             tooltip="Seeds the noise of ScaPre's activation statistics: the same inputs and seed "
                                     "give the same edit, bit for bit."),
                io.Float.Input("erase_scale", default=-1.0, min=-1.0, max=100.0, step=0.1, optional=True,
                               tooltip="Advanced. Weight of the erase term (-1 = the recipe's: 2 for large_scale "
                                       "and explicit, 1 otherwise). Higher erases harder."),
                io.Float.Input("preserve_scale", default=-1.0, min=-1.0, max=100.0, step=0.05, optional=True,
                               tooltip="Advanced. Weight that keeps the '+' prompts unchanged (-1 = "
                                       "max(0.1, 1 / number of preserved prompts))."),
                io.Float.Input("lam", display_name="lambda", default=-1.0, min=-1.0, max=100.0, step=0.05, optional=True,
                               tooltip="Advanced. Ridge pulling the weights towards the original (-1 = 0.5)."),
                io.Float.Input("p", default=-1.0, min=-1.0, max=64.0, step=0.5, optional=True,
                               tooltip="Advanced. Exponent of the Informax soft mask (-1 = the recipe's: 8 for "
                                       "large_scale, 2 for the base recipes)."),
                io.Combo.Input("informax", options=SWITCH, default=KEEP, optional=True,
                               tooltip="Advanced. Informax soft masks on the erase targets."),
                io.Combo.Input("spectral", options=SWITCH, default=KEEP, optional=True,
                               tooltip="Advanced. Spectral regulariser (ScaPre recipes only)."),
                io.Int.Input("bures_iters", default=0, min=0, max=10, optional=True,
                             tooltip="Advanced. Iterations of the Bures step (0 = the recipe's: 1)."),
                io.Float.Input("alpha_min", default=-1.0, min=-1.0, max=1.0, step=0.05, optional=True,
                               tooltip="Advanced. Floor of the entropy rollback of the base recipes; 1 = no "
                                       "rollback (-1 = the recipe's)."),
                io.Int.Input("entropy_samples", default=0, min=0, max=1000, optional=True,
                             tooltip="Advanced. Noisy samples per concept for the activation entropy (0 = the "
                                     "recipe's)."),
                io.Combo.Input("precision", options=["float32", "float64"], default="float32", optional=True,
                               tooltip="Advanced. Precision of the per-layer products (the per-edit decomposition "
                                       "always runs in float64)."),
            ],
            outputs=[
                io.Model.Output(display_name="model", tooltip="The model with the concepts erased (a patch)."),
                io.String.Output(display_name="report",
                                 tooltip="What moved: each erased concept's output change, the drift of the empty "
                                         "and preserved prompts, and time per stage."),
            ],
        )

    @classmethod
    def execute(cls, model, clip, concepts: ConceptSet, recipe: str, strength: float, seed: int,
                erase_scale: float = -1.0, preserve_scale: float = -1.0, lam: float = -1.0, p: float = -1.0,
                informax: str = KEEP, spectral: str = KEEP, bures_iters: int = 0, alpha_min: float = -1.0,
                entropy_samples: int = 0, precision: str = "float32") -> io.NodeOutput:
        config = build_config(recipe, seed, erase_scale, preserve_scale, lam, p, bures_iters, informax, spectral,
                              alpha_min, entropy_samples)
        dtype = torch.float64 if precision == "float64" else torch.float32
        result, info, cached = run(model, clip, concepts, config, dtype)
        patched = glue.apply_edit(model, result.deltas, strength, info)
        header = (f"{info.family} model, {len(result.deltas)} cross-attention weights, recipe {recipe}, "
                  f"strength {strength:g}, seed {seed}" + (" (edit reused from cache)" if cached else ""))
        report = header + "\n" + result.report.to_text()
        return io.NodeOutput(patched, report, ui=ui.PreviewText(report))
