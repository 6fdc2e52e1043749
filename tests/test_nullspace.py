"""Null-space precision (issue 15, item 1): every + line is kept exactly, the energy rule applies to the prior only.

The bound: under null-space precision every + line's outputs, all positions, move by at most 1e-4 of their size
(measured here from the deltas, independently of the report), on random and CLIP-like encoders of several ranks,
while the erased concepts still move. Where a + line and an erased concept overlap, the edit still runs and the
report names the pair and what keeping the line cost. The oracle agreement is in test_exact.py.
"""

import pytest
import torch
from synthetic import clip_like_encode, concept_text, random_encode

from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core.nullspace import KEEP_TOLERANCE, ProtectedSubspace
from scapre_core.prior import general_prompts, second_moment

D = 768
PRIOR_PROMPTS = general_prompts()[::20]  # 50 prompts
ENCODERS = {
    "random": lambda: random_encode(D, seed=2),
    "random-rank400": lambda: random_encode(D, 400, seed=2),
    "clip-like": lambda: clip_like_encode(D, seed=2),
    "clip-like-rank512": lambda: clip_like_encode(D, seed=2, rank=512),
    "clip-like-rank384": lambda: clip_like_encode(D, seed=2, rank=384),
}


def _weights():
    g = torch.Generator().manual_seed(3)
    return {f"b{i}.attn2.to_v.weight": torch.randn(n, D, generator=g) / D**0.5 for i, n in enumerate((96, 320))}


def _moved(deltas, weights, states):
    """sqrt(sum_k |dW_k X^T|^2 / sum_k |W0_k X^T|^2) of states X [S, d]."""
    moved = sum(float((deltas[k].double() @ states.T).pow(2).sum()) for k in weights)
    base = sum(float((w.double() @ states.T).pow(2).sum()) for k, w in weights.items())
    return (moved / base) ** 0.5


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("preset", ["nullspace", "large_scale", "objects_base", "oce"])
def test_plus_lines_are_kept_exactly_and_the_concepts_still_move(encoder, preset):
    """The additive recipes with the general prior (its energy rule, 99 %); OCE without it: OCE holds the outputs
    W0 U of every protected direction, and the prior's 99 % would fill all 320 outputs of these weights."""
    encode, weights = ENCODERS[encoder](), _weights()
    prior = second_moment(encode, PRIOR_PROMPTS, "50 general prompts")
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=2), prior="off" if preset == "oce" else "general")
    result = unlearn(weights, encode, concepts, ScaPreConfig.preset(preset, nullspace=True), prior=prior)
    for line in concepts.preserve:
        states = encode([line])[0][0].double()
        assert _moved(result.deltas, weights, states) <= 1e-4, line
        assert result.report.preserve_changes[line] <= 1e-4
    assert all(c.change > 0.05 for c in result.report.concepts), result.report.concepts
    assert f"keep the 2 '+' line(s) exactly (to {KEEP_TOLERANCE:g} of their states)" in result.report.nullspace
    assert result.report.conflicts == []


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_without_the_null_space_the_lines_move(dtype):
    encode, weights = ENCODERS["clip-like"](), _weights()
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=2))
    kept = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce", nullspace=True), dtype=dtype)
    free = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce"), dtype=dtype)
    for line in concepts.preserve:
        states = encode([line])[0][0].double()
        assert _moved(kept.deltas, weights, states) <= 1e-4
        assert _moved(free.deltas, weights, states) > 1e-3


def test_the_energy_rule_applies_to_the_prior_only():
    """More energy protects more of the prior and erases less; the + lines are kept exactly at every energy."""
    encode, weights = ENCODERS["clip-like"](), _weights()
    prior = second_moment(encode, PRIOR_PROMPTS, "50 general prompts")
    concepts = parse_concepts(concept_text(3, preserve=2), prior="general")
    reports = [unlearn(weights, encode, concepts, ScaPreConfig.preset("nullspace", nullspace_energy=e),
                       prior=prior).report for e in (0.5, 0.9, 0.99)]
    protected = [int(r.nullspace.split(" of ")[0]) for r in reports]
    assert protected == sorted(protected) and protected[0] < protected[-1]
    assert len({r.nullspace.split(": ")[1].split(";")[0] for r in reports}) == 1  # the same lines' directions
    assert all(max(r.preserve_changes.values()) <= 1e-4 for r in reports)
    moved = [sum(c.change for c in r.concepts) for r in reports]
    assert moved[0] > moved[-1]
    assert unlearn(weights, encode, concepts, ScaPreConfig.preset("uce")).report.nullspace == "off"


def test_an_overlapping_line_is_named_with_its_cost():
    """A + line whose states contain an erased concept's last word state: the edit runs, keeps the line, and the
    report names the pair and how much of the concept's erasure that cost."""
    base = clip_like_encode(D, seed=2)

    def encode(prompts):  # "+ a twin of gem" carries the state of the concept "gem" at its word "gem"
        hidden, counts = base(prompts)
        for i, p in enumerate(prompts):
            if p == "a twin of gem":
                hidden[i, 4] = base(["gem"])[0][0, 1]
        return hidden, counts

    weights = _weights()
    concepts = parse_concepts("gem\nquartz crystal\n+ a twin of gem\n+ a cathedral\n")
    result = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce", nullspace=True))
    assert [(c.concept, c.line) for c in result.report.conflicts] == [("gem", "a twin of gem")]
    conflict = result.report.conflicts[0]
    assert conflict.share > 0.99 and conflict.change < 1e-3 < 0.5 < conflict.unkept and conflict.cost > 0.99
    free = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce")).report
    assert abs(conflict.unkept - free.concepts[0].change) < 0.5 * free.concepts[0].change  # both erase it
    assert result.report.concepts[1].change > 0.5  # the other concept is erased
    assert max(result.report.preserve_changes.values()) <= 1e-4
    text = result.report.to_text()
    assert "conflict: 'gem' and '+ a twin of gem' overlap (100% of the concept's last word state" in text
    assert f"cost {conflict.cost:.0%} of its erasure" in text


def test_protected_subspace_properties():
    g = torch.Generator().manual_seed(0)
    lines = torch.randn(2, 5, 16, generator=g, dtype=torch.float64)
    A = torch.randn(200, 16, generator=g, dtype=torch.float64) * torch.linspace(5, 0.1, 16, dtype=torch.float64)
    S = A.T @ A
    p = ProtectedSubspace.of(lines, S, 0.95)
    assert p.kept == 10 and p.lines == 2 and p.energy >= 0.95 and p.k < 16
    U = p.directions
    assert torch.allclose(U.T @ U, torch.eye(p.k, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(p.allowed.T @ U, torch.zeros(16 - p.k, p.k, dtype=torch.float64), atol=1e-12)
    outside = lines.reshape(-1, 16) - lines.reshape(-1, 16) @ U[:, :p.kept] @ U[:, :p.kept].T
    assert outside.norm() <= KEEP_TOLERANCE * lines.norm()
    held = torch.trace(U.T @ S @ U) / torch.trace(S)
    assert abs(float(held) - p.energy) < 1e-12
    fewer = ProtectedSubspace.of(lines, S, 0.5)
    assert fewer.kept == p.kept and fewer.k < p.k  # the energy moves the prior's directions only
    only_lines = ProtectedSubspace.of(lines, None, 0.5)
    assert (only_lines.k, only_lines.energy) == (10, None)
    delta = torch.randn(5, 16, generator=g, dtype=torch.float64)
    assert (p.confine(delta) @ U).abs().max() < 1e-12
    assert torch.allclose(p.confine(p.confine(delta)), p.confine(delta))
    with pytest.raises(ValueError, match="nothing to protect"):
        ProtectedSubspace.of(lines[:0], torch.zeros(16, 16, dtype=torch.float64), 0.9)
    with pytest.raises(ValueError, match="needs something to preserve"):
        ProtectedSubspace.of(lines[:0], None, 0.9)


def test_nothing_to_preserve_is_refused_and_the_preset_is_uce_with_the_prior():
    encode = clip_like_encode(32)
    weights = {"k": torch.randn(8, 32)}
    with pytest.raises(ValueError, match="needs something to preserve"):
        unlearn(weights, encode, parse_concepts("x"), ScaPreConfig.preset("large_scale", nullspace=True))
    preset = ScaPreConfig.preset("nullspace")
    assert (preset.method, preset.nullspace, preset.prior, preset.nullspace_energy) == ("uce", True, "general", 0.99)
    assert preset.replace(nullspace=False, prior="off") == ScaPreConfig.preset("uce")
    with pytest.raises(ValueError, match="nullspace_energy"):
        ScaPreConfig(nullspace_energy=1.0)
