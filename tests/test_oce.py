"""OCE (issues 9 and 15): W_new = R W0 with R a rotation; its orientation, its scales, what it keeps and what it edits.

The oracle agreement (the n x n Procrustes problem built term by term, both orientations and both scales) is in
test_exact.py.
"""

import pytest
import torch
from reference import reference_unlearn
from synthetic import clip_like_encode, concept_text, random_encode, random_layout_encode

from scapre_core import ScaPreConfig, parse_concepts, unlearn, unlearn_streams
from scapre_core.oce import PRIOR_FALLBACK, rotation
from scapre_core.prior import PreservePrior, general_prompts, second_moment

D = 48


def _weights(widths=(24, 48, 80), scale=1.0, d=D):
    g = torch.Generator().manual_seed(5)
    return {f"block{i}.attn2.to_{kind}.weight": scale * torch.randn(n, d, generator=g) / d**0.5
            for i, n in enumerate(widths) for kind in "kv"}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("nullspace", [False, True])
def test_the_gram_of_the_weight_is_unchanged(dtype, nullspace):
    """W_new^T W_new = W0^T W0 (neuron norms and angles kept) to 1e-5 relative; widths below, at and above d.
    (No + lines with the null space: a line keeps its 77 states, which would hold every output of these weights.)"""
    encode = clip_like_encode(D, seed=1)
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=0 if nullspace else 2), prior="general")
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
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=0 if nullspace else 2), prior="general")
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


def _rotations(config_changes: dict):
    """(R [n, n] of each weight, W0 of each, the problem's erased and guide tokens) for square weights n = d."""
    encode = clip_like_encode(D, seed=1)
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=2), prior="general")
    prior = second_moment(encode, general_prompts()[:30], "30")
    weights = {k: w for k, w in _weights((48, 48)).items() if k.endswith("to_v.weight")}
    result = unlearn(weights, encode, concepts, ScaPreConfig.preset("oce", **config_changes), prior=prior,
                     dtype=torch.float64)
    prompts = [c.text for c in concepts.erase] + [c.anchor for c in concepts.erase]
    hidden, counts = encode(prompts)
    key_tokens = hidden[torch.arange(len(prompts)), counts].double()  # each prompt's last word (a blank's start)
    m = len(concepts.erase)
    rotations = {k: (w.double() + result.deltas[k].double()) @ torch.linalg.inv(w.double()) for k, w in weights.items()}
    return rotations, weights, key_tokens[:m], key_tokens[m:]


def _projector(columns):
    U, sigma, _ = torch.linalg.svd(columns, full_matrices=False)
    U = U[:, sigma > sigma.max() * 1e-10]
    return U @ U.T


def test_the_orientation_maximises_the_objective_and_the_release_is_its_transpose():
    """tr(R^T S) is the same for R and R^T when S is symmetric (the preservation terms), so the objective's
    orientation must have the smaller erase term sum_j <R u_j, (I - P_G) u_j>: the erased outputs, rotated, point
    away from themselves more than under the release's orientation, which is its exact transpose."""
    objective, weights, erased, guides = _rotations({})
    released, *_ = _rotations({"oce_orientation": "released"})
    for key, W0 in weights.items():
        R, R_released = objective[key], released[key]
        # (the deltas are float32: R = W W0^-1 is recovered to about 1e-7 times W0's condition number)
        assert torch.allclose(R.T @ R, torch.eye(D, dtype=torch.float64), atol=1e-4)
        assert torch.allclose(R_released, R.T, atol=1e-4)
        P_E = _projector(W0.double() @ erased.T)
        P_G = _projector(W0.double() @ guides.T)
        away = (torch.eye(D, dtype=torch.float64) - P_G) @ P_E

        def erase_term(rotation):
            return float(torch.trace(rotation.T @ away))

        assert erase_term(R) < erase_term(R_released) - 1e-3


ENCODERS = {"random": lambda: random_encode(D, seed=1), "random x10": lambda: random_encode(D, seed=1, scale=10),
            "random x0.1": lambda: random_encode(D, seed=1, scale=0.1),
            "random rank 8": lambda: random_encode(D, 8, seed=1), "clip-like": lambda: clip_like_encode(D, seed=1),
            "clip-like rank 24": lambda: clip_like_encode(D, seed=1, rank=24),
            "t5": lambda: random_layout_encode(D, "t5", seed=1), "sd3": lambda: random_layout_encode(D, "sd3", seed=1)}
"""The encoders of the core tests (synthetic.py's, of every kind, scale and rank they are used with)."""


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("weight_scale", [1.0, 10.0, 0.1])
def test_the_default_erases_on_every_encoder(encoder, weight_scale):
    """The erased concept's output moves at least a third of what uce moves it, on the same problem."""
    encode = ENCODERS[encoder]()
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=2))
    prior = second_moment(encode, general_prompts()[:30], "30")
    weights = _weights((24, 80), scale=weight_scale)
    oce = unlearn(weights, encode, concepts, ScaPreConfig.preset("oce"), prior=prior).report
    uce = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce"), prior=prior).report
    for ours, theirs in zip(oce.concepts, uce.concepts):
        assert ours.change >= theirs.change / 3, (ours, theirs)


def test_relative_scales_make_the_rotation_independent_of_the_tokens_and_weights_scale():
    """Tokens x 10 and weights x 0.1: R is the same, so the deltas are exactly 0.1 times the plain problem's; with
    the release's absolute scales the same rescaling turns the edit almost off."""
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=2), prior="general")
    prompts = general_prompts()[:30]

    def deltas(token_scale, weight_scale, scales):
        encode = random_encode(D, seed=1, scale=token_scale)
        weights = _weights((24, 80), scale=weight_scale)
        config = ScaPreConfig.preset("oce", oce_scales=scales)
        return unlearn(weights, encode, concepts, config, prior=second_moment(encode, prompts, "30"),
                       dtype=torch.float64)

    plain, scaled = deltas(1.0, 1.0, "relative"), deltas(10.0, 10.0, "relative")
    for key, delta in plain.deltas.items():
        assert torch.allclose(scaled.deltas[key].double(), 10 * delta.double(), rtol=0, atol=1e-6 * float(delta.norm()))
    assert min(c.change for c in plain.report.concepts) > 1.0
    released = deltas(10.0, 10.0, "released")
    assert max(c.change for c in released.report.concepts) < 0.05


def test_the_released_values_are_used_as_they_are_on_a_clip_l_scale_problem():
    """Layer-normalised tokens (|x|^2 = d: a real token's energy per dimension t = 1) and weights with unit rows
    (rho = 1): the relative scales are the release's numbers, so the edit is the released-scales edit."""
    d = 768
    encode = clip_like_encode(d, seed=4)
    g = torch.Generator().manual_seed(0)
    weights = {f"b{i}.to_v.weight": torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)
               for i, n in enumerate((320, 640))}
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=2), prior="general")
    prior = second_moment(encode, general_prompts()[:50], "50")
    assert abs(float(torch.trace(prior.token_mean())) / d - 1) < 1e-5
    relative = unlearn(weights, encode, concepts, ScaPreConfig.preset("oce"), prior=prior, dtype=torch.float64)
    absolute = unlearn(weights, encode, concepts, ScaPreConfig.preset("oce", oce_scales="released"), prior=prior,
                       dtype=torch.float64)
    for key, delta in relative.deltas.items():
        assert float((delta - absolute.deltas[key]).norm() / delta.norm()) <= 1e-4
    assert min(c.change for c in relative.report.concepts) > 1.0


def test_it_erases_and_keeps():
    encode = clip_like_encode(D, seed=1)
    text = concept_text(3, preserve=3)
    weights = _weights((64,))
    result = unlearn(weights, encode, parse_concepts(text, prior="+ lines only"), ScaPreConfig.preset("oce"))
    kept = list(result.report.preserve_changes.values())
    assert min(c.change for c in result.report.concepts) > 5 * max(kept)
    assert result.report.keys == 1 and "oce edit is a rotation of full rank" in result.report.to_text()


def test_a_prior_without_its_real_token_statistic_is_used_with_a_warning():
    """A prior cached before the real-token statistic existed: OCE uses the mean over every position and says so."""
    encode = clip_like_encode(D, seed=1)
    full = second_moment(encode, general_prompts()[:30], "30")
    old = PreservePrior(full.gram, full.prompts, "old cache")
    concepts = parse_concepts(concept_text(3), prior="general")
    result = unlearn(_weights((64,)), encode, concepts, ScaPreConfig.preset("oce"), prior=old)
    assert PRIOR_FALLBACK in result.report.warnings
    assert PRIOR_FALLBACK not in unlearn(_weights((64,)), encode, concepts, ScaPreConfig.preset("oce"),
                                         prior=full).report.warnings


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


def test_values_are_what_the_caller_states():
    encode = clip_like_encode(D)
    g = torch.Generator().manual_seed(0)
    weights = {k: torch.randn(16, D, generator=g) / D**0.5 for k in ("blocks.0.cross_attn.k.weight",
                                                                       "blocks.0.cross_attn.v.weight", "proj.weight")}
    concepts = parse_concepts("x\n")
    config = ScaPreConfig.preset("oce", prior="off")
    assert set(unlearn(weights, encode, concepts, config).deltas) == {"blocks.0.cross_attn.v.weight"}  # Wan's
    stated = unlearn(weights, encode, concepts, config, values={"proj.weight"})
    assert set(stated.deltas) == {"proj.weight"}
    with pytest.raises(ValueError, match="none of the 3 weights is one"):
        unlearn(weights, encode, concepts, config, values=())
    preset = ScaPreConfig.preset("oce")
    assert (preset.erase_scale, preset.preserve_scale, preset.prior_scale, preset.lam) == (800, 2, 70, 10)
    assert (preset.values_only, preset.prior, preset.oce_orientation, preset.oce_scales) == (
        True, "general", "objective", "relative")
    with pytest.raises(ValueError, match="oce_orientation must be one of"):
        ScaPreConfig(oce_orientation="transposed")
    with pytest.raises(ValueError, match="oce_scales must be one of"):
        ScaPreConfig(oce_scales="absolute")


def test_a_dit_is_edited_on_its_text_input_and_a_stream_without_values_is_left_alone():
    """FLUX.1-like: txt_in on T5 states is OCE's value layer (the release edits FLUX's context_embedder); the pooled
    vector_in is no value projection, so with values only that stream is not edited, and the report says so."""
    g = torch.Generator().manual_seed(0)
    streams = {"T5 -> txt_in": ({"diffusion_model.txt_in.weight": torch.randn(96, D, generator=g) / D**0.5},
                                random_layout_encode(D, "t5", seed=1)),
               "pooled -> vector_in": ({"diffusion_model.vector_in.in_layer.weight": torch.randn(32, 20, generator=g)},
                                       random_layout_encode(20, "pooled", seed=2, alignment="all"))}
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=1))
    result = unlearn_streams(streams, concepts, ScaPreConfig.preset("oce", prior="off"))
    assert set(result.deltas) == {"diffusion_model.txt_in.weight"}
    assert min(c.change for c in result.report.streams["T5 -> txt_in"].concepts) > 0.5
    text = result.report.to_text()
    assert "[text stream: pooled -> vector_in] not edited: it has no value projections (values only)" in text
    with pytest.raises(ValueError, match="none of the streams"):
        unlearn_streams({"pooled": streams["pooled -> vector_in"]}, concepts, ScaPreConfig.preset("oce", prior="off"))
