"""Text-encoder hidden states -> the token matrices the closed form uses (spec 2.2).

The encode contract: ``encode(prompts) -> (hidden [N, S, d] float32, layout)`` where ``layout`` says where
each prompt's tokens sit in its S positions, in one of two forms:

* ``n_tokens`` [N] long (the CLIP form of every SD model): S = 77, index 0 is the start token, prompt i's
  word tokens are 1 .. n_tokens[i], its end token is n_tokens[i] + 1 and the rest is padding (the blank
  prompt has n_tokens == 0). It stands for ``clip_layout(n)`` per prompt with the "released" alignment.
* a ``Layout``: one ``PromptLayout`` per prompt, each a tuple of ``Segment`` s (a segment is one encoder's
  block of the sequence, e.g. SD3's 77 CLIP rows followed by its T5 rows), plus the alignment to use when
  the config says "auto". A one-position sequence (a pooled vector) is a segment whose one "word" is the
  vector itself and that has no end token.

Alignment (which concept positions are paired with which anchor positions) is done per segment; with
``f_o`` / ``f_n`` the last word of the concept / anchor (the position before the end token when there are no
words), ``e_o`` / ``e_n`` their end tokens (their last words when there is none) and ``s_n`` the anchor
segment's first position:

* "released" (UCE's alignment, used by every released ScaPre command): from the last word on, position by
  position, ``f_o + t <-> f_n + t`` for t = 0, 1, ... while both stay in their segment (last word, end
  token, padding). On the CLIP form this is exactly the authors' slicing ``[f : 77 - (max(f_o, f_n) - f)]``.
* "span": every word token of the concept and its end token, right-aligned at the end tokens:
  ``e_o - t <-> max(s_n, e_n - t)`` for t = 0 .. e_o - (first word of the concept); padding is left alone
  (T5 encoders pad to hundreds of positions that carry the prompt too).
* "span+pads": "span", then the padding, ``e_o + t <-> e_n + t`` for t >= 1 while both stay in their segment.
* "words": every word token of the concept and nothing else, right-aligned at the last words:
  ``f_o - t <-> max(s_n, f_n - t)`` for t = 0 .. f_o - (first word of the concept); an anchor without words
  gives its end token. For encoders whose end token is a template's token, the same in every prompt (an LLM's
  end of turn): an edit of its row would move every prompt.
* "all": every position with the same position of the anchor (prompts of equal length): with every position
  aligned, the edited weight sees for the concept what the original saw for the anchor.

Concept vectors ``e_j`` (the informax, entropy and spectral statistics) are each concept's last word token in
its first segment; ``nu`` is the empty prompt's end token in its first segment (its one position for a pooled
vector).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import torch
from torch import Tensor

from .concepts import ConceptError, ConceptSet

CONTEXT_LENGTH = 77
MAX_WORD_TOKENS = CONTEXT_LENGTH - 2
ALIGNMENTS = ("released", "span", "span+pads", "all", "words")
"""The alignments ``encode_concepts`` knows (the config's "auto" means: the one the layout states)."""


@dataclass(frozen=True)
class Segment:
    """One encoder's block of a prompt's sequence: positions ``start .. stop - 1``.

    ``words``: the positions of the prompt's word tokens (every sub-token), ascending; ``end``: the end token's
    position (after the words), or None when the segment has none (a pooled vector: one word, no end);
    positions after the end token are padding, positions before the first word (a start token) belong to no
    group. Without words and end token, the segment's last position stands for the prompt.
    """

    start: int
    words: tuple[int, ...]
    end: int | None
    stop: int

    def __post_init__(self):
        limit = self.stop if self.end is None else self.end
        inside = all(self.start <= w < limit for w in self.words) and (
            self.start <= self.end < self.stop if self.end is not None else self.start < self.stop)
        if not inside or list(self.words) != sorted(set(self.words)):
            raise ValueError(f"inconsistent segment {self}: need start <= words < end < stop (words ascending), "
                             "or start <= words < stop and no end token")

    @property
    def last(self) -> int:
        """The last word token (the position before the end token when there are no words)."""
        if self.words:
            return self.words[-1]
        return max(self.start, self.end - 1) if self.end is not None else self.stop - 1

    @property
    def first(self) -> int:
        return self.words[0] if self.words else self.tail

    @property
    def tail(self) -> int:
        """The end token, or the last word where there is none: what the "span" alignments right-align at."""
        return self.last if self.end is None else self.end

    @property
    def key(self) -> int:
        """The token standing for the prompt in the statistics: its last word (its end token if it has none)."""
        return self.words[-1] if self.words else self.tail


PromptLayout = tuple[Segment, ...]


@dataclass(frozen=True)
class Layout:
    """Where every prompt's tokens are, and the alignment "auto" stands for."""

    prompts: tuple[PromptLayout, ...]
    alignment: str = "span"

    def __post_init__(self):
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")


def clip_layout(n_tokens: int, length: int = CONTEXT_LENGTH) -> PromptLayout:
    """The CLIP form: start token at 0, words 1 .. n, end token n + 1, padding up to ``length``."""
    return (Segment(0, tuple(range(1, n_tokens + 1)), n_tokens + 1, length),)


Encode = Callable[[list[str]], tuple[Tensor, Union[Tensor, Layout]]]


@dataclass
class TokenMatrices:
    """Aligned token matrices of one concept set (in the encoder's dtype, on one device).

    Attributes:
        E: [m, d] concept j's last word token e_j.
        nu: [d] the empty prompt's end token (the informax negatives).
        X: [T, d] every concept's aligned context tokens x_{j,t}, concept after concept.
        token_concept: [T] long, the concept j of each row of X.
        anchor_pool: [A * S, d] every distinct anchor prompt's S outputs, anchor after anchor.
        token_slot: [T] long, the row of anchor_pool paired with each row of X (y_{j,t}).
        preserve: [P * S, d] all S outputs of each preserve prompt.
        preserve_last: [P, d] each preserve prompt's key token (its last word, in its first segment).
        empty: [S, d] the empty prompt's S outputs.
        lengths: [m] long, the number of aligned tokens of each concept, L_j.
        alignment: the alignment used (one of ALIGNMENTS).
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
    alignment: str = "released"

    @property
    def d(self) -> int:
        return self.E.shape[1]

    @property
    def m(self) -> int:
        return self.E.shape[0]

    @property
    def sequence(self) -> int:
        """S, the number of positions of every prompt."""
        return self.empty.shape[0]

    def concept_tokens(self, j: int) -> tuple[Tensor, Tensor]:
        """(X_j, Y_j): concept j's aligned context and anchor tokens, each [L_j, d]."""
        rows = self.token_concept == j
        return self.X[rows], self.anchor_pool[self.token_slot[rows]]


def prompt_list(concepts: ConceptSet) -> list[str]:
    """Every distinct prompt the core encodes: concepts, anchors, preserve prompts, and ""."""
    prompts = [c.text for c in concepts.erase] + list(concepts.anchors) + list(concepts.preserve) + [""]
    return list(dict.fromkeys(prompts))


def as_layout(prompts: list[str], hidden: Tensor, layout) -> Layout:
    """Check what ``encode`` returned and turn the CLIP form into a Layout ("released" alignment)."""
    n = len(prompts)
    if not (isinstance(hidden, Tensor) and hidden.is_floating_point() and hidden.ndim == 3 and hidden.shape[0] == n):
        shape = tuple(hidden.shape) if isinstance(hidden, Tensor) else type(hidden).__name__
        raise ValueError(f"encode must return float hidden states [{n}, S, d], got {shape}")
    bad = [prompt for prompt, states in zip(prompts, hidden) if not torch.isfinite(states).all()]  # one at a time
    if bad:
        raise ValueError(f"encode returned non-finite hidden states for {bad[:5]}")
    if isinstance(layout, Layout):
        if len(layout.prompts) != n:
            raise ValueError(f"encode's layout describes {len(layout.prompts)} prompts, not {n}")
        for prompt, segments in zip(prompts, layout.prompts):
            if not segments or any(s.stop > hidden.shape[1] for s in segments):
                raise ValueError(f"the layout of {prompt!r} does not fit its {hidden.shape[1]} positions")
        return layout
    if not (isinstance(layout, Tensor) and layout.shape == (n,)):
        raise ValueError(f"encode must return n_tokens of shape [{n}] or a Layout")
    if hidden.shape[1] != CONTEXT_LENGTH:
        raise ValueError(f"with n_tokens, encode must return hidden states [{n}, {CONTEXT_LENGTH}, d], "
                         f"got {tuple(hidden.shape)}")
    for prompt, count in zip(prompts, layout.tolist()):
        if not 0 <= count <= MAX_WORD_TOKENS:
            raise ConceptError(f"{prompt!r} has {count} word tokens; one 77-token chunk holds at most "
                               f"{MAX_WORD_TOKENS}")
    return Layout(tuple(clip_layout(int(c)) for c in layout.tolist()), alignment="released")


def aligned_positions(concept: Segment, anchor: Segment, alignment: str) -> tuple[list[int], list[int]]:
    """(concept positions, anchor positions) paired within one segment (see the module docstring)."""
    if alignment == "released":
        count = min(concept.stop - concept.last, anchor.stop - anchor.last)
        return [concept.last + t for t in range(count)], [anchor.last + t for t in range(count)]
    if alignment == "all":
        if concept.stop - concept.start != anchor.stop - anchor.start:
            raise ConceptError("alignment 'all' needs the concept and its anchor to have equally long sequences")
        return list(range(concept.start, concept.stop)), list(range(anchor.start, anchor.stop))
    if alignment == "words":
        back = range(concept.last - concept.first, -1, -1)  # the words, in ascending concept positions
        return [concept.last - t for t in back], [max(anchor.start, anchor.last - t) for t in back]
    back = range(concept.tail - concept.first, -1, -1)  # the span, in ascending concept positions
    ours = [concept.tail - t for t in back]
    theirs = [max(anchor.start, anchor.tail - t) for t in back]
    if alignment == "span+pads":
        count = min(concept.stop - concept.tail, anchor.stop - anchor.tail) - 1
        ours += [concept.tail + t for t in range(1, count + 1)]
        theirs += [anchor.tail + t for t in range(1, count + 1)]
    return ours, theirs


def encode_concepts(encode: Encode, concepts: ConceptSet, device: torch.device | str = "cpu",
                    alignment: str = "auto") -> TokenMatrices:
    """Encode every prompt of ``concepts`` in one ``encode`` call and align the tokens (spec 2.2).

    ``alignment``: one of ALIGNMENTS, or "auto" for the one the encoder's layout states ("released" for the
    CLIP form).
    """
    prompts = prompt_list(concepts)
    hidden, raw_layout = encode(prompts)
    layout = as_layout(prompts, hidden, raw_layout)
    alignment = layout.alignment if alignment == "auto" else alignment
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be 'auto' or one of {ALIGNMENTS}, got {alignment!r}")
    index = {p: i for i, p in enumerate(prompts)}
    of = {p: layout.prompts[index[p]] for p in prompts}
    for c in concepts.erase:
        if not any(s.words for s in of[c.text]):
            raise ConceptError(f"concept {c.text!r} encodes to no word tokens")
        if len(of[c.text]) != len(of[c.anchor]):
            raise ConceptError(f"concept {c.text!r} and its anchor {c.anchor!r} have different segment counts")
    hidden = hidden.to(device)
    S = hidden.shape[1]

    anchors = list(concepts.anchors)
    sources, slots, owners, lengths = [], [], [], []
    for j, c in enumerate(concepts.erase):
        ours, theirs = [], []
        for concept_segment, anchor_segment in zip(of[c.text], of[c.anchor]):
            o, t = aligned_positions(concept_segment, anchor_segment, alignment)
            ours += o
            theirs += t
        base = anchors.index(c.anchor) * S
        sources += [index[c.text] * S + o for o in ours]
        slots.append(base + torch.tensor(theirs, dtype=torch.long, device=device))
        owners.append(torch.full((len(ours),), j, dtype=torch.long, device=device))
        lengths.append(len(ours))

    concept_rows = [index[c.text] for c in concepts.erase]
    last = torch.tensor([of[c.text][0].key for c in concepts.erase], device=device)
    d = hidden.shape[2]
    return TokenMatrices(
        E=hidden[concept_rows, last],
        nu=hidden[index[""], of[""][0].tail].clone(),  # clones of views: the states [N, S, d] are not kept
        X=hidden.reshape(-1, d)[torch.tensor(sources, dtype=torch.long, device=device)],  # one gather, no pieces
        token_concept=torch.cat(owners),
        anchor_pool=hidden[[index[a] for a in anchors]].reshape(-1, d),
        token_slot=torch.cat(slots),
        preserve=hidden[[index[p] for p in concepts.preserve]].reshape(-1, d),
        preserve_last=hidden[[index[p] for p in concepts.preserve], [of[p][0].key for p in concepts.preserve]],
        empty=hidden[index[""]].clone(),
        lengths=torch.tensor(lengths, device=device),
        alignment=alignment,
    )
