"""Encoding prompts through ComfyUI's CLIP exactly as the model receives them, into the core's ``encode`` form."""

from __future__ import annotations

import torch

from ...scapre_core import ConceptError
from ...scapre_core.tokens import CONTEXT_LENGTH, Layout
from .families import TextStream, UnsupportedModel


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
                               f"chunk (at most {CONTEXT_LENGTH - 2} tokens)")
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
            hidden.append(cond.reshape(len(group), CONTEXT_LENGTH, -1).to(device="cpu", dtype=torch.float32))
        return torch.cat(hidden), torch.tensor([n for _, n in tokenized])

    return encode


def clip_width(clip) -> int:
    """Width of the conditioning this CLIP produces (encodes the empty prompt once)."""
    return int(clip.encode_from_tokens(clip.tokenize("")).shape[-1])


def tokenize(clip, text: str) -> dict:
    """A prompt's tokens as the model's encoder reads it, literally: no "(word:1.2)" weights (they would mix in
    the empty prompt). The Qwen tokenizers refuse ``disable_weights`` (they always pass it themselves): for them
    it is left out, which changes nothing since they never parse weights."""
    try:
        return clip.tokenize(text, return_word_ids=True, disable_weights=True)
    except TypeError as err:  # "got multiple values for keyword argument 'disable_weights'"
        if "disable_weights" not in str(err):
            raise
        return clip.tokenize(text, return_word_ids=True)


class PromptStates:
    """Each prompt's tokens and everything its text encoder returns for it (conditioning [S, d], pooled vector,
    other outputs), exactly as the model receives them.

    One tokenisation (``tokenize``) and one ``clip.encode_from_tokens(..., return_pooled=True,
    return_dict=True)`` per prompt, as CLIPTextEncode does (a batch would change nothing but the pooled vector,
    which ComfyUI returns for the first prompt only); cached, so several streams of one model share the
    encoding. With ``cache=False`` nothing is kept (the preserve prior's 1,000 prompts would hold gigabytes of
    T5 states).
    """

    def __init__(self, clip, cache: bool = True):
        self.clip = clip
        self._cache: dict[str, tuple] | None = {} if cache else None

    def __call__(self, text: str) -> tuple[dict, dict]:
        if self._cache is not None and text in self._cache:
            return self._cache[text]
        tokens = tokenize(self.clip, text)
        out = self.clip.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
        states = (tokens, out)
        if self._cache is not None:
            self._cache[text] = states
        return states


def stream_input(stream: TextStream, out: dict) -> torch.Tensor:
    """A prompt's rows [S, e] in one stream's input: its conditioning, its pooled vector as one row, or a slice
    of another output of the encoder."""
    if stream.source == "pooled":
        x = out["pooled_output"]
    elif stream.source == "cond":
        x = out["cond"][0]
    else:
        x = out[stream.source][0] if stream.index is None else out[stream.source][0, stream.index]
    return x.float().reshape(-1, x.shape[-1])


def stream_encoder(states: PromptStates, stream: TextStream, weights, device: torch.device):
    """An ``encode(prompts) -> (hidden [N, S, d], Layout)`` callable for one stream that is not SD's CLIP form.

    A prompt's rows are its input for the stream passed through the stream's features; prompts of different
    lengths (Chroma's unpadded T5, LLM prompts, prompts over T5's minimum length) are zero-padded to the
    longest: rows past a prompt's last segment are never aligned and add nothing to the preserve terms.
    """

    def encode(prompts: list[str]) -> tuple[torch.Tensor, Layout]:
        rows, layouts = [], []
        for text in prompts:
            tokens, out = states(text)
            x = stream_input(stream, out).to(device)
            layout = stream.layout(states.clip, tokens, text, x.shape[0])
            x = stream.features(weights, x) if stream.features is not None else x
            if layout[-1].stop != x.shape[0]:
                raise UnsupportedModel(f"the text encoder returned {x.shape[0]} rows for {text!r} where its tokens "
                                       f"lay out {layout[-1].stop}: is this CLIP the model's own?")
            rows.append(x)
            layouts.append(layout)
        length = max(r.shape[0] for r in rows)
        hidden = torch.stack([torch.nn.functional.pad(r, (0, 0, 0, length - r.shape[0])) for r in rows])
        return hidden, Layout(tuple(layouts), stream.alignment)

    return encode
