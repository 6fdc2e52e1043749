"""The preserve prior (issue 9, item 1): the shipped list, its second moment, and its use by every recipe."""

import re

import pytest
import torch
from reference import reference_unlearn
from synthetic import concept_text, random_encode, random_layout_encode

from scapre_core import CONFIG_PRESETS, ConceptError, ScaPreConfig, parse_concepts, unlearn
from scapre_core.prior import (GENERAL_PROMPTS, PROMPT_RANK, PreservePrior, general_prompts, prompts_digest,
                                second_moment)

D = 24


def test_the_shipped_list_is_large_unique_and_people_free():
    prompts = general_prompts()
    assert len(prompts) >= 1000
    assert len({p.casefold() for p in prompts}) == len(prompts)
    assert all(0 < len(p.split()) <= 25 and p == p.strip() for p in prompts)
    sources = (GENERAL_PROMPTS.parent / "SOURCES.md").read_text()
    listed = sources.split("this list:", 1)[1].split(".", 1)[0].split()
    assert len(listed) > 50 and "woman" in listed
    people = set(listed)
    offending = [p for p in prompts if set(re.findall(r"[a-z]+", p.lower())) & people]
    assert offending == []
    assert prompts_digest(prompts) == prompts_digest(list(prompts)) != prompts_digest(prompts[:-1])


def test_second_moment_is_the_plain_sum_in_any_batch_size():
    encode = random_encode(D, seed=4)
    prompts = general_prompts()[:37]
    plain = sum(encode([p])[0][0].double().T @ encode([p])[0][0].double() for p in prompts)
    seen = []
    for batch in (1, 8, 64):
        prior = second_moment(encode, prompts, "test", batch_size=batch, progress=lambda i, n: seen.append((i, n)))
        assert prior.prompts == 37 and prior.gram.dtype == torch.float64
        assert torch.allclose(prior.gram, plain, rtol=1e-12, atol=0)
        assert torch.allclose(prior.mean(), plain / 37, rtol=1e-12, atol=0)
    assert seen[-1] == (37, 37) and (8, 37) in seen
    with pytest.raises(ValueError, match="at least one prompt"):
        second_moment(encode, [], "empty")


def test_the_real_token_statistic_leaves_the_padding_out():
    """OCE's convention (compute_Cg.py's attention mask): start, words and end token of each segment, no padding."""
    prompts = general_prompts()[:9] + ("",)
    clip = random_encode(D, seed=4)
    expected, count = 0, 0
    for p in prompts:
        hidden, n = clip([p])
        real = hidden[0, :int(n[0]) + 2].double()  # start token, n words, end token
        expected, count = expected + real.T @ real, count + real.shape[0]
    prior = second_moment(clip, prompts, "clip", batch_size=4)
    assert prior.tokens == count and torch.allclose(prior.token_gram, expected, rtol=1e-12, atol=0)
    assert torch.allclose(prior.token_mean(), expected / count, rtol=1e-12, atol=0)
    sd3 = random_layout_encode(D, "sd3", length=64, seed=4)  # a CLIP segment (start token at 0), then T5 from 77
    hidden, layout = sd3(list(prompts))
    rows = []
    for i, segments in enumerate(layout.prompts):
        clip_part, t5_part = segments
        rows += [hidden[i, t] for t in range(0, clip_part.end + 1)] + [hidden[i, t] for t in range(77, t5_part.end + 1)]
    real = torch.stack(rows).double()
    prior = second_moment(sd3, prompts, "sd3")
    assert prior.tokens == len(rows) and torch.allclose(prior.token_gram, real.T @ real, rtol=1e-10, atol=1e-10)
    assert PreservePrior(prior.gram, 3, "no tokens").token_mean() is None


def test_kept_prompts_are_their_states_top_directions():
    """F_p^T F_p is the prompt's second moment when its states have rank <= PROMPT_RANK, and its best rank-8 part
    (no larger than it) otherwise."""
    prompts = general_prompts()[:12]
    low = second_moment(random_encode(D, 5, seed=4), prompts, "rank 5", keep_prompts=True)
    assert low.prompt_factors.shape == (12, PROMPT_RANK, D) and low.prompt_names == prompts
    for F, p in zip(low.prompt_factors, prompts):
        X = random_encode(D, 5, seed=4)([p])[0][0].double()
        assert torch.allclose(F.double().T @ F.double(), X.T @ X, rtol=0, atol=1e-4 * float((X.T @ X).norm()))
    full = second_moment(random_encode(D, seed=4), prompts, "full", keep_prompts=True)
    X = random_encode(D, seed=4)([prompts[0]])[0][0].double()
    kept = full.prompt_factors[0].double().T @ full.prompt_factors[0].double()
    assert 0.2 * float(torch.trace(X.T @ X)) < float(torch.trace(kept)) < float(torch.trace(X.T @ X))
    assert second_moment(random_encode(D, seed=4), prompts, "no").prompt_factors is None


def _problem():
    encode = random_encode(D, seed=7)
    g = torch.Generator().manual_seed(1)
    weights = {f"k{i}": torch.randn(10 + 6 * i, D, generator=g) / D**0.5 for i in range(2)}
    return encode, weights


def _moved(result, weights, encode, prompts):
    """sum over keys and the prompts' 77 positions of |dW x|^2 / |W0 x|^2."""
    hidden = encode(list(prompts))[0].reshape(-1, D).double()
    moved = sum(float((result.deltas[k].double() @ hidden.T).pow(2).sum()) for k in weights)
    base = sum(float((w.double() @ hidden.T).pow(2).sum()) for k, w in weights.items())
    return (moved / base) ** 0.5


@pytest.mark.parametrize("preset", ["uce", "objects_base", "large_scale"])
def test_the_prior_keeps_general_prompts_while_erasing(preset):
    encode, weights = _problem()
    prompts = general_prompts()[:30]
    prior = second_moment(encode, prompts, "30 general prompts")
    text = concept_text(4)
    plain = unlearn(weights, encode, parse_concepts(text), ScaPreConfig.preset(preset))
    kept = unlearn(weights, encode, parse_concepts(text, prior="general"),
                   ScaPreConfig.preset(preset, prior_scale=5.0), prior=prior)
    assert _moved(kept, weights, encode, prompts) < 0.7 * _moved(plain, weights, encode, prompts)
    assert all(c.change > 0.2 for c in kept.report.concepts), kept.report.concepts
    assert kept.report.prior == "30 general prompts, weight 5" and plain.report.prior == "off"
    assert "preserve prior: 30 general prompts, weight 5" in kept.report.to_text()


@pytest.mark.parametrize("preset", ["uce", "large_scale"])
def test_plus_lines_prior_matches_the_reference(preset):
    encode, weights = _problem()
    concepts = parse_concepts(concept_text(3, anchors=True, preserve=2), prior="+ lines only")
    config = ScaPreConfig.preset(preset, prior_scale=0.8)
    expected = reference_unlearn(weights, encode, concepts, config)
    result = unlearn(weights, encode, concepts, config, dtype=torch.float64)
    for key, w in weights.items():
        new = w.double() + result.deltas[key].double()
        assert float(((new - expected[key]).norm(dim=1) / expected[key].norm(dim=1)).max()) <= 1e-5
    assert result.report.prior == "+ lines only (2 prompts), weight 0.8"


def test_the_concepts_choice_overrides_the_recipes_and_none_keeps_it():
    encode, weights = _problem()
    prior = second_moment(encode, general_prompts()[:20], "20 general prompts")
    config = ScaPreConfig.preset("uce", prior="general")
    text = concept_text(2, preserve=1)
    by_recipe = unlearn(weights, encode, parse_concepts(text), config, prior=prior)
    switched_off = unlearn(weights, encode, parse_concepts(text, prior="off"), config, prior=prior)
    assert by_recipe.report.prior.startswith("20 general prompts")
    assert switched_off.report.prior == "off"
    assert torch.equal(switched_off.deltas["k0"], unlearn(weights, encode, parse_concepts(text),
                                                          ScaPreConfig.preset("uce")).deltas["k0"])


def test_the_general_prior_is_computed_when_not_given():
    encode, weights = _problem()
    calls = []
    result = unlearn(weights, lambda p: calls.append(len(p)) or encode(p), parse_concepts("x", prior="general"),
                     ScaPreConfig.preset("uce"))
    assert sum(calls[1:]) == len(general_prompts()) == 1000
    assert result.report.prior.startswith("general (1,000 prompts, list sha256 ")
    assert "prior" in result.report.seconds


def test_bad_priors_are_refused():
    encode, weights = _problem()
    with pytest.raises(ConceptError, match="needs '\\+' lines"):
        unlearn(weights, encode, parse_concepts("x", prior="+ lines only"), ScaPreConfig())
    wrong = PreservePrior(torch.eye(D + 1, dtype=torch.float64), 3, "another encoder")
    with pytest.raises(ValueError, match="25-wide but the text encoder's outputs are 24-wide"):
        unlearn(weights, encode, parse_concepts("x", prior="general"), ScaPreConfig(), prior=wrong)
    with pytest.raises(ConceptError, match="unknown preserve prior"):
        parse_concepts("x", prior="everything")
    with pytest.raises(ValueError, match="prior must be one of"):
        ScaPreConfig(prior="on")
    with pytest.raises(ValueError, match="prior_scale"):
        ScaPreConfig(prior_scale=-1)
    with pytest.raises(ValueError, match="square second moment"):
        PreservePrior(torch.zeros(3, 4, dtype=torch.float64), 1, "bad")


def test_the_eigenpairs_are_the_second_moments_and_must_stay_its_own():
    prompts = [concept_text(i) for i in range(6)]
    prior = second_moment(random_encode(D, seed=7), prompts, "p")
    assert prior.eigen is None
    lam, Q = prior.with_eigen().eigen
    C = prior.mean()
    assert lam.dtype == torch.float64 and Q.dtype == torch.float32 and (lam[:-1] >= lam[1:]).all()
    assert torch.allclose((Q.double() * lam) @ Q.double().T, C, rtol=0, atol=1e-6 * float(C.abs().max()))
    assert torch.allclose(Q.double().T @ Q.double(), torch.eye(Q.shape[1], dtype=torch.float64), atol=1e-6)
    with pytest.raises(ValueError, match="must be those of its own second moment"):
        PreservePrior(prior.gram * 2, prior.prompts, "stale", eigen=(lam, Q))


def test_the_released_recipes_leave_the_prior_off():
    assert all(CONFIG_PRESETS[name].prior == "off" for name in
               ("large_scale", "explicit", "objects_base", "confusable", "uce", "toy_tuned_uce"))
    cs = parse_concepts("a\n+b\n", prior="general")
    assert parse_concepts(cs.to_text(), prior=cs.prior) == cs
    assert parse_concepts("c\n", base=cs).prior == "general"
