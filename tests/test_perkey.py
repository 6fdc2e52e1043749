"""The per-key fast paths (issue 17 item 3) against their plain definitions: the Informax threshold by a sorting
network and the MI by table look-up (bit for bit, ties included), the Bures step from three row products per row
(to float rounding, any number of iterations), and the weight check by its extremes. The whole pipeline's
agreement with the reference transcription is tests/test_exact.py's."""

import pytest
import torch
from synthetic import random_encode

from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core.bures import bures_prox
from scapre_core.informax import mutual_information, order_statistic, sorting_network

EPS = 1e-8


@pytest.mark.parametrize("size", range(1, 13))
def test_the_network_sorts_every_input(size):
    """By the 0-1 principle a comparator network sorts every input iff it sorts every 0-1 input."""
    network = sorting_network(size)
    for bits in range(1 << size):
        values = [(bits >> i) & 1 for i in range(size)]
        for i, j in network:
            assert i < j
            values[i], values[j] = min(values[i], values[j]), max(values[i], values[j])
        assert values == sorted(values)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_order_statistics_are_kthvalue_with_ties(dtype):
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(10, 3, 200, generator=g, dtype=dtype)
    samples[:, 0] = samples[:, 0].round()  # many ties
    samples[:, 1, :50] = 0.25  # all equal
    for k in range(1, 11):
        assert torch.equal(order_statistic(samples, k), samples.kthvalue(k, dim=0).values)


def _plain_mutual_information(acts):
    """The plug-in MI from the counts, as the released code computes it (acts [..., 2K], samples last)."""
    k = acts.shape[-1] // 2
    above = acts > acts.kthvalue(k, dim=-1, keepdim=True).values
    n11 = above[..., :k].sum(-1).double() + EPS
    n10 = above[..., k:].sum(-1).double() + EPS
    n01 = (~above[..., :k]).sum(-1).double() + EPS
    n00 = (~above[..., k:]).sum(-1).double() + EPS
    p11, p10, p01, p00 = n11 / (2 * k), n10 / (2 * k), n01 / (2 * k), n00 / (2 * k)
    p1_, p0_, p_1, p_0 = p11 + p10, p01 + p00, p11 + p01, p10 + p00
    return (p11 * torch.log(p11 / (p1_ * p_1)) + p10 * torch.log(p10 / (p1_ * p_0))
            + p01 * torch.log(p01 / (p0_ * p_1)) + p00 * torch.log(p00 / (p0_ * p_0)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mutual_information_is_the_count_formula_bit_for_bit(dtype):
    g = torch.Generator().manual_seed(1)
    acts = torch.randn(2, 7, 300, 10, generator=g, dtype=dtype)
    acts[0, :3] = acts[0, :3].round()  # ties at and around the median
    acts[1, 0, :40] = 1.5  # a constant row: nothing above its median
    acts[1, 1, :40, :5] += 10  # perfectly separated rows
    assert torch.equal(mutual_information(acts.movedim(-1, 0)), _plain_mutual_information(acts))


def _plain_bures(w0, a, mu, lam_p, iters):
    """The step as the module docstring writes it, on whole rows (float64)."""
    r_a = a.norm(dim=1, keepdim=True).clamp_min(EPS)
    r_0 = w0.norm(dim=1, keepdim=True).clamp_min(EPS)
    u_a, u_0 = a / r_a, w0 / r_0
    u = u_a
    for _ in range(max(1, iters)):
        kappa = (u * u_0).sum(dim=1, keepdim=True).clamp_min(0.0)
        r = (lam_p * r_a + mu * r_0 * kappa) / (lam_p + mu)
        direction = lam_p * r_a * u_a + mu * r_0 * kappa * u_0
        u = direction / direction.norm(dim=1, keepdim=True).clamp_min(EPS)
    return r * u


@pytest.mark.parametrize("iters", [1, 2, 5])
def test_the_bures_step_from_row_products_is_the_step(iters):
    g = torch.Generator().manual_seed(2)
    w0 = torch.randn(300, 24, generator=g, dtype=torch.float64)
    a = w0 + torch.randn(300, 24, generator=g, dtype=torch.float64)
    a[:20] = -w0[:20]  # kappa = 0
    a[20:40] = -0.3 * w0[20:40] + 0.2 * torch.randn(20, 24, generator=g, dtype=torch.float64)  # kappa = 0 at first
    a[40:60] = 0.01 * w0[40:60] + 1e-3 * torch.randn(20, 24, generator=g, dtype=torch.float64)  # erased nearly to 0
    a[60] = 0  # a zero row
    w0[61] = 0  # a zero original row
    for mu, lam_p in ((0.6, 1.1), (0.0, 0.5), (2.0, 2.01)):
        expected = _plain_bures(w0, a, mu, lam_p, iters)
        got = bures_prox(w0, a, mu, lam_p, iters)
        assert torch.allclose(got, expected, rtol=1e-12, atol=1e-14), (mu, lam_p)
        narrow = bures_prox(w0.float(), a.float(), mu, lam_p, iters).double()
        assert float(((narrow - expected).norm(dim=1) / expected.norm(dim=1).clamp_min(1e-30)).max()) <= 1e-5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_weight_with_a_non_finite_value_is_refused(bad):
    weight = torch.randn(12, 16)
    weight[7, 3] = bad
    with pytest.raises(ValueError, match="has non-finite values"):
        unlearn({"k": weight}, random_encode(16), parse_concepts("x"), ScaPreConfig.preset("uce"))
