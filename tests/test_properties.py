"""Properties of the core: UCE's closed formula, exact zeros, determinism, key independence,
untouched orthogonal directions, the Bures bound, degenerate inputs, low-precision weights,
the encode contract and the report."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from synthetic import concept_text, random_encode

from scapre_core import CONFIG_PRESETS, ConceptError, ScaPreConfig, parse_concepts, unlearn
from scapre_core.api import preserve_prior, prior_choice
from scapre_core.bures import bures_prox
from scapre_core.methods import METHODS
from scapre_core.prelude import Prelude
from scapre_core.tokens import encode_concepts

D = 32


def editing_preset(name: str) -> ScaPreConfig:
    """The preset, except that null-space precision protects half of the energy instead of 99 %: the toy
    encoders here are isotropic, so 99 % of their energy spans every direction and nothing would be edited
    (tests/test_nullspace.py tests the option itself)."""
    config = ScaPreConfig.preset(name)
    return config.replace(nullspace_energy=0.5) if config.nullspace else config


@pytest.fixture
def problem():
    encode = random_encode(D, seed=3)
    concepts = parse_concepts(concept_text(5, anchors=True, preserve=2))
    g = torch.Generator().manual_seed(0)
    weights = {f"k{i}": torch.randn(12 + 4 * i, D, generator=g) / D**0.5 for i in range(4)}
    return encode, concepts, weights


def test_uce_matches_the_closed_formula(problem):
    encode, concepts, weights = problem
    cfg = ScaPreConfig.preset("uce", erase_scale=1.5, lam=0.5)
    hidden, counts = encode([c.text for c in concepts.erase] + [" ", "a gentle anchor", ""] + list(concepts.preserve))
    by_prompt = {p: (hidden[i].double(), int(counts[i])) for i, p in
                 enumerate([c.text for c in concepts.erase] + [" ", "a gentle anchor", ""] + list(concepts.preserve))}
    preserve = [by_prompt[""][0]] + [by_prompt[p][0] for p in concepts.preserve]
    s_p = max(0.1, 1 / len(preserve))
    result = unlearn(weights, encode, concepts, cfg, dtype=torch.float64)
    for key, w in weights.items():
        W0 = w.double()
        left = cfg.lam * W0
        right = cfg.lam * torch.eye(D, dtype=torch.float64)
        for c in concepts.erase:
            (h_o, f_o), (h_n, f_n) = by_prompt[c.text], by_prompt[c.anchor]
            f = max(f_o, f_n)
            X, Y = h_o[f_o:77 - (f - f_o)], h_n[f_n:77 - (f - f_n)]
            left = left + cfg.erase_scale * (W0 @ Y.T) @ X
            right = right + cfg.erase_scale * X.T @ X
        for P in preserve:
            left = left + s_p * W0 @ P.T @ P
            right = right + s_p * P.T @ P
        expected = left @ torch.linalg.inv(right)
        got = W0 + result.deltas[key].double()
        assert ((got - expected).norm() / expected.norm()) <= 1e-6


def test_uce_with_erase_scale_zero_changes_nothing(problem):
    encode, concepts, weights = problem
    result = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce", erase_scale=0.0))
    assert all(torch.count_nonzero(d) == 0 for d in result.deltas.values())


def test_released_variants_still_edit_at_erase_scale_zero(problem):
    """Documented quirk: erase_scale.py / erase.py keep a weight-1 |E w|^2 term at erase_scale 0."""
    encode, concepts, weights = problem
    for preset in ("large_scale", "objects_base"):
        result = unlearn(weights, encode, concepts, ScaPreConfig.preset(preset, erase_scale=0.0))
        assert all(d.abs().max() > 1e-4 for d in result.deltas.values())


def _digest(deltas):
    return {k: torch.hash_tensor(v.view(torch.int32)).item() if hasattr(torch, "hash_tensor")
            else hash(v.numpy().tobytes()) for k, v in deltas.items()}


def test_deterministic_in_one_process(problem):
    encode, concepts, weights = problem
    a = unlearn(weights, encode, concepts, ScaPreConfig(seed=5)).deltas
    b = unlearn(weights, encode, concepts, ScaPreConfig(seed=5)).deltas
    assert all(torch.equal(a[k], b[k]) for k in weights)
    c = unlearn(weights, encode, concepts, ScaPreConfig(seed=6)).deltas
    assert not all(torch.equal(a[k], c[k]) for k in weights)


_CHILD = """
import json, sys, torch
sys.path[:0] = {paths!r}
from synthetic import concept_text, random_encode
from scapre_core import ScaPreConfig, parse_concepts, unlearn
g = torch.Generator().manual_seed(0)
weights = {{f"k{{i}}": torch.randn(12 + 4 * i, {d}, generator=g) / {d} ** 0.5 for i in range(4)}}
r = unlearn(weights, random_encode({d}, seed=3), parse_concepts(concept_text(5, True, 2)), ScaPreConfig(seed=5))
print(json.dumps({{k: v.numpy().tobytes().hex() for k, v in r.deltas.items()}}))
"""


def test_deterministic_across_processes(problem):
    encode, concepts, weights = problem
    here = unlearn(weights, encode, concepts, ScaPreConfig(seed=5)).deltas
    tests = Path(__file__).parent
    code = _CHILD.format(paths=[str(tests.parent), str(tests)], d=D)
    outputs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                         check=True).stdout) for _ in range(2)]
    assert outputs[0] == outputs[1] == {k: v.numpy().tobytes().hex() for k, v in here.items()}


def test_key_order_and_splitting_change_nothing(problem):
    encode, concepts, weights = problem
    cfg = ScaPreConfig()
    whole = unlearn(weights, encode, concepts, cfg).deltas
    keys = list(weights)
    random.Random(1).shuffle(keys)
    shuffled = unlearn({k: weights[k] for k in keys}, encode, concepts, cfg).deltas
    first = unlearn({k: weights[k] for k in keys[:2]}, encode, concepts, cfg).deltas
    second = unlearn({k: weights[k] for k in keys[2:]}, encode, concepts, cfg).deltas
    for k in weights:
        assert torch.equal(whole[k], shuffled[k])
        assert torch.equal(whole[k], {**first, **second}[k])


@pytest.mark.parametrize("preset", [name for name, cfg in CONFIG_PRESETS.items() if not METHODS[cfg.method].full_rank])
def test_directions_orthogonal_to_every_token_are_unchanged(preset):
    """Every token lies in the first 6 of 32 coordinates: the solve never moves W along the rest.

    Not OCE: it rotates the outputs, R W0 x moves for every input x."""
    d, rank = 32, 6
    small = random_encode(rank, seed=11)

    def encode(prompts):
        hidden, counts = small(prompts)
        return torch.cat([hidden, torch.zeros(len(prompts), 77, d - rank)], dim=2), counts

    cfg = editing_preset(preset)
    # a + line kept exactly (null space) holds all 6 token directions: nothing would be edited
    concepts = parse_concepts(concept_text(5, anchors=True, preserve=0 if cfg.nullspace else 1))
    tokens = encode_concepts(encode, concepts)
    complement = torch.eye(d, dtype=torch.float64)[:, rank:]
    weight = torch.randn(20, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64) / d**0.5
    method = METHODS[cfg.method]
    prior = preserve_prior(prior_choice(concepts, cfg), None, encode, concepts)
    prob = method.prepare(Prelude.of(cfg, tokens, torch.float64, prior, method.keeps_empty))
    if cfg.method == "scapre":  # the solve before the Bures step
        entropy, masks = prob.statistics("k", weight)
        mu = float(entropy.clamp(0, 1).mean())
        alpha = cfg.erase_scale * (masks[0].max(0).values if prob.mask_sets else torch.ones(20, dtype=torch.float64))
        delta = prob.solver.solve(weight, prob.rhs(weight, mu, masks[-1] if prob.mask_sets else None), mu,
                                  alpha).dense()
    else:
        delta = prob.edit("k", weight).dense(weight)
    assert delta.norm() > 1e-3
    assert (delta @ complement).norm() <= 1e-6 * delta.norm()


def test_bures_step_is_bounded():
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(200, 16, generator=g, dtype=torch.float64)
    a = w0 + torch.randn(200, 16, generator=g, dtype=torch.float64)
    a[:20] = -w0[:20]  # rows pointing away from w0 (kappa = 0): only the norm shrinks
    mu, lam_p = 0.6, 0.5 + 0.6
    out = bures_prox(w0, a, mu, lam_p, iters=1)
    r, r_a, r_0 = out.norm(dim=1), a.norm(dim=1), w0.norm(dim=1)
    assert torch.all(r >= lam_p * r_a / (lam_p + mu) - 1e-12)
    assert torch.all(r <= (lam_p * r_a + mu * r_0) / (lam_p + mu) + 1e-12)
    cos = torch.nn.functional.cosine_similarity
    assert torch.all(cos(out, w0) >= cos(a, w0) - 1e-12)  # the direction turns towards w0
    assert torch.allclose(out[:20], a[:20] * lam_p / (lam_p + mu))
    assert torch.allclose(bures_prox(w0, a, 0.0, 0.5, iters=3), a)  # mu = 0: unchanged


def test_rank_deficient_and_degenerate_inputs():
    """Near-identical concepts, single-token concepts, m > d: finite results, no crash."""
    d = 16
    base = random_encode(d, seed=1)

    def encode(prompts):  # "x" and "x!" encode (almost) identically
        hidden, counts = base([p.rstrip("!") for p in prompts])
        bumped = torch.tensor([p.endswith("!!") for p in prompts])
        return hidden + 1e-7 * bumped[:, None, None], counts

    text = "\n".join([f"c{j}" for j in range(30)] + ["c3!", "c4!!", "single"]) + "\n"
    g = torch.Generator().manual_seed(0)
    key = "block.attn2.to_v.weight"
    weights = {key: torch.randn(24, d, generator=g) / d**0.5}
    for preset in CONFIG_PRESETS:
        result = unlearn(weights, encode, parse_concepts(text), editing_preset(preset))
        assert torch.isfinite(result.deltas[key]).all()
        assert result.deltas[key].abs().max() > 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_weights(problem, dtype):
    encode, concepts, weights = problem
    low = {k: w.to(dtype) for k, w in weights.items()}
    result = unlearn(low, encode, concepts, ScaPreConfig())
    same = unlearn({k: w.float() for k, w in low.items()}, encode, concepts, ScaPreConfig())
    for k in weights:
        assert result.deltas[k].dtype == torch.float32 and result.deltas[k].device.type == "cpu"
        assert torch.equal(result.deltas[k], same.deltas[k])


def test_encode_contract_is_checked(problem):
    _, concepts, weights = problem
    encode = random_encode(D)
    with pytest.raises(ValueError, match=r"hidden states \["):
        unlearn(weights, lambda p: (encode(p)[0][:, :70], encode(p)[1]), concepts, ScaPreConfig())
    with pytest.raises(ConceptError, match="at most 75"):
        unlearn(weights, lambda p: (encode(p)[0], encode(p)[1] + 80), concepts, ScaPreConfig())
    with pytest.raises(ConceptError, match="no word tokens"):
        unlearn(weights, lambda p: (encode(p)[0], encode(p)[1] * 0), concepts, ScaPreConfig())
    with pytest.raises(ValueError, match="must be a float matrix"):
        unlearn({"bad": torch.zeros(4, D + 1)}, encode, concepts, ScaPreConfig())
    calls = []
    unlearn(weights, lambda p: calls.append(list(p)) or encode(p), concepts, ScaPreConfig())
    assert len(calls) == 1 and "" in calls[0] and " " in calls[0]


def test_report_names_every_concept_and_progress_is_called(problem):
    encode, concepts, weights = problem
    seen = []
    report = unlearn(weights, encode, concepts, ScaPreConfig(), progress=lambda i, n: seen.append((i, n))).report
    assert seen == [(i, 4) for i in range(1, 5)]
    text = report.to_text()
    for c in concepts.erase:
        assert c.text in text
    assert [c.concept for c in report.concepts] == [c.text for c in concepts.erase]
    assert all(c.change > 0 for c in report.concepts)
    assert set(report.preserve_changes) == set(concepts.preserve)
    assert set(report.seconds) == {"encode", "prepare", "edit"}
    assert report.mu is not None and 0 < report.mu[0] <= report.mu[1] <= report.mu[2] <= 1


_CHILD_OPTIONS = """
import json, sys, torch
sys.path[:0] = {paths!r}
from synthetic import clip_like_encode, concept_text
from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core.prior import general_prompts, second_moment
encode = clip_like_encode({d}, seed=3)
g = torch.Generator().manual_seed(0)
weights = {{f"b{{i}}.attn2.to_v.weight": torch.randn(100 + 4 * i, {d}, generator=g) / {d} ** 0.5 for i in range(3)}}
prior = second_moment(encode, general_prompts()[:20], "20")
out = {{}}
for name, config in {configs!r}.items():
    r = unlearn(weights, encode, parse_concepts(concept_text(5, True, 1), prior="general"),
                ScaPreConfig.from_json(config), prior=prior)
    assert all(v.abs().max() > 1e-4 for v in r.deltas.values()), name
    out[name] = {{k: v.numpy().tobytes().hex() for k, v in r.deltas.items()}}
print(json.dumps(out))
"""


def test_the_options_beyond_the_release_are_bit_identical_across_processes():
    """Same inputs and seed, same bits, for the prior, the null space, look-alike negatives and OCE."""
    configs = {
        "nullspace": ScaPreConfig.preset("nullspace", nullspace_energy=0.5).to_json(),
        "oce": ScaPreConfig.preset("oce", nullspace=True, nullspace_energy=0.5).to_json(),
        "large_scale": ScaPreConfig.preset("large_scale", nullspace=True, nullspace_energy=0.5,
                                           informax_negatives="preserve", seed=4).to_json(),
    }
    tests = Path(__file__).parent
    # wide enough for the + line's 77 states kept exactly and room to erase (and, for OCE, to rotate)
    code = _CHILD_OPTIONS.format(paths=[str(tests.parent), str(tests)], d=160, configs=configs)
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    assert runs[0] == runs[1] and set(runs[0]) == set(configs)
    assert all(len(v) == 3 for v in runs[0].values())
