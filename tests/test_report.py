"""What every report states beside the erased concepts and the + lines (issue 15, items 3 and 4): the collateral over
the general prompts, the prompts that moved most, its warning, and the Informax masks' saturation."""

import pytest
import torch
from synthetic import clip_like_encode, concept_text, random_encode

from scapre_core import CONFIG_PRESETS, ScaPreConfig, parse_concepts, unlearn
from scapre_core.collateral import WARN_ABOVE, WORST
from scapre_core.methods import METHODS
from scapre_core.prelude import Prelude
from scapre_core.prior import general_prompts, second_moment
from scapre_core.tokens import encode_concepts

D = 32
PROMPTS = general_prompts()[:40]


def _weights():
    g = torch.Generator().manual_seed(1)
    return {f"b{i}.attn2.to_{kind}.weight": torch.randn(12 + 8 * i, D, generator=g) / D**0.5
            for i in range(2) for kind in "kv"}


def _brute_force(deltas, weights, encode, prompts):
    """(overall, per weight, per prompt) relative output change, summed over every prompt's every position."""
    states = [encode([p])[0][0].double() for p in prompts]
    moved = {k: sum(float((deltas[k].double() @ X.T).pow(2).sum()) for X in states) for k in deltas}
    base = {k: sum(float((weights[k].double() @ X.T).pow(2).sum()) for X in states) for k in deltas}
    per_prompt = [(sum(float((deltas[k].double() @ X.T).pow(2).sum()) for k in deltas)
                   / sum(float((weights[k].double() @ X.T).pow(2).sum()) for k in deltas)) ** 0.5 for X in states]
    overall = (sum(moved.values()) / sum(base.values())) ** 0.5
    return overall, {k: (moved[k] / base[k]) ** 0.5 for k in deltas}, per_prompt


@pytest.mark.parametrize("preset", list(CONFIG_PRESETS))
def test_the_collateral_is_the_output_change_over_the_general_prompts(preset):
    """The report's figures from the prior's statistics equal the change summed prompt by prompt; the prompts the
    edit moved most are named in order (exactly: this encoder's prompts have rank 6, within the kept factors)."""
    encode = random_encode(D, 6, seed=3)
    prior = second_moment(encode, PROMPTS, "40 general prompts", keep_prompts=True)
    weights = _weights()
    concepts = parse_concepts(concept_text(3, anchors=True), prior="off")
    config = ScaPreConfig.preset(preset, nullspace_energy=0.5) if CONFIG_PRESETS[preset].nullspace \
        else ScaPreConfig.preset(preset)
    result = unlearn(weights, encode, concepts, config, prior=prior, dtype=torch.float64)
    collateral = result.report.collateral
    overall, per_weight, per_prompt = _brute_force(result.deltas, weights, encode, PROMPTS)
    assert collateral.source == "40 general prompts"
    assert collateral.overall == pytest.approx(overall, rel=1e-5) and overall > 1e-3
    assert collateral.per_weight == pytest.approx(per_weight, rel=1e-5)
    order = sorted(range(len(PROMPTS)), key=lambda i: -per_prompt[i])[:WORST]
    assert [p for p, _ in collateral.worst] == [PROMPTS[i] for i in order]
    assert [v for _, v in collateral.worst] == pytest.approx([per_prompt[i] for i in order], rel=1e-4)
    text = result.report.to_text()
    assert f"over 40 general prompts: {overall:.2%}" in text and f"'{PROMPTS[order[0]]}' " in text


@pytest.mark.parametrize("preset", ["uce", "uce_prior"])
@pytest.mark.parametrize("block", [512, 10])
def test_a_linear_edit_measures_its_collateral_from_the_weights_grams(preset, block, monkeypatch):
    """Where C fills R^d (a full-rank encoder) and the edit is one linear map of W0 (UCE, dense here), the collateral
    comes from each weight's W0^T W0: the same figures and the same most-moved prompts as the per-weight products.
    With blocks of 10 columns, G's upper block rows are 4 of uneven width (d = 32); with 512, one."""
    from scapre_core import collateral as module

    monkeypatch.setattr(module, "GRAM_BLOCK", block)
    encode = random_encode(D, None, seed=3)
    prior = second_moment(encode, PROMPTS, "40 general prompts", keep_prompts=True)
    weights, concepts = _weights(), parse_concepts(concept_text(3, anchors=True))
    routes = []
    real = module.Collateral._add_by_gram
    monkeypatch.setattr(module.Collateral, "_add_by_gram", lambda self, *a: routes.append(a[0]) or real(self, *a))
    by_gram = unlearn(weights, encode, concepts, ScaPreConfig.preset(preset), prior=prior, dtype=torch.float64)
    assert routes == list(weights)
    init = module.Collateral.__init__
    monkeypatch.setattr(module.Collateral, "__init__", lambda self, *a: init(self, *a) or setattr(self, "by_gram", False))
    by_products = unlearn(weights, encode, concepts, ScaPreConfig.preset(preset), prior=prior, dtype=torch.float64)
    assert routes == list(weights)  # the second edit took the products
    a, b = by_gram.report.collateral, by_products.report.collateral
    overall, per_weight, _ = _brute_force(by_gram.deltas, weights, encode, PROMPTS)
    # the prior's eigenvectors are kept in float32 (PreservePrior.eigen): both routes agree to their rounding
    assert a.overall == pytest.approx(overall, rel=1e-7) and b.overall == pytest.approx(overall, rel=1e-7)
    assert a.per_weight == pytest.approx(per_weight, rel=1e-7) and b.per_weight == pytest.approx(per_weight, rel=1e-7)
    assert [p for p, _ in a.worst] == [p for p, _ in b.worst]
    assert [v for _, v in a.worst] == pytest.approx([v for _, v in b.worst], rel=1e-7)


def test_the_warning_follows_the_threshold_and_a_missing_prior_is_said():
    encode = clip_like_encode(D, seed=3)
    prior = second_moment(encode, PROMPTS, "40 general prompts")
    weights = _weights()
    concepts = parse_concepts(concept_text(3))
    reports = {s: unlearn(weights, encode, concepts, ScaPreConfig.preset("uce", erase_scale=s), prior=prior).report
               for s in (1e-5, 3.0)}
    low, high = reports[1e-5], reports[3.0]
    assert low.collateral.overall < WARN_ABOVE < high.collateral.overall
    assert low.collateral.warning is None and "warning: the edit moves" not in low.to_text()
    assert f"warning: {high.collateral.warning}" in high.to_text()
    assert low.collateral.worst == []  # this prior keeps no prompt factors
    bare = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce")).report
    assert bare.collateral is None and "collateral over general prompts: not measured" in bare.to_text()


def test_the_informax_saturation_is_the_share_of_channels_at_the_top_weight():
    encode = clip_like_encode(D, seed=3)
    weights = _weights()
    concepts = parse_concepts(concept_text(4))
    config = ScaPreConfig.preset("large_scale")
    report = unlearn(weights, encode, concepts, config, dtype=torch.float64).report
    editor = METHODS["scapre"].prepare(Prelude.of(config, encode_concepts(encode, concepts), torch.float64, None,
                                                  False))
    fractions, tops, total = [], 0, 0
    for key, w in weights.items():
        masks = editor.statistics(key, w.double())[1]  # [sets, m, n]
        at_top = int(sum(int((masks[s, j] == masks[s, j].max()).sum()) for s in range(2) for j in range(4)))
        fractions.append(at_top / masks.numel())
        tops, total = tops + at_top, total + masks.numel()
    assert report.informax == pytest.approx((tops / total, min(fractions), max(fractions)))
    assert 0.5 < report.informax[0] <= 1
    assert f"Informax masks: {tops / total:.1%} of channels at the top weight" in report.to_text()
    for preset in ("uce", "explicit", "oce"):  # no masks
        assert unlearn(weights, encode, concepts, ScaPreConfig.preset(preset, prior="off")).report.informax is None
