"""Null-space precision (issue 9, item 2): preserved features do not move along their protected directions.

The bound: for every preserved prompt (the + lines, "" for UCE, the prior's prompts), the outputs of
its states' components in the protected directions move by at most 1e-4 of their size, while
the erased concepts still move. The protected directions are recomputed here from the states,
independently of the solver (the oracle agreement is in test_exact.py).
"""

import pytest
import torch
from synthetic import clip_like_encode, concept_text

from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core.nullspace import ProtectedSubspace
from scapre_core.prior import general_prompts, second_moment

D = 64
PRIOR_PROMPTS = general_prompts()[::20]  # 50 prompts


def _protected(states_per_prompt: list[torch.Tensor], prior_states: list[torch.Tensor], energy: float):
    """U of the top principal directions of S = mean per-prompt Gram of each source (plain SVD)."""
    S = sum(H.T @ H for H in states_per_prompt) / len(states_per_prompt)
    if prior_states:
        S = S + sum(H.T @ H for H in prior_states) / len(prior_states)
    U, sigma, _ = torch.linalg.svd(S)
    cumulative = sigma.cumsum(0)
    k = int((cumulative < energy * cumulative[-1]).sum()) + 1
    return U[:, :k]


@pytest.mark.parametrize("preset", ["uce", "objects_base", "large_scale", "confusable", "oce"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_preserved_outputs_stay_put_in_the_protected_directions(preset, dtype):
    encode = clip_like_encode(D, seed=2)
    concepts = parse_concepts(concept_text(4, anchors=True, preserve=3), prior="general")
    g = torch.Generator().manual_seed(3)
    weights = {f"k{i}": torch.randn(n, D, generator=g) / D**0.5 for i, n in enumerate((40, 72))}
    prior = second_moment(encode, PRIOR_PROMPTS, "50 general prompts")
    config = ScaPreConfig.preset(preset, nullspace=True, nullspace_energy=0.9, values_only=False)
    result = unlearn(weights, encode, concepts, config, prior=prior, dtype=dtype)
    free = unlearn(weights, encode, concepts, config.replace(nullspace=False), prior=prior, dtype=dtype)

    kept = list(concepts.preserve) + ([""] if preset == "uce" else [])
    states = [encode([p])[0][0].double() for p in kept]
    prior_states = [encode([p])[0][0].double() for p in PRIOR_PROMPTS]
    U = _protected(states, prior_states, 0.9)
    assert 0 < U.shape[1] < D and f"{U.shape[1]} of {D} directions protected" in result.report.nullspace
    for H in states + prior_states[:10]:
        inside = H @ U @ U.T  # the states' components in the protected directions
        for key, w in weights.items():
            base = float((w.double() @ inside.T).norm())
            assert float((result.deltas[key].double() @ inside.T).norm()) <= 1e-4 * base
            assert float((free.deltas[key].double() @ inside.T).norm()) > 1e-2 * base  # without it they move
    assert all(c.change > 0.05 for c in result.report.concepts), result.report.concepts


def test_more_energy_protects_more_and_erases_less():
    encode = clip_like_encode(D, seed=2)
    concepts = parse_concepts(concept_text(3, preserve=2))
    weights = {"k": torch.randn(48, D, generator=torch.Generator().manual_seed(0)) / D**0.5}
    reports = [unlearn(weights, encode, concepts, ScaPreConfig.preset("uce", nullspace=True, nullspace_energy=e)).report
               for e in (0.5, 0.9, 0.99)]
    protected = [int(r.nullspace.split(" of ")[0]) for r in reports]
    assert protected == sorted(protected) and protected[0] < protected[-1]
    moved = [sum(c.change for c in r.concepts) for r in reports]
    assert moved[0] > moved[-1]
    assert unlearn(weights, encode, concepts, ScaPreConfig.preset("uce")).report.nullspace == "off"


def test_protected_subspace_properties():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(200, 16, generator=g, dtype=torch.float64) * torch.linspace(5, 0.1, 16, dtype=torch.float64)
    S = A.T @ A
    p = ProtectedSubspace.of(S, 0.95)
    assert p.energy >= 0.95 and ProtectedSubspace.of(S, p.energy - 1e-9).k <= p.k
    assert torch.allclose(p.directions.T @ p.directions, torch.eye(p.k, dtype=torch.float64))
    assert torch.allclose(p.allowed.T @ p.directions, torch.zeros(16 - p.k, p.k, dtype=torch.float64), atol=1e-12)
    delta = torch.randn(5, 16, generator=g, dtype=torch.float64)
    assert (p.confine(delta) @ p.directions).abs().max() < 1e-12
    assert torch.allclose(p.confine(p.confine(delta)), p.confine(delta))
    with pytest.raises(ValueError, match="nothing to protect"):
        ProtectedSubspace.of(torch.zeros(4, 4, dtype=torch.float64), 0.9)


def test_nothing_to_preserve_is_refused_and_the_preset_is_uce_with_the_prior():
    encode = clip_like_encode(D)
    weights = {"k": torch.randn(8, D)}
    with pytest.raises(ValueError, match="needs something to preserve"):
        unlearn(weights, encode, parse_concepts("x"), ScaPreConfig.preset("large_scale", nullspace=True))
    preset = ScaPreConfig.preset("nullspace")
    assert (preset.method, preset.nullspace, preset.prior, preset.nullspace_energy) == ("uce", True, "general", 0.99)
    assert preset.replace(nullspace=False, prior="off") == ScaPreConfig.preset("uce")
    with pytest.raises(ValueError, match="nullspace_energy"):
        ScaPreConfig(nullspace_energy=1.0)
