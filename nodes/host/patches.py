"""The edit as a non-destructive patch: added to a clone of the model as tagged "diff" patches, found again for
saving, and the progress bar and identity of the run that computes it."""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_management
import comfy.utils
import torch

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
