"""Text-encoder hidden states -> the token matrices the closed form uses (spec 2.2).

The encode contract: ``encode(prompts) -> (hidden [N, 77, d] float32, n_tokens [N] long)``
where prompt i's last word token sits at index ``n_tokens[i]`` and its end token at
``n_tokens[i] + 1`` (index 0 is the start token; the blank prompt has ``n_tokens == 0``).

UCE's alignment, used by every method: for concept j with ``f_o`` word tokens and its anchor
with ``f_n``, let ``f = max(f_o, f_n)`` and ``L_j = 77 - f``; the concept prompt's outputs at
positions ``f_o .. f_o + L_j - 1`` (last word token, end token, padding) are paired position
by position with the anchor prompt's outputs at ``f_n .. f_n + L_j - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from .concepts import ConceptError, ConceptSet

CONTEXT_LENGTH = 77
MAX_WORD_TOKENS = CONTEXT_LENGTH - 2

Encode = Callable[[list[str]], tuple[Tensor, Tensor]]


@dataclass
class TokenMatrices:
    """Aligned token matrices of one concept set (in the encoder's dtype, on one device).

    Attributes:
        E: [m, d] concept j's last word token e_j.
        nu: [d] the empty prompt's end token (the informax negatives).
        X: [T, d] every concept's aligned context tokens x_{j,t}, concept after concept.
        token_concept: [T] long, the concept j of each row of X.
        anchor_pool: [A * 77, d] every distinct anchor prompt's 77 outputs, anchor after anchor.
        token_slot: [T] long, the row of anchor_pool paired with each row of X (y_{j,t}).
        preserve: [P * 77, d] all 77 outputs of each preserve prompt.
        preserve_last: [P, d] each preserve prompt's last word token.
        empty: [77, d] the empty prompt's 77 outputs.
        lengths: [m] long, L_j.
    """

    E: Tensor
    nu: Tensor
    X: Tensor
    token_concept: Tensor
    anchor_pool: Tensor
    token_slot: Tensor
    preserve: Tensor
    preserve_last: Tensor
    empty: Tensor
    lengths: Tensor

    @property
    def d(self) -> int:
        return self.E.shape[1]

    @property
    def m(self) -> int:
        return self.E.shape[0]

    def concept_tokens(self, j: int) -> tuple[Tensor, Tensor]:
        """(X_j, Y_j): concept j's aligned context and anchor tokens, each [L_j, d]."""
        rows = self.token_concept == j
        return self.X[rows], self.anchor_pool[self.token_slot[rows]]


def prompt_list(concepts: ConceptSet) -> list[str]:
    """Every distinct prompt the core encodes: concepts, anchors, preserve prompts, and ""."""
    prompts = [c.text for c in concepts.erase] + list(concepts.anchors) + list(concepts.preserve) + [""]
    return list(dict.fromkeys(prompts))


def check_encoding(prompts: list[str], hidden: Tensor, n_tokens: Tensor) -> None:
    """Raise ValueError unless ``encode`` kept its contract for these prompts."""
    n = len(prompts)
    if not (isinstance(hidden, Tensor) and hidden.is_floating_point() and hidden.ndim == 3
            and hidden.shape[0] == n and hidden.shape[1] == CONTEXT_LENGTH):
        shape = tuple(hidden.shape) if isinstance(hidden, Tensor) else type(hidden).__name__
        raise ValueError(f"encode must return float hidden states [{n}, {CONTEXT_LENGTH}, d], got {shape}")
    if not (isinstance(n_tokens, Tensor) and n_tokens.shape == (n,)):
        raise ValueError(f"encode must return n_tokens of shape [{n}]")
    if not torch.isfinite(hidden).all():
        bad = [prompts[i] for i in range(n) if not torch.isfinite(hidden[i]).all()]
        raise ValueError(f"encode returned non-finite hidden states for {bad[:5]}")
    for prompt, count in zip(prompts, n_tokens.tolist()):
        if not 0 <= count <= MAX_WORD_TOKENS:
            raise ConceptError(f"{prompt!r} has {count} word tokens; one 77-token chunk holds at most "
                               f"{MAX_WORD_TOKENS}")


def encode_concepts(encode: Encode, concepts: ConceptSet, device: torch.device | str = "cpu") -> TokenMatrices:
    """Encode every prompt of ``concepts`` in one ``encode`` call and align the tokens (spec 2.2)."""
    prompts = prompt_list(concepts)
    hidden, n_tokens = encode(prompts)
    check_encoding(prompts, hidden, n_tokens)
    index = {p: i for i, p in enumerate(prompts)}
    counts = n_tokens.tolist()
    for c in concepts.erase:
        if counts[index[c.text]] == 0:
            raise ConceptError(f"concept {c.text!r} encodes to no word tokens")
    hidden = hidden.to(device)

    anchors = list(concepts.anchors)
    contexts, slots, owners, lengths = [], [], [], []
    for j, c in enumerate(concepts.erase):
        f_o, f_n = counts[index[c.text]], counts[index[c.anchor]]
        length = CONTEXT_LENGTH - max(f_o, f_n)
        contexts.append(hidden[index[c.text], f_o:f_o + length])
        slots.append(anchors.index(c.anchor) * CONTEXT_LENGTH + f_n + torch.arange(length, device=device))
        owners.append(torch.full((length,), j, dtype=torch.long, device=device))
        lengths.append(length)

    concept_rows = [index[c.text] for c in concepts.erase]
    last = torch.tensor([counts[i] for i in concept_rows], device=device)
    d = hidden.shape[2]
    return TokenMatrices(
        E=hidden[concept_rows, last],
        nu=hidden[index[""], 1],
        X=torch.cat(contexts),
        token_concept=torch.cat(owners),
        anchor_pool=hidden[[index[a] for a in anchors]].reshape(-1, d),
        token_slot=torch.cat(slots),
        preserve=hidden[[index[p] for p in concepts.preserve]].reshape(-1, d),
        preserve_last=hidden[[index[p] for p in concepts.preserve], [counts[index[p]] for p in concepts.preserve]],
        empty=hidden[index[""]],
        lengths=torch.tensor(lengths, device=device),
    )
