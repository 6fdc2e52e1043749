"""The fast path agrees with the per-row reference transcription (tests/reference.py).

Random problems of several shapes, m = 1, 5, 50 (including m > d), with and without each
optional term. Max relative error of W_new over rows: <= 1e-5 in float64, <= 1e-3 in float32.
The "general" preserve prior of these problems is the first 40 prompts of the shipped list.
"""

import pytest
import torch
from reference import reference_unlearn
from synthetic import concept_text, random_encode

from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core.prior import general_prompts, second_moment

PRIOR_PROMPTS = general_prompts()[:40]

CONFIGS = {
    "large_scale": ScaPreConfig.preset("large_scale"),
    "scapre_no_informax": ScaPreConfig.preset("large_scale", informax=False),
    "scapre_no_spectral_2_iters": ScaPreConfig.preset("large_scale", spectral=False, bures_iters=2, p=3.0),
    "explicit": ScaPreConfig.preset("explicit"),
    "objects_base": ScaPreConfig.preset("objects_base"),
    "base_rollback_half_no_informax": ScaPreConfig.preset("objects_base", alpha_min=0.5, informax=False),
    "confusable": ScaPreConfig.preset("confusable"),
    "confusable_res_scale": ScaPreConfig.preset("confusable", res_scale=0.3, T_sigma=0.5, p_sigma=2.0),
    "uce": ScaPreConfig.preset("uce"),
    "uce_scaled": ScaPreConfig.preset("uce", erase_scale=3.0, preserve_scale=0.7, lam=0.2),
    "uce_prior": ScaPreConfig.preset("uce", prior="general", prior_scale=0.7),
    "large_scale_prior": ScaPreConfig.preset("large_scale", prior="general"),
    "objects_base_prior": ScaPreConfig.preset("objects_base", prior="general", prior_scale=2.0),
    "uce_nullspace": ScaPreConfig.preset("uce", nullspace=True, nullspace_energy=0.9),
    "nullspace": ScaPreConfig.preset("nullspace", nullspace_energy=0.8),
    "large_scale_nullspace": ScaPreConfig.preset("large_scale", nullspace=True, prior="general", nullspace_energy=0.7),
    "confusable_nullspace": ScaPreConfig.preset("confusable", nullspace=True, prior="general",
                                                nullspace_energy=0.8),
    # OCE on every key (these keys are not named to_v), with and without its prior, in the release's orientation
    # and scales, with the null space (a low energy: with n = 10 outputs, the outputs of more than 10 protected
    # directions would leave nothing to rotate)
    "oce": ScaPreConfig.preset("oce", values_only=False),
    "oce_released": ScaPreConfig.preset("oce", values_only=False, oce_orientation="released", oce_scales="released"),
    "oce_no_prior_small_scales": ScaPreConfig.preset("oce", values_only=False, prior="off", erase_scale=3.0,
                                                     preserve_scale=None, lam=0.5),
    "oce_nullspace": ScaPreConfig.preset("oce", values_only=False, nullspace=True, nullspace_energy=0.05),
}

# (d, n, m, encoder rank, anchors, preserve prompts): m = 50 > d, a low-rank encoder, and a
# problem whose tokens span fewer than d dimensions (the solver's subspace path).
SHAPES = [
    (24, 16, 1, None, False, 0),
    (32, 20, 5, None, True, 1),
    (20, 12, 50, None, True, 2),
    (40, 24, 5, 6, False, 1),
    (168, 10, 1, None, False, 1),
]
# With null-space precision every + line keeps its 77 states exactly: on the shapes above they fill every
# direction (or every output, for OCE), so the null space is checked on problems without + lines and on one
# wide enough for a line and room to erase.
NULLSPACE_SHAPES = [s for s in SHAPES if s[5] == 0] + [(24, 16, 5, None, True, 0), (200, 160, 3, None, True, 1)]
CASES = [(shape, name) for name, config in CONFIGS.items()
         for shape in (NULLSPACE_SHAPES if config.nullspace else SHAPES)]


def _max_relative_error(new, reference):
    return float(((new - reference).norm(dim=1) / reference.norm(dim=1)).max())


def _shape_id(shape) -> str:
    return "d{}-n{}-m{}-rank{}-anchors{}-keep{}".format(*shape)


@pytest.mark.parametrize("shape,name", CASES, ids=[f"{name}-{_shape_id(shape)}" for shape, name in CASES])
def test_fast_path_matches_reference(shape, name):
    d, n, m, rank, anchors, keep = shape
    encode = random_encode(d, rank, seed=d + m)
    concepts = parse_concepts(concept_text(m, anchors, keep))
    g = torch.Generator().manual_seed(m)
    weights = {f"key{i}": torch.randn(n, d, generator=g) / d**0.5 for i in range(2)}
    config = CONFIGS[name]
    expected = reference_unlearn(weights, encode, concepts, config, PRIOR_PROMPTS)
    prior = second_moment(encode, PRIOR_PROMPTS, "first 40 general prompts", batch_size=16)
    for dtype, tolerance in ((torch.float64, 1e-5), (torch.float32, 1e-3)):
        result = unlearn(weights, encode, concepts, config, prior=prior, dtype=dtype)
        for key, w in weights.items():
            new = w.double() + result.deltas[key].double()
            assert _max_relative_error(new, expected[key]) <= tolerance, (key, dtype)
            assert not torch.allclose(new, w.double()), "the edit must change the weight"


def test_subspace_path_is_taken_for_few_tokens():
    """With fewer tokens than dimensions the solver works in their span (r < d)."""
    from scapre_core.additive import SCAPRE
    from scapre_core.prelude import Prelude
    from scapre_core.tokens import encode_concepts

    def rank(d, keep):
        tokens = encode_concepts(random_encode(d), parse_concepts(concept_text(1, False, keep)))
        return SCAPRE.prepare(Prelude.of(ScaPreConfig(), tokens, torch.float64, None, False)).solver.rank

    assert rank(168, 1) < 168
    assert rank(24, 0) == 24


@pytest.mark.parametrize("shape", [s for s in SHAPES if s[5] > 0], ids=_shape_id)
@pytest.mark.parametrize("preset", ["large_scale", "objects_base"])
def test_lookalike_negatives_match_reference(shape, preset):
    """Informax negatives drawn from the + lines (each concept's most similar ones) instead of the empty prompt."""
    d, n, m, rank, anchors, keep = shape
    encode = random_encode(d, rank, seed=d + m)
    concepts = parse_concepts(concept_text(m, anchors, keep + 2))
    weights = {f"key{i}": torch.randn(n, d, generator=torch.Generator().manual_seed(i)) / d**0.5 for i in range(2)}
    config = ScaPreConfig.preset(preset, informax_negatives="preserve")
    expected = reference_unlearn(weights, encode, concepts, config)
    empty = unlearn(weights, encode, concepts, ScaPreConfig.preset(preset), dtype=torch.float64)
    for dtype, tolerance in ((torch.float64, 1e-5), (torch.float32, 1e-3)):
        result = unlearn(weights, encode, concepts, config, dtype=dtype)
        for key, w in weights.items():
            new = w.double() + result.deltas[key].double()
            assert _max_relative_error(new, expected[key]) <= tolerance, (key, dtype)
    assert any(not torch.equal(empty.deltas[k], unlearn(weights, encode, concepts, config, dtype=torch.float64)
                               .deltas[k]) for k in weights), "the negatives must change the masks"


def test_lookalike_negatives_need_plus_lines():
    weights = {"k": torch.randn(6, 16)}
    with pytest.raises(ValueError, match="informax_negatives 'preserve' draws the Informax negatives from the"):
        unlearn(weights, random_encode(16), parse_concepts("x"), ScaPreConfig(informax_negatives="preserve"))


def test_the_reference_is_independent_of_the_registry():
    """The oracle transcribes the math itself: it imports none of the modules whose solvers it checks."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).with_name("reference.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"__future__", "math", "torch", "scapre_core.noise", "scapre_core.tokens"}, imported
