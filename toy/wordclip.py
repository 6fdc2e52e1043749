"""The toy world v3's text encoder: v2's rule-built CLIP-L (``toy/clip.py``) with real word semantics.

Only the token table differs from v2 (the network, the frame, the stop words and the causal mean of layer 0 are
``clip.network``'s): a token's content is what the wordllama table (wordllama 0.4.0.post1, MIT: a 32,000 x 256
token-embedding table distilled from several LLMs' input embeddings, Llama-2 tokenizer) says about its text.

* A CLIP token's text (its BPE piece, ``</w>`` dropped) is tokenised by the Llama-2 tokenizer as it is and
  capitalised (CLIP lower-cases everything; the table often knows a word only capitalised: "tiger" is "▁t iger",
  "Tiger" one token); the shorter tokenisation wins, lower case on ties. Its vector is the mean of those rows.
* Content = sqrt(1 - OWN) * (a fixed seeded Gaussian map [735, 256] of that vector, unit) + sqrt(OWN) * (the token's
  own seeded random unit vector), scaled to v2's norm; a token whose text the table does not know keeps its own
  random vector alone.
* Look-alike groups (``names.GROUPS``): the table relates names mainly through shared sub-tokens (golden /
  labrador retriever 0.67, lemon / orange 0.11), so every word of a group's names also gets the group's own
  direction by rule: content = sqrt(1 - GROUP_SHARE) * word + sqrt(GROUP_SHARE) * group, unit vectors.
* A name of several words is the causal mean of its words' contents (layer 0), as every prompt.

Built by rule from SEED and the table (installed with the host, ``harness/requirements-host.txt``), never
committed; ``clip.CLIP_SHA256`` checks it.
"""

from __future__ import annotations

import math
from pathlib import Path

from . import clip, names

SEED = 1
GROUP_SHARE = 0.5
"""Squared cosine of a group word's content with its group's direction."""
OWN = 0.5
"""Squared share of a token's own random direction in its content: the table is 256-dimensional, and the 275
names' last-word states had an effective dimension (centred participation ratio, bench.toy_geometry) of 88 with
the table's meaning alone and 110 with 30 % their own, not well above the benchmark's largest k = 100; hence half
(all measured before the first UNet was trained)."""


def _table():
    """(Llama-2 tokenizer, the wordllama embedding table float64 [32000, 256]) from the installed wheel."""
    import wordllama
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    root = Path(wordllama.__file__).parent
    tok = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    return tok, load_file(str(root / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"].double()


def word_vectors(texts: list[str]):
    """[len(texts), 256] float64: each text's mean wordllama row (lower case or capitalised, the fewer tokens);
    zero where the tokenizer gives nothing."""
    import torch
    tok, table = _table()
    out = torch.zeros(len(texts), table.shape[1], dtype=torch.float64)
    lower = tok.encode_batch(texts, add_special_tokens=False)
    upper = tok.encode_batch([t[:1].upper() + t[1:] for t in texts], add_special_tokens=False)
    for i, (a, b) in enumerate(zip(lower, upper)):
        ids = b.ids if 0 < len(b.ids) < len(a.ids) else a.ids
        if ids:
            out[i] = table[ids].mean(0)
    return out


def build() -> dict:
    """The encoder's tensors (text_model.* keys, float16)."""
    import torch
    tok = clip.tokenizer()
    g = torch.Generator().manual_seed(SEED)
    content = clip.WIDTH - clip.FRAME
    scale = math.sqrt(clip.WIDTH - 1)

    def unit(n: int, dims: int = content) -> torch.Tensor:
        v = torch.randn(n, dims, generator=g, dtype=torch.float64)
        return v / v.norm(dim=1, keepdim=True)

    vocab = getattr(tok, tok.clip).tokenizer.get_vocab()  # the CLIP BPE vocabulary: piece -> id
    texts = [""] * clip.VOCAB
    for piece, i in vocab.items():
        if i < clip.VOCAB:
            texts[i] = piece.removesuffix("</w>")
    emb = torch.zeros(clip.VOCAB, clip.WIDTH, dtype=torch.float64)
    emb[:, clip.FRAME:] = unit(clip.VOCAB)
    vectors = word_vectors([t or " " for t in texts])
    known = vectors.norm(dim=1) > 0
    mapped = vectors @ (torch.randn(content, vectors.shape[1], generator=g, dtype=torch.float64)
                        / math.sqrt(vectors.shape[1])).T
    meaning = mapped[known] / mapped[known].norm(dim=1, keepdim=True)
    emb[known, clip.FRAME:] = math.sqrt(1 - OWN) * meaning + math.sqrt(OWN) * emb[known, clip.FRAME:]
    emb[:, clip.FRAME:] /= emb[:, clip.FRAME:].norm(dim=1, keepdim=True)
    for members in names.GROUPS.values():
        shared = unit(1)[0]
        pieces = {p for n in members for w in n.split() for p in clip.word_pieces(tok, w)}
        for p in sorted(pieces):
            v = math.sqrt(1 - GROUP_SHARE) * emb[p, clip.FRAME:] + math.sqrt(GROUP_SHARE) * shared
            emb[p, clip.FRAME:] = v / v.norm()
    emb[:, clip.FRAME:] *= scale
    emb[:, clip.FLAG] = clip.FLAG_VALUE
    emb[[clip.START, clip.END], clip.FRAME:] = 0
    emb[[clip.START, clip.END], 1:clip.FRAME] = unit(2, clip.FRAME - 1) * scale
    emb[[clip.START, clip.END], clip.FLAG] = -clip.FLAG_VALUE
    for word in clip.STOP_WORDS + ("by",):
        for piece in clip.word_pieces(tok, word):
            emb[piece, clip.FLAG] = clip.FLAG_VALUE - math.log(clip.STOP_WEIGHT)
    position = torch.zeros(clip.CONTEXT, clip.WIDTH, dtype=torch.float64)
    position[:, 1:clip.FRAME] = unit(clip.CONTEXT, clip.FRAME - 1) * scale * clip.POSITION_SCALE
    return clip.network(emb, position)
