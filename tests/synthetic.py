"""Seeded synthetic problems for the core tests and the solver benchmark.

``random_encode`` stands in for a text encoder: hidden states are a deterministic function of
the prompt text (seeded by its hash), optionally confined to a random ``rank``-dimensional
subspace; a prompt's word tokens are its whitespace-separated words (the blank prompt has 0).
``clip_like_encode`` adds what a CLIP text encoder's states share across prompts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

SD15_WIDTHS = [320] * 5 + [640] * 5 + [1280] * 6
"""Output widths of SD1.5's 16 cross-attention layers (to_k and to_v alike), d = 768."""
SDXL_WIDTHS = [640] * 10 + [1280] * 60
"""Output widths of SDXL's 70 cross-attention layers, d = 2048."""
CROSS_ATTENTION = ("to_k", "to_v")
MODEL_SHAPES = {
    "sd15": (SD15_WIDTHS, 768, CROSS_ATTENTION),
    "sdxl": (SDXL_WIDTHS, 2048, CROSS_ATTENTION),
    "flux1": ([3072], 4096, ("txt_in",)),  # FLUX.1's txt_in on T5-XXL states (its 768-wide vector_in aside)
    "sd35_large": ([2432], 4096, ("context_embedder",)),  # SD3.5 Large's context_embedder (y_embedder aside)
    "wan21_14b": ([5120] * 40, 5120, ("k", "v")),  # Wan 2.1 14B: 40 blocks' cross_attn k and v
}
"""name -> (output widths of the edited layers, their input width d, the weights of each layer): the benchmarks'
model shapes (one weight per layer and kind: SD's to_k and to_v, FLUX.1's one txt_in, ...)."""
VALUE_KINDS = {"sd15": ("to_v",), "sdxl": ("to_v",), "flux1": ("txt_in",), "sd35_large": ("context_embedder",),
               "wan21_14b": ("v",)}
"""name -> the kinds of MODEL_SHAPES' weights that are value projections (what OCE edits: SD's to_v, Wan's cross_attn
v, and the text-input layer of FLUX.1 and SD3, as OCE's release edits FLUX's)."""


def value_keys(model: str, keys) -> set[str]:
    """The keys (named as ``random_weights`` names them) of ``model``'s value projections."""
    return {k for k in keys if k.rsplit(".", 2)[-2] in VALUE_KINDS[model]}


def text_seed(text: str, salt: int = 0) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{text}".encode()).digest()[:7], "little")


def random_encode(d: int, rank: int | None = None, seed: int = 0, scale: float = 1.0):
    """An ``encode(prompts) -> (hidden [N, 77, d] float32, n_tokens [N])`` callable."""
    basis = None
    if rank is not None:
        basis = torch.randn(rank, d, generator=torch.Generator().manual_seed(seed)) / rank**0.5

    def encode(prompts):
        hidden = torch.empty(len(prompts), 77, d)  # filled in place: the states are held once, as an encoder's are
        counts = []
        for i, prompt in enumerate(prompts):
            g = torch.Generator().manual_seed(text_seed(prompt, seed))
            h = torch.randn(77, rank or d, generator=g) * scale
            hidden[i] = h if basis is None else h @ basis
            counts.append(min(len(prompt.split()), 75))
        return hidden, torch.tensor(counts)

    return encode


def clip_like_encode(d: int, seed: int = 0, share: float = 0.35, drift: float = 0.15, rank: int | None = None):
    """An ``encode`` whose prompts share CLIP-like start, end and padding states.

    As measured on the harness's CLIP-L: every state is layer-normalised (norm sqrt(d)); the start
    token's state is the same for every prompt (causal attention); the end and padding states of a
    prompt drift slowly along the positions (cosine ~0.98 between neighbours) and those of two
    prompts have cosine ~0.9 (a shared sequence plus ``share`` times a per-prompt vector). Word
    tokens are random. Under UCE's alignment most paired tokens x, y then nearly coincide, so the
    erase targets nearly cancel the ``X^T X w0`` term: the float32 test problem. With ``rank``, every state is
    then projected onto one random ``rank``-dimensional subspace (and rescaled by sqrt(d / rank), so that the
    states' mean squared norm stays d).
    """
    g = torch.Generator().manual_seed(seed)
    start = torch.randn(d, generator=g)
    padding = torch.randn(d, generator=g) + drift * torch.randn(77, d, generator=g).cumsum(0) / 77**0.5
    projector = None
    if rank is not None:
        basis = torch.linalg.qr(torch.randn(d, rank, generator=g))[0]
        projector = basis @ basis.T * (d / rank) ** 0.5

    def layer_norm(h):
        h = h - h.mean(-1, keepdim=True)
        return h / h.norm(dim=-1, keepdim=True) * d**0.5

    def encode(prompts):
        hidden, counts = [], []
        for prompt in prompts:
            n = min(len(prompt.split()), 75)
            gp = torch.Generator().manual_seed(text_seed(prompt, seed))
            h = padding + share * torch.randn(d, generator=gp) + 0.05 * torch.randn(77, d, generator=gp)
            h[1:n + 1] = torch.randn(n, d, generator=gp)
            h[0] = start
            h = layer_norm(h)
            hidden.append(h if projector is None else h @ projector)
            counts.append(n)
        return torch.stack(hidden).float(), torch.tensor(counts)

    return encode


def _pieces(word: str, salt: int) -> int:
    """1 or 2 sub-tokens per word, by the word's hash (a stand-in for BPE / SentencePiece splits)."""
    return 1 + text_seed(word, salt) % 2


def t5_layout(prompt: str, length: int, start: int = 0, salt: int = 0):
    """A T5-style segment: no start token, the words' pieces from ``start``, the end token, padding."""
    from scapre_core.tokens import Segment
    n = sum(_pieces(w, salt) for w in prompt.split())
    return Segment(start, tuple(range(start, start + n)), start + n, start + length)


def random_layout_encode(d: int, family: str = "t5", length: int = 32, seed: int = 0, scale: float = 1.0,
                         alignment: str = "span"):
    """An ``encode(prompts) -> (hidden [N, S, d], Layout)`` callable for a layout family:

    * "t5": one T5-style segment of ``length`` positions (FLUX's txt_in input);
    * "sd3": a 77-position CLIP segment (start token at 0) followed by a T5 segment of ``length``;
    * "pooled": one position per prompt (a pooled vector: one word, no end token).
    """
    from scapre_core.tokens import Layout, Segment, clip_layout

    def layout(prompt):
        if family == "t5":
            return (t5_layout(prompt, length, salt=seed),)
        if family == "sd3":
            return clip_layout(min(len(prompt.split()), 75)) + (t5_layout(prompt, length, start=77, salt=seed),)
        if family == "pooled":
            return (Segment(0, (0,), None, 1),)
        raise ValueError(family)

    def encode(prompts):
        layouts = tuple(layout(p) for p in prompts)
        S = layouts[0][-1].stop
        hidden = torch.stack([torch.randn(S, d, generator=torch.Generator().manual_seed(text_seed(p, seed))) * scale
                              for p in prompts])
        return hidden.float(), Layout(layouts, alignment)

    return encode


def random_weights(widths, d: int, seed: int = 0, kinds=CROSS_ATTENTION) -> dict[str, torch.Tensor]:
    """Random float32 weights [width, d] keyed like ComfyUI's attn2 keys (opaque to the core)."""
    g = torch.Generator().manual_seed(seed)
    return {f"diffusion_model.block{i}.attn2.{kind}.weight": torch.randn(w, d, generator=g).div_(d**0.5)
            for kind in kinds for i, w in enumerate(widths)}


class RandomWeights(Mapping):
    """``random_weights``' weights (the same values), made one at a time when read: for shapes too large to hold
    next to their edits (Wan 2.1 14B: 80 x [5120, 5120], 8.4 GB in float32).

    Built by drawing every weight once, in random_weights' order, and keeping the generator's state before
    each; reading a key restores its state and draws the weight again.
    """

    def __init__(self, widths, d: int, seed: int = 0, kinds=CROSS_ATTENTION):
        g = torch.Generator().manual_seed(seed)
        self._d, self._states = d, {}
        for kind in kinds:
            for i, w in enumerate(widths):
                self._states[f"diffusion_model.block{i}.attn2.{kind}.weight"] = (w, g.get_state())
                torch.randn(w, d, generator=g)

    def __getitem__(self, key: str) -> torch.Tensor:
        width, state = self._states[key]
        g = torch.Generator()
        g.set_state(state)
        return torch.randn(width, self._d, generator=g).div_(self._d**0.5)  # in place: one weight's bytes

    def __iter__(self):
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


def concept_text(m: int, anchors: bool = False, preserve: int = 0) -> str:
    """A concept list with m concepts of 1-3 words, optionally some anchors and preserve prompts."""
    lines = []
    for j in range(m):
        words = " ".join(["concept", f"c{j}", "word"][: 1 + j % 3])
        lines.append(f"{words}{j}" + (" -> a gentle anchor" if anchors and j % 4 == 1 else ""))
    lines += [f"+ keep number {k}" for k in range(preserve)]
    return "\n".join(lines) + "\n"
