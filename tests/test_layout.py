"""Token layouts other than SD's 77 CLIP positions (scapre_core.tokens): T5 sequences, SD3's CLIP + T5 rows,
one-position pooled vectors, and every alignment.

* The CLIP form (n_tokens) and the same prompts described as an explicit Layout give bit-identical edits.
* On every layout and alignment, every method's fast path agrees with the per-row reference transcription
  (tests/reference.py, which pairs positions with its own case-by-case loops) to <= 1e-5 relative in float64.
* With every position aligned, UCE without a preserve term and with a tiny ridge makes the edited weight see
  the anchor for the concept: W_new x_t = W0 y_t at every position.
"""

import pytest
import torch
from reference import reference_unlearn
from synthetic import concept_text, random_encode, random_layout_encode

from scapre_core import ConceptError, ScaPreConfig, parse_concepts, unlearn
from scapre_core.tokens import Layout, Segment, clip_layout, encode_concepts

PRESETS = ("large_scale", "objects_base", "confusable", "uce", "explicit")


def _weights(d, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"k": torch.randn(n, d, generator=g, dtype=torch.float64) / d**0.5,
            "v": torch.randn(n + 4, d, generator=g, dtype=torch.float64) / d**0.5}


def _relative(new, reference):
    return float(((new - reference).norm(dim=1) / reference.norm(dim=1)).max())


def _as_explicit_layout(encode):
    """The same encoder, returning its CLIP-form n_tokens as an explicit Layout."""
    def explicit(prompts):
        hidden, n_tokens = encode(prompts)
        return hidden, Layout(tuple(clip_layout(int(n)) for n in n_tokens), alignment="released")
    return explicit


@pytest.mark.parametrize("preset", PRESETS)
def test_clip_form_and_explicit_layout_are_bit_identical(preset):
    encode = random_encode(32)
    concepts = parse_concepts(concept_text(5, anchors=True, preserve=2))
    weights = _weights(32, 20)
    config = ScaPreConfig.preset(preset)
    a = unlearn(weights, encode, concepts, config, dtype=torch.float64)
    b = unlearn(weights, _as_explicit_layout(encode), concepts, config, dtype=torch.float64)
    for key in weights:
        assert torch.equal(a.deltas[key], b.deltas[key])
    assert a.report.alignment == b.report.alignment == "released"


CASES = [  # (family, layout's default alignment, config alignment)
    ("t5", "span", "auto"),
    ("t5", "span", "span+pads"),
    ("t5", "span", "all"),
    ("t5", "span", "released"),
    ("t5", "span", "words"),
    ("sd3", "span", "auto"),
    ("sd3", "span", "all"),
    ("sd3", "words", "auto"),
    ("pooled", "all", "auto"),
    ("pooled", "all", "span"),
    ("clip", None, "span"),
    ("clip", None, "span+pads"),
]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("family,default,alignment", CASES)
def test_fast_path_matches_reference_on_layouts(preset, family, default, alignment):
    d = 24
    if family == "clip":
        encode = random_encode(d, seed=3)
    else:
        encode = random_layout_encode(d, family, length=12, seed=3, alignment=default)
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=1))
    weights = _weights(d, 10, seed=1)
    config = ScaPreConfig.preset(preset, alignment=alignment)
    fast = unlearn(weights, encode, concepts, config, dtype=torch.float64)
    ref = reference_unlearn(weights, encode, concepts, config, layout_alignment=default or "released")
    for key, w in weights.items():
        assert _relative(w + fast.deltas[key].double(), ref[key]) <= 1e-5, key


def test_every_position_aligned_makes_the_concept_look_like_its_anchor():
    d, length = 96, 12
    encode = random_layout_encode(d, "t5", length=length, seed=5)
    concepts = parse_concepts("a famous painter -> a landscape\n")
    W0 = torch.randn(40, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64) / d**0.5
    config = ScaPreConfig.preset("uce", alignment="all", lam=1e-9, preserve_scale=0.0)
    W = W0 + unlearn({"txt_in": W0}, encode, concepts, config, dtype=torch.float64).deltas["txt_in"].double()
    hidden, _ = encode(["a famous painter", "a landscape"])
    x, y = hidden[0].double(), hidden[1].double()
    before = float((x @ W0.T - y @ W0.T).norm() / (y @ W0.T).norm())
    after = float((x @ W.T - y @ W0.T).norm() / (y @ W0.T).norm())
    assert before > 0.5 and after < 1e-6, (before, after)


def test_span_alignment_pairs_multi_token_concepts_with_the_anchor_words():
    seg = random_layout_encode(8, "t5", length=10)
    hidden, layout = seg(["alpha beta gamma", "delta", ""])
    concepts = parse_concepts("alpha beta gamma -> delta\n")

    def encode(prompts):
        return seg(prompts)

    tokens = encode_concepts(encode, concepts)
    concept, anchor = layout.prompts[0][0], layout.prompts[1][0]
    assert tokens.alignment == "span"
    assert int(tokens.lengths[0]) == concept.end - concept.first + 1  # every piece and the end token
    expected = [max(0, anchor.end - (concept.end - p)) for p in range(concept.first, concept.end + 1)]
    assert tokens.token_slot.tolist() == expected  # the one anchor is at anchor_pool rows 0 .. S - 1


def test_layout_errors_name_what_is_wrong():
    d = 8
    weights = {"k": torch.randn(4, d)}
    concepts = parse_concepts("one two -> three\n")
    encode = random_layout_encode(d, "t5", length=6)

    def short(prompts):  # a layout longer than the hidden states
        hidden, layout = encode(prompts)
        return hidden[:, :4], layout
    with pytest.raises(ValueError, match="does not fit its 4 positions"):
        unlearn(weights, short, concepts, ScaPreConfig.preset("uce"))

    def uneven(prompts):  # the concept and its anchor of different lengths
        hidden, layout = encode(prompts)
        prompts_layout = list(layout.prompts)
        first = prompts_layout[0][0]
        prompts_layout[0] = (Segment(first.start, first.words, first.end, first.stop - 1),)
        return hidden, Layout(tuple(prompts_layout), layout.alignment)
    with pytest.raises(ConceptError, match="equally long"):
        unlearn(weights, uneven, concepts, ScaPreConfig.preset("uce", alignment="all"))

    def no_words(prompts):
        hidden, layout = encode(prompts)
        return hidden, Layout(tuple((Segment(0, (), 0, 6),) for _ in prompts), layout.alignment)
    with pytest.raises(ConceptError, match="no word tokens"):
        unlearn(weights, no_words, concepts, ScaPreConfig.preset("uce"))

    with pytest.raises(ValueError, match="inconsistent segment"):
        Segment(0, (3, 1), 4, 6)
    with pytest.raises(ValueError, match="alignment must be"):
        ScaPreConfig(alignment="diagonal")
