"""Seeded synthetic problems for the core tests and the solver benchmark.

``random_encode`` stands in for a text encoder: hidden states are a deterministic function of
the prompt text (seeded by its hash), optionally confined to a random ``rank``-dimensional
subspace; a prompt's word tokens are its whitespace-separated words (the blank prompt has 0).
``clip_like_encode`` adds what a CLIP text encoder's states share across prompts.
"""

from __future__ import annotations

import hashlib

import torch

SD15_WIDTHS = [320] * 5 + [640] * 5 + [1280] * 6
"""Output widths of SD1.5's 16 cross-attention layers (to_k and to_v alike), d = 768."""
SDXL_WIDTHS = [640] * 10 + [1280] * 60
"""Output widths of SDXL's 70 cross-attention layers, d = 2048."""
MODEL_SHAPES = {"sd15": (SD15_WIDTHS, 768), "sdxl": (SDXL_WIDTHS, 2048)}
"""name -> (output widths of the cross-attention layers, text width d): the benchmarks' model shapes."""


def text_seed(text: str, salt: int = 0) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{text}".encode()).digest()[:7], "little")


def random_encode(d: int, rank: int | None = None, seed: int = 0, scale: float = 1.0):
    """An ``encode(prompts) -> (hidden [N, 77, d] float32, n_tokens [N])`` callable."""
    basis = None
    if rank is not None:
        basis = torch.randn(rank, d, generator=torch.Generator().manual_seed(seed)) / rank**0.5

    def encode(prompts):
        hidden, counts = [], []
        for prompt in prompts:
            g = torch.Generator().manual_seed(text_seed(prompt, seed))
            h = torch.randn(77, rank or d, generator=g) * scale
            hidden.append(h if basis is None else h @ basis)
            counts.append(min(len(prompt.split()), 75))
        return torch.stack(hidden).float(), torch.tensor(counts)

    return encode


def clip_like_encode(d: int, seed: int = 0, share: float = 0.35, drift: float = 0.15):
    """An ``encode`` whose prompts share CLIP-like start, end and padding states.

    As measured on the harness's CLIP-L: every state is layer-normalised (norm sqrt(d)); the start
    token's state is the same for every prompt (causal attention); the end and padding states of a
    prompt drift slowly along the positions (cosine ~0.98 between neighbours) and those of two
    prompts have cosine ~0.9 (a shared sequence plus ``share`` times a per-prompt vector). Word
    tokens are random. Under UCE's alignment most paired tokens x, y then nearly coincide, so the
    erase targets nearly cancel the ``X^T X w0`` term: the float32 test problem.
    """
    g = torch.Generator().manual_seed(seed)
    start = torch.randn(d, generator=g)
    padding = torch.randn(d, generator=g) + drift * torch.randn(77, d, generator=g).cumsum(0) / 77**0.5

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
            hidden.append(layer_norm(h))
            counts.append(n)
        return torch.stack(hidden).float(), torch.tensor(counts)

    return encode


def random_weights(widths, d: int, seed: int = 0, kinds=("to_k", "to_v")) -> dict[str, torch.Tensor]:
    """Random float32 weights [width, d] keyed like ComfyUI's attn2 keys (opaque to the core)."""
    g = torch.Generator().manual_seed(seed)
    return {f"diffusion_model.block{i}.attn2.{kind}.weight": torch.randn(w, d, generator=g) / d**0.5
            for kind in kinds for i, w in enumerate(widths)}


def concept_text(m: int, anchors: bool = False, preserve: int = 0) -> str:
    """A concept list with m concepts of 1-3 words, optionally some anchors and preserve prompts."""
    lines = []
    for j in range(m):
        words = " ".join(["concept", f"c{j}", "word"][: 1 + j % 3])
        lines.append(f"{words}{j}" + (" -> a gentle anchor" if anchors and j % 4 == 1 else ""))
    lines += [f"+ keep number {k}" for k in range(preserve)]
    return "\n".join(lines) + "\n"
