"""Exact low-rank edits (issue 17): the rank-revealing token basis, the solver's factors against the per-row
reference transcription, and dense edits where the recipe is of full rank."""

import pytest
import torch
from reference import reference_unlearn
from synthetic import random_encode

from scapre_core import ScaPreConfig, parse_concepts, unlearn
from scapre_core import solve
from scapre_core.lowrank import Factors, as_dense
from scapre_core.nullspace import ProtectedSubspace
from scapre_core.prior import general_prompts, second_moment
from scapre_core.solve import RANK_TOLERANCE, Quadratic, RowSolver, token_basis

D, RANK = 64, 6
CONCEPTS = "golf ball\nchurch -> a building\ntall tower\n+ a dog on grass\n"


def _encode(prompts):
    """``random_encode(D, RANK)``'s states formed in float64: of rank RANK to float64 rounding (the float32 ones are of
    rank RANK only to float32 rounding, 1e-7 relative, which is RANK_TOLERANCE's order)."""
    hidden, counts = random_encode(D, None, seed=1)(prompts)
    basis = torch.randn(D, RANK, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    return (hidden.double() @ torch.linalg.qr(basis)[0]) @ torch.linalg.qr(basis)[0].T, counts


def _weights(rows: int = 14) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return {f"block{i}.attn2.{kind}.weight": torch.randn(rows, D, generator=g, dtype=torch.float64) / D**0.5
            for i in range(2) for kind in ("to_k", "to_v")}


def test_token_basis_reveals_the_rank_of_more_rows_than_dimensions():
    g = torch.Generator().manual_seed(0)
    rows = torch.randn(500, RANK, generator=g, dtype=torch.float64) @ torch.randn(RANK, D, generator=g,
                                                                                  dtype=torch.float64)
    rows[::7] += 1e-15 * torch.randn(rows[::7].shape, generator=g, dtype=torch.float64)  # far below the tolerance
    basis = token_basis(rows, RANK_TOLERANCE[torch.float64])
    assert basis.shape == (D, RANK)
    assert torch.allclose(basis.T @ basis, torch.eye(RANK, dtype=torch.float64), atol=1e-12)
    outside = rows - (rows @ basis) @ basis.T
    assert float(outside.norm(dim=1).max()) <= RANK_TOLERANCE[torch.float64] * float(rows.norm())
    assert token_basis(rows.float().double(), RANK_TOLERANCE[torch.float64]) is None  # float32 rounding is kept
    assert token_basis(rows.float().double(), RANK_TOLERANCE[torch.float32]).shape == (D, RANK)  # but not in float32


@pytest.mark.parametrize("recipe", ["uce", "objects_base", "confusable", "uce_nullspace"])
def test_factors_are_the_exact_edit(recipe):
    config = (ScaPreConfig.preset("uce", nullspace=True, nullspace_energy=0.9) if recipe == "uce_nullspace"
              else ScaPreConfig.preset(recipe))
    # null space: UCE's "" kept by energy (a + line's 77 states would fill all RANK directions)
    text = CONCEPTS.split("+")[0] if config.nullspace else CONCEPTS
    encode, concepts, weights = _encode, parse_concepts(text), _weights()
    result = unlearn(weights, encode, concepts, config, dtype=torch.float64)
    edits = result.edits
    assert all(isinstance(e, Factors) for e in edits.values())
    ranks = {e.rank for e in edits.values()}
    # the states' rank, not the 3 x 75 aligned rows (less the protected directions with the null space)
    assert (max(ranks) < RANK) if config.nullspace else (ranks == {RANK})
    assert result.report.ranks == {k: e.rank for k, e in edits.items()}
    assert f"edit rank: {min(ranks)}" in result.report.to_text()
    reference = reference_unlearn(weights, encode, concepts, config, general_prompts())
    for key, w in weights.items():  # test_exact's measure: W_new's largest relative row error
        new = w + edits[key].dense().double()
        error = ((new - reference[key]).norm(dim=1) / reference[key].norm(dim=1)).max()
        assert error <= 1e-7, (key, float(error))  # test_exact allows 1e-5


@pytest.mark.parametrize("recipe", ["uce_prior", "objects_base", "confusable"])
def test_with_the_prior_the_edit_keeps_the_rank_of_what_is_erased(recipe):
    """The preserve prior is of full rank, so the rows are solved in all of R^d; yet each row's change is rho_i^T C^-1
    with rho_i in the span of the erase tokens and concepts: the edit is kept as factors of that span's rank (RANK
    here, not D) and is the per-row reference transcription's."""
    config = ScaPreConfig.preset(recipe, prior="general")
    concepts, weights = parse_concepts(CONCEPTS), _weights()
    prompts = general_prompts()[:40]
    prior = second_moment(_encode, prompts, "first 40 general prompts", batch_size=16)
    result = unlearn(weights, _encode, concepts, config, prior=prior, dtype=torch.float64)
    assert {e.rank for e in result.edits.values() if isinstance(e, Factors)} == {RANK}
    assert all(isinstance(e, Factors) for e in result.edits.values())
    reference = reference_unlearn(weights, _encode, concepts, config, prompts)
    for key, w in weights.items():
        new = w + result.edits[key].dense().double()
        error = ((new - reference[key]).norm(dim=1) / reference[key].norm(dim=1)).max()
        assert error <= 1e-7, (key, float(error))


@pytest.mark.parametrize("recipe", ["uce", "uce_prior", "objects_base_prior"])
def test_where_the_rows_fill_the_space_the_edit_is_one_dense_map_of_w0(recipe):
    """A full-rank encoder (the 3 x 75 aligned rows span all D directions, as real CLIP states do): no row space, the
    edit is dense; where no key has its own target (UCE, with or without the prior) it is W0 times one [d, d] map
    formed in float64, equal to the per-row reference's, and in float32 within float32 rounding of it."""
    config = ScaPreConfig.preset(recipe.removesuffix("_prior"), prior="general" if "prior" in recipe else "off")
    encode, concepts, weights = random_encode(D, None, seed=1), parse_concepts(CONCEPTS), _weights()
    prompts = general_prompts()[:40]
    prior = second_moment(encode, prompts, "first 40 general prompts", batch_size=16)
    result = unlearn(weights, encode, concepts, config, prior=prior, dtype=torch.float64)
    narrow = unlearn(weights, encode, concepts, config, prior=prior, dtype=torch.float32)
    assert all(isinstance(e, torch.Tensor) for e in result.edits.values()) and result.report.ranks == {}
    reference = reference_unlearn(weights, encode, concepts, config, prompts)
    for key, w in weights.items():
        error = ((w + result.edits[key] - reference[key]).norm(dim=1) / reference[key].norm(dim=1)).max()
        assert error <= 1e-7, (key, float(error))
        rounding = ((narrow.edits[key].double() - result.edits[key]).norm() / result.edits[key].norm())
        assert rounding <= 1e-4, (key, float(rounding))


@pytest.mark.parametrize("recipe", ["uce", "uce_prior"])
def test_each_token_sets_gram_matrix_is_formed_once(recipe, monkeypatch):
    """On states that fill R^d the basis search takes the Gram route and the solve needs the same Gram matrices:
    ``solve.Grams`` forms each token set's once."""
    config = ScaPreConfig.preset(recipe)
    encode, concepts, weights = random_encode(D, None, seed=1), parse_concepts(CONCEPTS), _weights()
    prior = second_moment(encode, general_prompts()[:40], "first 40 general prompts", batch_size=16)
    formed = []
    real = solve.gram
    monkeypatch.setattr(solve, "gram", lambda rows: formed.extend([rows] if torch.is_tensor(rows) else rows)
                        or real(rows))
    unlearn(weights, encode, concepts, config, prior=prior)  # float32: its tolerance takes the search's Gram route
    assert formed and len({id(rows) for rows in formed}) == len(formed)  # no rows' Gram formed twice


def test_the_rotation_stays_dense():
    config = ScaPreConfig.preset("oce", prior="off", values_only=False)
    result = unlearn(_weights(), random_encode(D, RANK, seed=1), parse_concepts(CONCEPTS), config)
    assert all(isinstance(e, torch.Tensor) for e in result.edits.values())
    assert result.report.ranks == {}
    assert "edit rank: full, stored dense" in result.report.to_text()


def test_scapre_keeps_a_row_scale_of_w0_and_factors_that_are_the_exact_edit():
    """ScaPre's Bures step rescales W0's rows: the edit is kept as ``diag(g) W0 + up @ down`` (rank RANK) and is
    the per-row reference transcription's."""
    config = ScaPreConfig.preset("large_scale", prior="off", values_only=False)
    encode, concepts, weights = _encode, parse_concepts(CONCEPTS), _weights()
    result = unlearn(weights, encode, concepts, config, dtype=torch.float64)
    assert all(isinstance(e, Factors) and e.scale is not None for e in result.edits.values())
    assert {e.rank for e in result.edits.values()} == {RANK}
    assert result.report.row_scaled == len(weights)
    assert "edit rank: a row scale of W0 plus rank 6 in 4 of 4 weights" in result.report.to_text()
    reference = reference_unlearn(weights, encode, concepts, config, general_prompts())
    for key, w in weights.items():
        edit = result.edits[key]
        with pytest.raises(ValueError, match="pass that weight"):
            edit.dense()
        new = w + result.deltas[key].double()
        error = ((new - reference[key]).norm(dim=1) / reference[key].norm(dim=1)).max()
        assert error <= 1e-6, (key, float(error))  # test_exact allows 1e-5
        delta = reference[key] - w  # the factored norm and outputs are the dense edit's
        assert float(edit.norm(w)) == pytest.approx(float(delta.norm()), rel=1e-6)
        x = torch.randn(5, D, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
        assert torch.allclose(edit.outputs(x, w.float()).double(), delta @ x.T, rtol=0,
                              atol=1e-5 * float(delta.norm()))
        assert result.report.weight_changes[key] == pytest.approx(float(delta.norm() / w.norm()), rel=1e-5)


def test_factors_stay_dense_where_they_are_not_smaller():
    # 4 rows: rank 6 factors (6 x (4 + 64) numbers) would be larger than the 4 x 64 delta
    result = unlearn(_weights(rows=4), random_encode(D, RANK, seed=1), parse_concepts(CONCEPTS),
                     ScaPreConfig.preset("uce"))
    assert all(isinstance(e, torch.Tensor) for e in result.edits.values())


def test_deltas_are_the_factors_product_and_the_report_measures_the_same_edit():
    encode, concepts, weights = random_encode(D, RANK, seed=1), parse_concepts(CONCEPTS), _weights()
    result = unlearn(weights, encode, concepts, ScaPreConfig.preset("uce"))
    for key, edit in result.edits.items():
        assert torch.equal(result.deltas[key], edit.up @ edit.down)
        change = float(result.deltas[key].double().norm() / weights[key].norm())
        assert result.report.weight_changes[key] == pytest.approx(change, rel=1e-5)


@pytest.mark.parametrize("scale, rank", [(10.0, RANK + 1), (0.1, RANK)])
def test_token_basis_keeps_a_direction_exactly_when_a_row_reaches_past_the_tolerance(scale, rank):
    g = torch.Generator().manual_seed(2)
    rows = torch.randn(600, RANK, generator=g, dtype=torch.float64) @ torch.randn(RANK, D, generator=g,
                                                                                  dtype=torch.float64)
    tolerance = RANK_TOLERANCE[torch.float32]
    extra = torch.linalg.qr(torch.cat([rows[:RANK].T, torch.randn(D, 1, generator=g, dtype=torch.float64)], 1))[0]
    rows[300] += scale * tolerance * float(rows.norm()) * extra[:, RANK]  # one row, in the second block
    basis = token_basis(rows, tolerance)
    assert basis.shape == (D, rank)
    assert torch.allclose(basis.T @ basis, torch.eye(rank, dtype=torch.float64), atol=1e-12)
    outside = rows - (rows @ basis) @ basis.T
    assert float(outside.norm(dim=1).max()) <= tolerance * float(rows.norm())


def test_cholesky_and_eigendecomposition_give_the_same_solve():
    """The factorisation without a per-key shift (Cholesky, C^-1) against the one with (eigendecomposition, mu = 0),
    in a token basis and in all of R^d (with a full-rank prior-like term)."""
    g = torch.Generator().manual_seed(4)
    rows = torch.randn(90, D, generator=g, dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(D, 20, generator=g, dtype=torch.float64))[0]
    weight = torch.randn(12, D, generator=g, dtype=torch.float64)
    rho = torch.randn(12, D, generator=g, dtype=torch.float64)
    prior = rows[:70].T @ rows[:70] / 70
    for O, terms in ((basis, [Quadratic(2.0, rows)]), (None, [Quadratic(2.0, rows), Quadratic(0.5, matrix=prior)])):
        applied = sum(term.times(O) for term in terms)
        edits = []
        for spectral in (False, True):
            solver = RowSolver(O, applied, 0.3, None, None, spectral, torch.float64)
            edits.append(solver.solve(weight, solver.coords(rho), 0.0, None))
        assert isinstance(edits[0], torch.Tensor if O is None else Factors)  # dense where Psi is the identity
        edits = [as_dense(edit) for edit in edits]
        assert torch.allclose(edits[0], edits[1], rtol=0, atol=1e-10 * float(edits[1].norm()))
        # and both are the normal equations' solution: (lam I + J0) delta_i = P rho_i, P the projector onto O
        J0 = sum(term.times(None) for term in terms)
        P = torch.eye(D, dtype=torch.float64) if O is None else O @ O.T
        system = P @ (0.3 * torch.eye(D, dtype=torch.float64) + J0) @ P + (torch.eye(D, dtype=torch.float64) - P)
        expected = torch.linalg.solve(system, (rho @ P).T).T
        assert torch.allclose(edits[0], expected, rtol=0, atol=1e-9 * float(expected.norm()))


def test_no_d_by_d_gram_matrix_is_formed_in_a_token_basis(monkeypatch):
    """With a token basis, J0 O comes from the terms' rows: ``solve.gram`` (a d x d matrix) is never called, and the
    edit is still the reference's."""
    def refuse(tokens):
        raise AssertionError("a d x d Gram matrix was formed")

    monkeypatch.setattr(solve, "gram", refuse)
    weights, concepts = _weights(), parse_concepts(CONCEPTS)
    config = ScaPreConfig.preset("uce")
    edits = unlearn(weights, _encode, concepts, config, dtype=torch.float64).edits
    reference = reference_unlearn(weights, _encode, concepts, config, general_prompts())
    for key, w in weights.items():
        error = ((w + edits[key].dense() - reference[key]).norm(dim=1) / reference[key].norm(dim=1)).max()
        assert error <= 1e-7, (key, float(error))


def test_a_term_whose_rows_lie_in_a_token_basis_is_formed_from_it():
    """Quadratic's span: the [d, d] matrix of rows within the tolerance of span(O) is O (rows O)^T (rows O) O^T, the
    Gram matrix to that tolerance (what a full-rank prior's solve forms for the erase tokens, without the Gram)."""
    g = torch.Generator().manual_seed(2)
    rows = torch.randn(300, RANK, generator=g, dtype=torch.float64) @ torch.randn(RANK, D, generator=g,
                                                                                  dtype=torch.float64)
    O = token_basis(rows.float(), RANK_TOLERANCE[torch.float32])
    full, spanned = Quadratic(0.5, rows.float()).times(None), Quadratic(0.5, rows.float(), span=O).times(None)
    assert O.shape == (D, RANK) and spanned.dtype == torch.float64
    assert float((spanned - full).norm() / full.norm()) <= 10 * RANK_TOLERANCE[torch.float32]
    # where rows reach past the basis, the term is not theirs: the span is a promise the caller keeps
    assert float((Quadratic(0.5, rows.float(), span=O[:, 1:]).times(None) - full).norm() / full.norm()) > 1e-3


def test_the_null_space_confines_a_row_scale_of_w0_exactly():
    """``confine`` of ``diag(s) W0 + up @ down`` moves the protected part of ``diag(s) W0`` into the factors: the
    same edit as confining the dense one, and still a row scale of W0."""
    g = torch.Generator().manual_seed(6)
    w = torch.randn(14, D, generator=g, dtype=torch.float64)
    edit = Factors(torch.randn(14, 3, generator=g, dtype=torch.float64), torch.randn(3, D, generator=g,
                                                                                     dtype=torch.float64),
                   torch.rand(14, generator=g, dtype=torch.float64) - 0.5)
    U = torch.linalg.qr(torch.randn(D, 5, generator=g, dtype=torch.float64))[0]
    protected = ProtectedSubspace(U, torch.zeros(D, 0, dtype=torch.float64), 5, 1, None)
    confined = protected.confine(edit, w)
    assert torch.equal(confined.scale, edit.scale) and confined.rank == 3 + 5
    expected = protected.confine(edit.dense(w))
    assert torch.allclose(confined.dense(w), expected, rtol=0, atol=1e-12 * float(expected.norm()))
    assert float((confined.dense(w) @ U).abs().max()) <= 1e-12 * float(expected.norm())
