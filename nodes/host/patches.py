"""The edit as a non-destructive patch: added to a clone of the model as tagged patches, found again for saving,
and the progress bar and identity of the run that computes it.

A dense edit is a ("diff", (delta, extra)) patch; an edit kept as exact factors ``up @ down`` is a ``ScaPreLoRA``,
ComfyUI's own "lora" weight adapter (comfy/weight_adapter/lora.py: ``W += strength * up @ down``, formed in float32
when the weight is patched), carrying the run's EditInfo. Factors with a row scale s (ScaPre's Bures step) are a
``ScaPreLoRA`` whose own ``calculate_weight`` adds ``strength * (diag(s) W + up @ down)``, W the weight as the
patches before it leave it: the weight the edit read (``weights.EffectiveWeights``: the stored weight and the
upstream patches). All are applied, stacked and removed by the model patcher exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_management
import comfy.utils
import torch
from comfy.weight_adapter.lora import LoRAAdapter

from ...scapre_core.lowrank import Factors, as_dense
from .weights import EffectiveWeights

PATCH_TAG = "scapre"
"""Key in the extra dict of our ("diff", (delta, extra)) patches; survives ``model.clone()``."""


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
    most_moved: tuple[str, ...] = ()
    """The general prompts the edit moved most, most first (empty when its report names none)."""


class ScaPreLoRA(LoRAAdapter):
    """ComfyUI's "lora" adapter for an edit kept as exact factors (``weights = (up, down, alpha None, mid None,
    dora None, reshape None)``: no rescaling), tagged with the ScaPre run it came from; with a row scale, its own
    ``calculate_weight``."""

    def __init__(self, factors: Factors, info: EditInfo):
        super().__init__(set(), (factors.up, factors.down, None, None, None, None))
        self.scale = factors.scale
        self.info = info

    @property
    def factors(self) -> Factors:
        return Factors(self.weights[0], self.weights[1], self.scale)

    def calculate_weight(self, weight, key, strength, strength_model, offset, function,
                         intermediate_dtype=torch.float32, original_weight=None):
        if self.scale is None:
            return super().calculate_weight(weight, key, strength, strength_model, offset, function,
                                            intermediate_dtype, original_weight)
        edit = Factors(*(comfy.model_management.cast_to_device(t, weight.device, intermediate_dtype)
                         for t in (self.weights[0], self.weights[1], self.scale)))
        with torch.no_grad():  # the factors are inference tensors; the weight being patched may require grad
            weight += function((strength * edit.dense(weight.to(intermediate_dtype))).type(weight.dtype))
        return weight


def _patch(edit: torch.Tensor | Factors, info: EditInfo):
    if isinstance(edit, Factors):
        return ScaPreLoRA(edit, info)
    return ("diff", (edit, {"pad_weight": False, PATCH_TAG: info}))


def apply_edit(model, deltas: dict[str, torch.Tensor | Factors], strength: float, info: EditInfo):
    """A clone of ``model`` with ``strength * delta`` added to each key as a tagged patch ("diff" for a dense
    delta, ComfyUI's "lora" adapter for exact factors)."""
    patched = model.clone()
    patches = {key: _patch(delta, info) for key, delta in deltas.items()}
    accepted = set(patched.add_patches(patches, strength_patch=strength))
    missing = sorted(set(deltas) - accepted)
    if missing:
        raise RuntimeError(f"the model refused {len(missing)} ScaPre patch(es), e.g. {missing[0]}")
    return patched


def _tagged(value) -> tuple[torch.Tensor | Factors, EditInfo] | None:
    """(the edit, its EditInfo) of one of our patches; None for any other patch."""
    if isinstance(value, ScaPreLoRA):
        return value.factors, value.info
    if (isinstance(value, tuple) and len(value) == 2 and value[0] == "diff" and len(value[1]) > 1
            and isinstance(value[1][1], dict) and PATCH_TAG in value[1][1]):
        return value[1][0], value[1][1][PATCH_TAG]
    return None


def _add(total: torch.Tensor | Factors | None, edit: torch.Tensor | Factors) -> torch.Tensor | Factors:
    """The sum of two edits (neither with a row scale): factors stacked side by side while both are factors, else
    dense."""
    if total is None:
        return edit
    if isinstance(total, Factors) and isinstance(edit, Factors):
        return Factors(torch.cat([total.up, edit.up], dim=1), torch.cat([total.down, edit.down]))
    return as_dense(total) + as_dense(edit)


def scapre_edits(model, factors: bool = False) -> tuple[dict[str, torch.Tensor | Factors], list[EditInfo]]:
    """The sum of ``strength * delta`` over every ScaPre patch on ``model`` (upstream LoRAs and other patches
    excluded), dense (float32), and the EditInfo of each ScaPre run that contributed. With ``factors``, a key
    whose ScaPre patches are all exact factors without a row scale keeps them as factors (stacked side by side:
    their ranks add); a row scale is formed against the weight under its patch."""
    total: dict[str, torch.Tensor | Factors] = {}
    reader = None
    for key, patches in model.patches.items():
        for index, (strength, value, strength_model, offset, function) in enumerate(patches):
            tagged = _tagged(value)
            if tagged is None:
                continue
            edit = tagged[0]
            if isinstance(edit, Factors) and edit.scale is not None:
                reader = reader or EffectiveWeights(model, [], torch.device("cpu"))
                edit = strength * edit.to(torch.float32).dense(reader.under(key, index))
            elif isinstance(edit, Factors):
                edit = Factors(strength * edit.up.float(), edit.down.float())
            else:
                edit = strength * edit.float()
            total[key] = _add(total.get(key), edit)
    if not factors:
        total = {key: as_dense(edit) for key, edit in total.items()}
    return total, scapre_infos(model)


def scapre_infos(model) -> list[EditInfo]:
    """The EditInfo of each ScaPre run whose patches ``model`` carries, in the order they were added."""
    infos: list[EditInfo] = []
    for patches in model.patches.values():
        for _, value, *_ in patches:
            tagged = _tagged(value)
            if tagged is not None and tagged[1] not in infos:
                infos.append(tagged[1])
    return infos
