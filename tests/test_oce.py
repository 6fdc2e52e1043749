"""OCE (issue 9, item 3): W_new = R W0 with R a rotation; what it keeps, what it moves, what it edits.

The oracle agreement (the n x n Procrustes problem built term by term) is in test_exact.py.
"""

import pytest
import torch
from reference import reference_unlearn
from synthetic import clip_like_encode, concept_text

from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core.oce import rotation
from scapre_core.prior import general_prompts, second_moment

D = 48


def _weights(widths=(24, 48, 80)):
    g = torch.Generator().manual_seed(5)
    return {f"block{i}.attn2.to_{kind}.weight": torch.randn(n, D, generator=g) / D**0.5
            for i, n in enumerate(widths) for kind in "kv"}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("nullspace", [False, True])
def test_the_gram_of_the_weight_is_unchanged(dtype, nullspace):
    """W_new^T W_new = W0^T W0 (neuron norms and angles kept) to 1e-5 relative; widths below, at and above d."""
    encode = clip_like_encode(D, seed=1)
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=2), prior="general")
    prior = second_moment(encode, general_prompts()[:30], "30 general prompts")
    config = ScaPreConfig.preset("oce", nullspace=nullspace, nullspace_energy=0.5)
    weights = _weights((24, 48, 80))
    result = unlearn(weights, encode, concepts, config, prior=prior, dtype=dtype)
    assert set(result.deltas) == {k for k in weights if k.endswith("to_v.weight")}
    for key, delta in result.deltas.items():
        W0 = weights[key].double()
        W = W0 + delta.double()
        assert float((W.T @ W - W0.T @ W0).norm() / (W0.T @ W0).norm()) <= 1e-5
        assert float(delta.norm() / W0.norm()) > 1e-2


@pytest.mark.parametrize("nullspace", [False, True])
def test_wide_and_square_weights_match_the_reference(nullspace):
    """n > d (solved in W0's column space, no determinant fix) and n = d (Kabsch) against the n x n oracle."""
    encode = clip_like_encode(D, seed=1)
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=2), prior="general")
    prompts = general_prompts()[:30]
    config = ScaPreConfig.preset("oce", nullspace=nullspace, nullspace_energy=0.5)
    weights = _weights((48, 80, 130))
    expected = reference_unlearn(weights, encode, concepts, config, prompts)
    result = unlearn(weights, encode, concepts, config, prior=second_moment(encode, prompts, "30"),
                     dtype=torch.float64)
    assert set(expected) == set(result.deltas)
    for key, delta in result.deltas.items():
        new = weights[key].double() + delta.double()
        assert float(((new - expected[key]).norm(dim=1) / expected[key].norm(dim=1)).max()) <= 1e-5


def test_it_erases_and_keeps():
    encode = clip_like_encode(D, seed=1)
    text = concept_text(3, preserve=3)
    weights = _weights((64,))
    result = unlearn(weights, encode, parse_concepts(text, prior="+ lines only"), ScaPreConfig.preset("oce"))
    kept = list(result.report.preserve_changes.values())
    assert min(c.change for c in result.report.concepts) > 5 * max(kept)
    assert result.report.keys == 1 and "oce edit is a rotation of full rank" in result.report.to_text()


def test_no_erase_term_is_no_rotation():
    """With erase_scale 0, M = W0 A W0^T is symmetric positive semi-definite, whose polar factor is I."""
    encode = clip_like_encode(D, seed=1)
    weights = _weights((32, 64))
    result = unlearn(weights, encode, parse_concepts(concept_text(3, preserve=1)),
                     ScaPreConfig.preset("oce", erase_scale=0.0, prior="off"), dtype=torch.float64)
    for key, delta in result.deltas.items():
        assert float(delta.norm() / weights[key].norm()) < 1e-10


def test_rotation_is_the_best_proper_rotation():
    g = torch.Generator().manual_seed(0)
    for trial in range(4):
        M = torch.randn(7, 7, generator=g, dtype=torch.float64)
        R = rotation(M, proper=True)
        assert torch.allclose(R.T @ R, torch.eye(7, dtype=torch.float64), atol=1e-12)
        assert torch.linalg.det(R) > 0
        best = float(torch.trace(R.T @ M))
        for _ in range(50):  # nearby rotations do no better
            K = torch.randn(7, 7, generator=g, dtype=torch.float64) * 0.05
            step = torch.linalg.matrix_exp(K - K.T)
            assert float(torch.trace((step @ R).T @ M)) <= best + 1e-12
    free = rotation(-torch.eye(3, dtype=torch.float64), proper=False)
    assert torch.allclose(free, -torch.eye(3, dtype=torch.float64))  # the unconstrained optimum is a reflection
    assert torch.linalg.det(rotation(-torch.eye(3, dtype=torch.float64), proper=True)) > 0


def test_values_only_needs_value_keys():
    encode = clip_like_encode(D)
    with pytest.raises(ValueError, match="none of the 1 weights is one"):
        unlearn({"something.to_k.weight": torch.randn(8, D)}, encode, parse_concepts("x"),
                ScaPreConfig.preset("oce", prior="off"))
    preset = ScaPreConfig.preset("oce")
    assert (preset.erase_scale, preset.preserve_scale, preset.prior_scale, preset.lam) == (800, 2, 70 / 77, 10)
    assert preset.values_only and preset.prior == "general"
