"""What one edit of one model reads: its family's text streams, their weights and their encoders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .families import UnsupportedModel, family_of, model_family, stream_keys
from .text import PromptStates, clip_encoder, clip_width, stream_encoder
from .weights import EffectiveWeights


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
    streams = family.streams_of(model)
    keys = {stream.name: stream_keys(model, stream) for stream in streams}
    reader = EffectiveWeights(model, [k for ks in keys.values() for k in ks], device)
    if family.tokens is not None:
        found = set(clip.tokenize(""))
        kind = type(clip.tokenizer).__name__
        if found != family.tokens or (family.tokenizer and kind != family.tokenizer):
            raise UnsupportedModel(f"this CLIP is not the text encoder of this {name} ({family.label}) model: it "
                                   f"tokenises for {sorted(found)} with {kind}, the model needs {family.encoder}")
    states = PromptStates(clip)
    planned, prior_encoders = {}, {}
    for stream in streams:
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
        planned[stream.name] = (weights, encode)
    return EditPlan(name, planned, prior_encoders, reader)
